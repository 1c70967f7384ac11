import type { TensorInfo } from '../../backend/contract.js';
import type { RmsNormResult } from '../../backend/generic-kernels.js';
import { DTypeError, ShapeError } from '../../errors.js';
import type { CpuBackend } from '../cpu-backend.js';
import { checkFinite, checkSameDType, checkSameShape, floatsOf } from './util.js';

/**
 * RMSNorm over the last axis: y = x · invr · weight, invr = 1/sqrt(mean(x²) + eps) per row.
 * weight may be stored in another float dtype than x (an f32 scale over bf16 activations); y takes
 * x's dtype, invr is f32 of shape [rows] (rows = all leading dims flattened).
 */

function checkWeight(x: TensorInfo, weight: TensorInfo): number {
  const rank = x.shape.length;
  if (rank < 1) throw new ShapeError('x', '[..., D] (rank >= 1)', x.shape);
  const D = x.shape[rank - 1];
  if (weight.shape.length !== 1 || weight.shape[0] !== D)
    throw new ShapeError('weight', `[${D}] (the last dim of x)`, weight.shape);
  return D;
}

export function rmsNorm(cpu: CpuBackend, x: TensorInfo, weight: TensorInfo, eps: number): RmsNormResult {
  const v = floatsOf(x, 'x');
  const w = floatsOf(weight, 'weight');
  const D = checkWeight(x, weight);
  checkFinite(eps, 'eps', 0);
  const rows = D === 0 ? 0 : v.length / D;
  const yOut = cpu.output(x.shape, x.dtype);
  const iOut = cpu.output([rows], 'f32');
  const y = yOut.values;
  const inv = iOut.values;
  for (let r = 0; r < rows; r++) {
    const off = r * D;
    let ss = 0;
    for (let j = 0; j < D; j++) ss += v[off + j] * v[off + j];
    const ir = 1 / Math.sqrt(ss / D + eps);
    inv[r] = ir;
    for (let j = 0; j < D; j++) y[off + j] = v[off + j] * ir * w[j];
  }
  return { y: yOut.finish(), invr: iOut.finish() };
}

/**
 * With gw = g ⊙ weight and invr as saved:
 *   gradX      = invr · gw − x · invr³ · mean(gw ⊙ x)      (the second term is d invr / d x)
 *   gradWeight = Σ_rows g ⊙ x · invr                       (rows in order, f64 accumulators)
 * gradX takes x's dtype, gradWeight the weight's.
 */
export function rmsNormBackward(
  cpu: CpuBackend,
  grad: TensorInfo,
  x: TensorInfo,
  weight: TensorInfo,
  invr: TensorInfo,
): { gradX: TensorInfo; gradWeight: TensorInfo } {
  const v = floatsOf(x, 'x');
  const g = floatsOf(grad, 'grad');
  checkSameDType(grad, 'grad', x, 'x');
  checkSameShape(grad, 'grad', x, 'x');
  const w = floatsOf(weight, 'weight');
  const D = checkWeight(x, weight);
  const ir = floatsOf(invr, 'invr');
  const rows = D === 0 ? 0 : v.length / D;
  if (invr.dtype !== 'f32') throw new DTypeError('invr', 'f32', invr.dtype);
  if (invr.shape.length !== 1 || invr.shape[0] !== rows)
    throw new ShapeError('invr', `[${rows}] (one per row of x)`, invr.shape);
  const gxOut = cpu.output(x.shape, x.dtype);
  const gx = gxOut.values;
  const gwAcc = new Float64Array(D);
  for (let r = 0; r < rows; r++) {
    const off = r * D;
    const s = ir[r];
    let dot = 0;
    for (let j = 0; j < D; j++) dot += g[off + j] * w[j] * v[off + j];
    const c = (s * s * s * dot) / D;
    for (let j = 0; j < D; j++) {
      gx[off + j] = s * g[off + j] * w[j] - v[off + j] * c;
      gwAcc[j] += g[off + j] * v[off + j] * s;
    }
  }
  const gwOut = cpu.output([D], weight.dtype);
  gwOut.values.set(gwAcc);
  return { gradX: gxOut.finish(), gradWeight: gwOut.finish() };
}
