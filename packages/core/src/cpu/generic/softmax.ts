import type { TensorInfo } from '../../backend/contract.js';
import { ShapeError } from '../../errors.js';
import type { CpuBackend } from '../cpu-backend.js';
import { readFloats } from '../cpu-handle.js';
import { checkSameDType, checkSameShape, floatsOf } from './util.js';

/**
 * Softmax over the last axis, shifted by the row max so exp never overflows. With `causal`, the last
 * two axes are [queries, keys] and key k > query q is masked: it is written as exact 0 and left out
 * of the max and the sum (rather than added as -Inf logits, so a row never becomes NaN). Key 0 is
 * never masked, so every row has at least one term. Tq need not equal Tk.
 */
export function softmax(cpu: CpuBackend, x: TensorInfo, causal: boolean): TensorInfo {
  const v = floatsOf(x, 'x');
  const rank = x.shape.length;
  if (rank < 1) throw new ShapeError('x', '[..., V] (rank >= 1)', x.shape);
  if (causal && rank < 2) throw new ShapeError('x', '[..., Tq, Tk] for a causal softmax', x.shape);
  const n = x.shape[rank - 1];
  const tq = causal ? x.shape[rank - 2] : 1;
  const out = cpu.output(x.shape, x.dtype);
  const o = out.values;
  const rows = n === 0 ? 0 : v.length / n;
  // One f64 row of exps: exp once per element, and the output rounded once (not exp, then scaled).
  const e = new Float64Array(n);
  for (let r = 0; r < rows; r++) {
    const off = r * n;
    // Keys 0..len-1 are visible to this row.
    const len = causal ? Math.min(n, (r % tq) + 1) : n;
    let m = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < len; j++) if (v[off + j] > m) m = v[off + j];
    let s = 0;
    for (let j = 0; j < len; j++) {
      const t = Math.exp(v[off + j] - m);
      e[j] = t;
      s += t;
    }
    for (let j = 0; j < len; j++) o[off + j] = e[j] / s;
    // o is zero-initialised: the masked tail stays exactly 0.
  }
  return out.finish();
}

/** dx = y ⊙ (g − Σ_j g_j·y_j) per row; masked entries have y = 0 and so get 0. */
export function softmaxBackward(cpu: CpuBackend, y: TensorInfo, grad: TensorInfo): TensorInfo {
  const yv = floatsOf(y, 'y');
  floatsOf(grad, 'grad');
  checkSameDType(grad, 'grad', y, 'y');
  checkSameShape(grad, 'grad', y, 'y');
  const rank = y.shape.length;
  if (rank < 1) throw new ShapeError('y', '[..., V] (rank >= 1)', y.shape);
  const g = readFloats(grad);
  const n = y.shape[rank - 1];
  const out = cpu.output(y.shape, y.dtype);
  const o = out.values;
  const rows = n === 0 ? 0 : yv.length / n;
  for (let r = 0; r < rows; r++) {
    const off = r * n;
    let dot = 0;
    for (let j = 0; j < n; j++) dot += g[off + j] * yv[off + j];
    for (let j = 0; j < n; j++) o[off + j] = yv[off + j] * (g[off + j] - dot);
  }
  return out.finish();
}
