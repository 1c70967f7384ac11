import type { TensorInfo } from '../../backend/contract.js';
import type { CrossEntropyResult } from '../../backend/generic-kernels.js';
import { ArgumentError, DTypeError, ShapeError } from '../../errors.js';
import type { CpuBackend } from '../cpu-backend.js';
import type { FloatArray } from '../cpu-handle.js';
import { floatsOf, storageOf } from './util.js';

/**
 * Mean cross-entropy of logits [N, V] against labels i32 [N], rows whose label is `ignoreIndex`
 * excluded from the mean. Per row: loss = lse − logit[label] with lse = max + log Σ exp(logit − max)
 * (max-shifted so exp never overflows). The forward keeps lse per row (f32) so the backward needs no
 * second pass over the row to find it.
 *
 * When every row is ignored the loss is 0 and its gradient 0 (not 0/0 = NaN as in PyTorch): a batch
 * of pure padding then contributes nothing instead of poisoning the parameters.
 */

function checkLabels(logits: TensorInfo, labels: TensorInfo, ignoreIndex: number): Int32Array {
  if (logits.shape.length !== 2) throw new ShapeError('logits', '[N, V]', logits.shape);
  const y = storageOf(labels, 'labels');
  if (labels.dtype !== 'i32') throw new DTypeError('labels', 'i32', labels.dtype);
  const [N, V] = logits.shape;
  if (labels.shape.length !== 1 || labels.shape[0] !== N)
    throw new ShapeError('labels', `[${N}] (one label per row of logits)`, labels.shape);
  if (!Number.isInteger(ignoreIndex))
    throw new ArgumentError('ignoreIndex', `expected an integer, got ${ignoreIndex}`);
  const lab = y as Int32Array;
  for (let r = 0; r < N; r++)
    if (lab[r] !== ignoreIndex && (lab[r] < 0 || lab[r] >= V))
      throw new ArgumentError(
        'labels',
        `expected labels in [0, ${V}) or ${ignoreIndex}, got ${lab[r]} at row ${r}`,
      );
  return lab;
}

function countKept(lab: Int32Array, ignoreIndex: number): number {
  let n = 0;
  for (let r = 0; r < lab.length; r++) if (lab[r] !== ignoreIndex) n++;
  return n;
}

function rowLse(x: FloatArray, off: number, V: number): number {
  let m = Number.NEGATIVE_INFINITY;
  for (let j = 0; j < V; j++) if (x[off + j] > m) m = x[off + j];
  if (m === Number.NEGATIVE_INFINITY) return m; // an all -Inf row (or V = 0): log 0
  let s = 0;
  for (let j = 0; j < V; j++) s += Math.exp(x[off + j] - m);
  return m + Math.log(s);
}

export function crossEntropy(
  cpu: CpuBackend,
  logits: TensorInfo,
  labels: TensorInfo,
  ignoreIndex: number,
): CrossEntropyResult {
  const x = floatsOf(logits, 'logits');
  const lab = checkLabels(logits, labels, ignoreIndex);
  const [N, V] = logits.shape;
  const lseOut = cpu.output([N], 'f32');
  const lse = lseOut.values;
  let total = 0;
  for (let r = 0; r < N; r++) {
    const l = rowLse(x, r * V, V);
    lse[r] = l;
    // Use the f64 lse here (not the f32 one stored for the backward): the loss is the f64 value rounded once.
    if (lab[r] !== ignoreIndex) total += l - x[r * V + lab[r]];
  }
  const count = countKept(lab, ignoreIndex);
  const lossOut = cpu.output([], 'f32');
  lossOut.values[0] = count === 0 ? 0 : total / count;
  return { loss: lossOut.finish(), lse: lseOut.finish() };
}

/** d loss / d logits = gradLoss / count · (softmax(row) − onehot(label)); ignored rows get 0. */
export function crossEntropyBackward(
  cpu: CpuBackend,
  gradLoss: TensorInfo,
  logits: TensorInfo,
  labels: TensorInfo,
  lse: TensorInfo,
  ignoreIndex: number,
): TensorInfo {
  const gl = floatsOf(gradLoss, 'gradLoss');
  if (gradLoss.dtype !== 'f32') throw new DTypeError('gradLoss', 'f32', gradLoss.dtype);
  if (gl.length !== 1) throw new ShapeError('gradLoss', '[] (a scalar)', gradLoss.shape);
  const x = floatsOf(logits, 'logits');
  const lab = checkLabels(logits, labels, ignoreIndex);
  const [N, V] = logits.shape;
  const ls = floatsOf(lse, 'lse');
  if (lse.dtype !== 'f32') throw new DTypeError('lse', 'f32', lse.dtype);
  if (lse.shape.length !== 1 || lse.shape[0] !== N)
    throw new ShapeError('lse', `[${N}] (one per row of logits)`, lse.shape);
  const count = countKept(lab, ignoreIndex);
  const out = cpu.output([N, V], logits.dtype);
  const o = out.values;
  if (count === 0) return out.finish();
  const scale = gl[0] / count;
  for (let r = 0; r < N; r++) {
    if (lab[r] === ignoreIndex) continue; // stays 0
    const off = r * V;
    const l = ls[r];
    for (let j = 0; j < V; j++) o[off + j] = scale * Math.exp(x[off + j] - l);
    // Recomputed rather than `-= scale` on the stored value, so the label entry is rounded only once.
    const y = lab[r];
    o[off + y] = scale * (Math.exp(x[off + y] - l) - 1);
  }
  return out.finish();
}
