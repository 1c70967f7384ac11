import type { TensorInfo } from '../../backend/contract.js';
import { ArgumentError, DTypeError, ShapeError } from '../../errors.js';
import type { CpuBackend } from '../cpu-backend.js';
import { checkFloat, floatsOf, rawOutput, storageOf } from './util.js';

function idsOf(ids: TensorInfo): Int32Array {
  const d = storageOf(ids, 'ids');
  if (ids.dtype !== 'i32') throw new DTypeError('ids', 'i32', ids.dtype);
  return d as Int32Array;
}

/** All ids in [0, vocab), checked before any write (an out-of-range id would read or write past a row). */
function checkIds(id: Int32Array, vocab: number): void {
  for (let t = 0; t < id.length; t++)
    if (id[t] < 0 || id[t] >= vocab)
      throw new ArgumentError('ids', `expected ids in [0, ${vocab}), got ${id[t]} at flat index ${t}`);
}

/** Rows of weight [V, D] gathered by ids (i32, any shape) -> [...ids.shape, D]; a raw row copy, exact in any dtype. */
export function embedding(cpu: CpuBackend, weight: TensorInfo, ids: TensorInfo): TensorInfo {
  checkFloat(weight, 'weight');
  const w = storageOf(weight, 'weight');
  if (weight.shape.length !== 2) throw new ShapeError('weight', '[vocab, dim]', weight.shape);
  const id = idsOf(ids);
  const [V, D] = weight.shape;
  checkIds(id, V);
  const out = rawOutput(cpu, [...ids.shape, D], weight.dtype);
  const dst = out.data;
  for (let t = 0; t < id.length; t++) dst.set(w.subarray(id[t] * D, id[t] * D + D), t * D);
  return out.finish();
}

/**
 * Scatter-add of grad [...ids.shape, D] into [vocab, D]. Tokens are added in flat token order into f64
 * accumulators, so a row hit by several tokens always sums them in the same order: deterministic
 * (GPU backends must not use unordered atomics here for the same reason).
 */
export function embeddingBackward(
  cpu: CpuBackend,
  grad: TensorInfo,
  ids: TensorInfo,
  vocab: number,
): TensorInfo {
  const g = floatsOf(grad, 'grad');
  const id = idsOf(ids);
  if (!Number.isInteger(vocab) || vocab < 0)
    throw new ArgumentError('vocab', `expected a non-negative integer, got ${vocab}`);
  const r = ids.shape.length;
  if (grad.shape.length !== r + 1 || ids.shape.some((d, i) => d !== grad.shape[i]))
    throw new ShapeError(
      'grad',
      `[${ids.shape.join(', ')}, D] (ids' shape plus the embedding dim)`,
      grad.shape,
    );
  const D = grad.shape[r];
  checkIds(id, vocab);
  const acc = new Float64Array(vocab * D);
  for (let t = 0; t < id.length; t++) {
    const w = id[t] * D;
    const s = t * D;
    for (let j = 0; j < D; j++) acc[w + j] += g[s + j];
  }
  const out = cpu.output([vocab, D], grad.dtype);
  out.values.set(acc);
  return out.finish();
}
