import {
  type AdamWParams,
  ArgumentError,
  type SgdParams,
  ShapeError,
  sizeOf,
  type TensorInfo,
} from '@liger-mhc/core';
import type { CudaBackend } from '../cuda-backend.js';
import { DTYPE_CODE } from '../native.js';
import { expectDType, expectFloat, expectSameDType } from '../validate.js';

/** One AdamW step in place on param, m and v. */
export function adamwStep(
  be: CudaBackend,
  param: TensorInfo,
  grad: TensorInfo,
  m: TensorInfo,
  v: TensorInfo,
  p: AdamWParams,
): void {
  expectFloat(param, 'param');
  expectSameDType(param, 'param', grad, 'grad');
  expectDType(m, 'm', 'f32');
  expectDType(v, 'v', 'f32');
  const n = sizeOf(param.shape);
  for (const [nm, t] of [
    ['grad', grad],
    ['m', m],
    ['v', v],
  ] as const)
    if (sizeOf(t.shape) !== n) throw new ShapeError(nm, `${n} elements like param`, t.shape);
  if (!Number.isInteger(p.step) || p.step < 1)
    throw new ArgumentError('step', `expected an integer >= 1, got ${p.step}`);
  const bc1 = 1 - p.beta1 ** p.step;
  const bc2 = 1 - p.beta2 ** p.step;
  be.launch('adamw', [be.buf(param, 'param'), be.buf(grad, 'grad'), be.buf(m, 'm'), be.buf(v, 'v')], {
    dtype: DTYPE_CODE[param.dtype],
    n,
    lr: p.lr,
    beta1: p.beta1,
    beta2: p.beta2,
    eps: p.eps,
    weightDecay: p.weightDecay,
    biasCorrection1: bc1,
    biasCorrection2: bc2,
  });
}

/** One SGD step in place on param and, with momentum, its buffer. */
export function sgdStep(
  be: CudaBackend,
  param: TensorInfo,
  grad: TensorInfo,
  momentumBuf: TensorInfo | null,
  p: SgdParams,
): void {
  expectFloat(param, 'param');
  expectSameDType(param, 'param', grad, 'grad');
  const n = sizeOf(param.shape);
  if (sizeOf(grad.shape) !== n) throw new ShapeError('grad', `${n} elements like param`, grad.shape);
  if (momentumBuf) {
    expectDType(momentumBuf, 'momentumBuf', 'f32');
    if (sizeOf(momentumBuf.shape) !== n)
      throw new ShapeError('momentumBuf', `${n} elements like param`, momentumBuf.shape);
  }
  be.launch(
    'sgd',
    [be.buf(param, 'param'), be.buf(grad, 'grad'), momentumBuf ? be.buf(momentumBuf, 'momentumBuf') : null],
    {
      dtype: DTYPE_CODE[param.dtype],
      n,
      lr: p.lr,
      momentum: p.momentum,
      weightDecay: p.weightDecay,
      nesterov: p.nesterov,
    },
  );
}
