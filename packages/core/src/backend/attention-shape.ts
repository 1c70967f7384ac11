import { ArgumentError, DTypeError, ShapeError } from '../errors.js';
import type { TensorInfo } from './contract.js';

/** The sizes of an attention call: `batch` is the product of the leading dims (batch × heads). */
export interface AttentionDims {
  batch: number;
  tq: number;
  tk: number;
  d: number;
}

const dims = (t: TensorInfo) => `[${t.shape.join(', ')}]`;

/**
 * Checks shared by every backend's attention kernels, so all of them reject the same calls with the
 * same errors: q [..., Tq, D], k and v [..., Tk, D] with equal leading dims, one float dtype, at
 * least one key when there are queries (an empty softmax has no value), D >= 1, a finite positive
 * scale.
 */
export function checkAttention(q: TensorInfo, k: TensorInfo, v: TensorInfo, scale: number): AttentionDims {
  for (const [name, t] of [
    ['q', q],
    ['k', k],
    ['v', v],
  ] as const) {
    if (t.dtype === 'i32') throw new DTypeError(name, 'a float dtype (f32, f16 or bf16)', t.dtype);
    if (t.shape.length < 2) throw new ShapeError(name, '[..., T, D] (rank >= 2)', t.shape);
  }
  if (k.dtype !== q.dtype) throw new DTypeError('k', `${q.dtype} (the dtype of q)`, k.dtype);
  if (v.dtype !== q.dtype) throw new DTypeError('v', `${q.dtype} (the dtype of q)`, v.dtype);
  const r = q.shape.length;
  const lead = q.shape.slice(0, r - 2);
  const d = q.shape[r - 1]!;
  const tq = q.shape[r - 2]!;
  if (k.shape.length !== r || k.shape.some((n, i) => (i < r - 2 ? n !== lead[i] : i === r - 1 && n !== d)))
    throw new ShapeError(
      'k',
      `[${[...lead, 'Tk', d].join(', ')}] (leading dims and D of q ${dims(q)})`,
      k.shape,
    );
  const tk = k.shape[r - 2]!;
  if (v.shape.length !== r || v.shape.some((n, i) => n !== k.shape[i]))
    throw new ShapeError('v', `${dims(k)} (the shape of k)`, v.shape);
  if (tk === 0 && tq > 0) throw new ShapeError('k', 'at least one key (Tk >= 1) when Tq >= 1', k.shape);
  if (d === 0) throw new ShapeError('q', '[..., T, D] with a head dim D >= 1', q.shape);
  if (typeof scale !== 'number' || !Number.isFinite(scale) || scale <= 0)
    throw new ArgumentError('scale', `expected a finite number > 0, got ${scale}`);
  let batch = 1;
  for (const n of lead) batch *= n;
  return { batch, tq, tk, d };
}

/** Checks of the backward's extra arguments against the forward's dims. */
export function checkAttentionBackward(
  grad: TensorInfo,
  q: TensorInfo,
  out: TensorInfo,
  lse: TensorInfo,
): void {
  if (grad.dtype !== q.dtype) throw new DTypeError('grad', `${q.dtype} (the dtype of q)`, grad.dtype);
  if (out.dtype !== q.dtype) throw new DTypeError('out', `${q.dtype} (the dtype of q)`, out.dtype);
  for (const [name, t] of [
    ['grad', grad],
    ['out', out],
  ] as const)
    if (t.shape.length !== q.shape.length || t.shape.some((n, i) => n !== q.shape[i]))
      throw new ShapeError(name, `${dims(q)} (the shape of q)`, t.shape);
  if (lse.dtype !== 'f32') throw new DTypeError('lse', 'f32', lse.dtype);
  const want = q.shape.slice(0, -1);
  if (lse.shape.length !== want.length || lse.shape.some((n, i) => n !== want[i]))
    throw new ShapeError('lse', `[${want.join(', ')}] (q's shape without D)`, lse.shape);
}
