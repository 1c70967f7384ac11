import type { TensorInfo } from '../../backend/contract.js';
import type { AdamWParams, SgdParams } from '../../backend/generic-kernels.js';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, type StorageArray } from '../../dtype.js';
import { ArgumentError, DTypeError, ShapeError } from '../../errors.js';
import { readFloats } from '../cpu-handle.js';
import { checkFinite, checkFloat, storageOf } from './util.js';

/**
 * Optimizer steps, in place on the parameter's own storage. The math is f64 per element; the
 * parameter is rounded once per step to its dtype (f32, or f16/bf16 bits), and the f32 state
 * (AdamW's m and v, SGD's momentum) is rounded to f32 *before* it is used in the update, so a step
 * depends only on what is stored: saving and restoring the state reproduces training exactly.
 * Half-precision parameters are rounded to nearest even; updates far below one ulp are lost, as in
 * any pure-bf16 training without stochastic rounding or an f32 master copy.
 */

function checkState(t: TensorInfo, arg: string, n: number, param: TensorInfo): Float32Array {
  const d = storageOf(t, arg);
  if (t.dtype !== 'f32') throw new DTypeError(arg, 'f32', t.dtype);
  if (d.length !== n) throw new ShapeError(arg, `${n} elements (the size of param)`, t.shape);
  if (t.handle === param.handle) throw new ArgumentError(arg, 'must not share storage with param');
  return d as Float32Array;
}

function checkParamAndGrad(param: TensorInfo, grad: TensorInfo): { P: StorageArray; n: number } {
  checkFloat(param, 'param');
  checkFloat(grad, 'grad');
  const P = storageOf(param, 'param');
  if (storageOf(grad, 'grad').length !== P.length)
    throw new ShapeError(
      'grad',
      `${P.length} elements (the size of param [${param.shape.join(', ')}])`,
      grad.shape,
    );
  return { P, n: P.length };
}

/** Decode/encode of one element of half storage (f32 storage is handled without these). */
function halfCodec(dtype: string): [(bits: number) => number, (v: number) => number] {
  return dtype === 'bf16' ? [bf16ToF32, f32ToBf16] : [f16ToF32, f32ToF16];
}

/**
 * AdamW (Loshchilov & Hutter): decoupled weight decay, then the bias-corrected Adam update:
 *   p ← p·(1 − lr·wd)
 *   m ← β1·m + (1−β1)·g,   v ← β2·v + (1−β2)·g²
 *   p ← p − lr · (m / (1−β1^t)) / (sqrt(v / (1−β2^t)) + eps)
 */
export function adamwStep(
  param: TensorInfo,
  grad: TensorInfo,
  m: TensorInfo,
  v: TensorInfo,
  p: AdamWParams,
): void {
  const { P, n } = checkParamAndGrad(param, grad);
  const M = checkState(m, 'm', n, param);
  const V = checkState(v, 'v', n, param);
  if (m.handle === v.handle) throw new ArgumentError('v', 'must not share storage with m');
  checkFinite(p.lr, 'lr', 0);
  checkFinite(p.eps, 'eps', 0);
  checkFinite(p.weightDecay, 'weightDecay', 0);
  for (const [name, b] of [
    ['beta1', p.beta1],
    ['beta2', p.beta2],
  ] as const)
    if (!(b >= 0 && b < 1)) throw new ArgumentError(name, `expected a number in [0, 1), got ${b}`);
  if (!Number.isInteger(p.step) || p.step < 1)
    throw new ArgumentError('step', `expected a 1-based integer step, got ${p.step}`);
  const G = readFloats(grad);
  const { lr, beta1, beta2, eps } = p;
  const decay = 1 - lr * p.weightDecay;
  const bc1 = 1 - beta1 ** p.step;
  const bc2 = 1 - beta2 ** p.step;
  const update = (w: number, i: number): number => {
    const g = G[i];
    const mi = Math.fround(beta1 * M[i] + (1 - beta1) * g);
    const vi = Math.fround(beta2 * V[i] + (1 - beta2) * g * g);
    M[i] = mi;
    V[i] = vi;
    return w * decay - (lr * (mi / bc1)) / (Math.sqrt(vi / bc2) + eps);
  };
  if (param.dtype === 'f32') {
    const W = P as Float32Array;
    for (let i = 0; i < n; i++) W[i] = update(W[i], i);
  } else {
    const [dec, enc] = halfCodec(param.dtype);
    for (let i = 0; i < n; i++) P[i] = enc(update(dec(P[i]), i));
  }
}

/**
 * SGD with L2 weight decay (added to the gradient), momentum and Nesterov, as PyTorch's SGD with
 * dampening 0:
 *   g ← g + wd·p;   buf ← μ·buf + g;   d = nesterov ? g + μ·buf : buf;   p ← p − lr·d
 * A zero-initialised buffer makes the first step buf = g, PyTorch's first-step rule.
 */
export function sgdStep(
  param: TensorInfo,
  grad: TensorInfo,
  momentumBuf: TensorInfo | null,
  p: SgdParams,
): void {
  const { P, n } = checkParamAndGrad(param, grad);
  checkFinite(p.lr, 'lr', 0);
  checkFinite(p.momentum, 'momentum', 0);
  checkFinite(p.weightDecay, 'weightDecay', 0);
  if (p.nesterov && p.momentum === 0) throw new ArgumentError('nesterov', 'Nesterov needs momentum > 0');
  if (p.momentum > 0 && momentumBuf === null)
    throw new ArgumentError(
      'momentumBuf',
      `expected an f32 buffer of ${n} elements when momentum = ${p.momentum}`,
    );
  const B = momentumBuf === null ? null : checkState(momentumBuf, 'momentumBuf', n, param);
  const G = readFloats(grad);
  const { lr, momentum: mu, weightDecay: wd, nesterov } = p;
  const update = (w: number, i: number): number => {
    const g = G[i] + wd * w;
    if (B === null || mu === 0) return w - lr * g;
    const b = Math.fround(mu * B[i] + g);
    B[i] = b;
    return w - lr * (nesterov ? g + mu * b : b);
  };
  if (param.dtype === 'f32') {
    const W = P as Float32Array;
    for (let i = 0; i < n; i++) W[i] = update(W[i], i);
  } else {
    const [dec, enc] = halfCodec(param.dtype);
    for (let i = 0; i < n; i++) P[i] = enc(update(dec(P[i]), i));
  }
}
