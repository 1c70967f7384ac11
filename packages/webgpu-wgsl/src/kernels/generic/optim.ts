import {
  type AdamWParams,
  ArgumentError,
  DTypeError,
  type SgdParams,
  ShapeError,
  sizeOf,
  type TensorInfo,
} from '@liger-mhc/core';
import type { WebGpuBackend } from '../../backend.js';
import { elementwiseGroups } from './elementwise.wgsl.js';
import { adamwKernel, sgdKernel } from './optim.wgsl.js';

/** param and grad float of one size; each state buffer f32 of that size, not param's storage. */
function optimChecks(param: TensorInfo, grad: TensorInfo, state: Record<string, TensorInfo>): number {
  for (const [name, t] of [
    ['param', param],
    ['grad', grad],
  ] as const)
    if (t.dtype === 'i32') throw new DTypeError(name, 'a float dtype (f32, f16, bf16)', t.dtype);
  const n = sizeOf(param.shape);
  if (sizeOf(grad.shape) !== n)
    throw new ShapeError('grad', `${n} elements (the size of param [${param.shape.join(', ')}])`, grad.shape);
  for (const [name, t] of Object.entries(state)) {
    if (t.dtype !== 'f32') throw new DTypeError(name, 'f32', t.dtype);
    if (sizeOf(t.shape) !== n) throw new ShapeError(name, `${n} elements (the size of param)`, t.shape);
    if (t.handle === param.handle) throw new ArgumentError(name, 'must not share storage with param');
  }
  return n;
}

/** One AdamW step in place on param, m and v (optim.wgsl.ts). */
export function adamwStep(
  b: WebGpuBackend,
  param: TensorInfo,
  grad: TensorInfo,
  m: TensorInfo,
  v: TensorInfo,
  p: AdamWParams,
): void {
  b.check({ param, grad, m, v });
  const n = optimChecks(param, grad, { m, v });
  if (m.handle === v.handle) throw new ArgumentError('v', 'must not share storage with m');
  if (!Number.isInteger(p.step) || p.step < 1)
    throw new ArgumentError('step', `expected a 1-based integer step, got ${p.step}`);
  for (const [name, beta] of [
    ['beta1', p.beta1],
    ['beta2', p.beta2],
  ] as const)
    if (!(beta >= 0 && beta < 1)) throw new ArgumentError(name, `expected a number in [0, 1), got ${beta}`);
  b.dispatch(
    adamwKernel(param.dtype, grad.dtype),
    [param, grad, m, v],
    {
      n,
      lr: p.lr,
      beta1: p.beta1,
      beta2: p.beta2,
      eps: p.eps,
      decay: 1 - p.lr * p.weightDecay,
      bc1: 1 - p.beta1 ** p.step,
      bc2: 1 - p.beta2 ** p.step,
    },
    elementwiseGroups(n, param.dtype),
  );
}

/** One SGD step in place on param and, with momentum, its buffer. */
export function sgdStep(
  b: WebGpuBackend,
  param: TensorInfo,
  grad: TensorInfo,
  momentumBuf: TensorInfo | null,
  p: SgdParams,
): void {
  b.check({ param, grad, momentumBuf });
  if (p.nesterov && p.momentum === 0) throw new ArgumentError('nesterov', 'Nesterov needs momentum > 0');
  if (p.momentum > 0 && momentumBuf === null)
    throw new ArgumentError('momentumBuf', `expected an f32 buffer when momentum = ${p.momentum}`);
  const withBuf = momentumBuf !== null && p.momentum !== 0;
  const n = optimChecks(param, grad, withBuf ? { momentumBuf: momentumBuf! } : {});
  b.dispatch(
    sgdKernel(param.dtype, grad.dtype, withBuf),
    withBuf ? [param, grad, momentumBuf!] : [param, grad],
    { n, lr: p.lr, momentum: p.momentum, weightDecay: p.weightDecay, nesterov: p.nesterov ? 1 : 0 },
    elementwiseGroups(n, param.dtype),
  );
}
