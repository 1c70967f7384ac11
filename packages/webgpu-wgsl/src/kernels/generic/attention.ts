import {
  type AttentionGrads,
  type AttentionResult,
  checkAttention,
  checkAttentionBackward,
  type DType,
  ShapeError,
  type TensorInfo,
} from '@liger-mhc/core';
import type { WebGpuBackend } from '../../backend.js';
import {
  ATTN_MAX_D,
  ATTN_WG,
  attentionBackwardKvKernel,
  attentionBackwardQKernel,
  attentionCapacity,
  attentionKernel,
} from './attention.wgsl.js';
import { rowOut } from './host-helpers.js';

/** Casts a kernel's f32 scratch result to `dtype`, freeing the scratch (the generic kernels' castFrom). */
export type CastFrom = (t: TensorInfo, dtype: DType) => TensorInfo;

function attentionDims(b: WebGpuBackend, q: TensorInfo, k: TensorInfo, v: TensorInfo, scale: number) {
  b.check({ q, k, v });
  const dims = checkAttention(q, k, v, scale);
  if (dims.d > ATTN_MAX_D)
    throw new ShapeError('q', `a head dim D <= ${ATTN_MAX_D} for fused attention`, q.shape);
  return dims;
}

/** Fused attention forward (attention.wgsl.ts): out and the f32 log-sum-exp of each query row. */
export function attentionForward(
  b: WebGpuBackend,
  castFrom: CastFrom,
  q: TensorInfo,
  k: TensorInfo,
  v: TensorInfo,
  causal: boolean,
  scale: number,
): AttentionResult {
  const { batch, tq, tk, d } = attentionDims(b, q, k, v, scale);
  const od = rowOut(q.dtype, d);
  const out = b.output(q.shape, od);
  const lse = b.output(q.shape.slice(0, -1), 'f32');
  const rows = batch * tq;
  if (rows > 0 && d > 0)
    b.dispatch(
      attentionKernel(q.dtype, od, attentionCapacity(d)),
      [q, k, v, out, lse],
      { rows, tq, tk, causal: causal ? 1 : 0, scale, D: d, batch },
      batch * Math.ceil(tq / ATTN_WG),
    );
  return { out: castFrom(out, q.dtype), lse };
}

/** Fused attention backward: dQ (with the per-row delta) then dK and dV, each in its input's dtype. */
export function attentionBackward(
  b: WebGpuBackend,
  castFrom: CastFrom,
  grad: TensorInfo,
  q: TensorInfo,
  k: TensorInfo,
  v: TensorInfo,
  out: TensorInfo,
  lse: TensorInfo,
  causal: boolean,
  scale: number,
): AttentionGrads {
  const { batch, tq, tk, d } = attentionDims(b, q, k, v, scale);
  b.check({ grad, out, lse });
  checkAttentionBackward(grad, q, out, lse);
  const od = rowOut(q.dtype, d);
  // Without queries (or with D = 0) nothing is dispatched and every gradient is zeros.
  const empty = batch * tq === 0 || d === 0;
  const mk = (shape: readonly number[]) => (empty ? b.zeros(shape, od) : b.output(shape, od));
  const dq = mk(q.shape);
  const dk = mk(k.shape);
  const dv = mk(v.shape);
  const delta = b.output([batch * tq], 'f32');
  const params = (rows: number) => ({ rows, tq, tk, causal: causal ? 1 : 0, scale, D: d, batch });
  if (!empty) {
    const cap = attentionCapacity(d);
    b.dispatch(
      attentionBackwardQKernel(q.dtype, od, cap),
      [grad, q, k, v, out, lse, dq, delta],
      params(batch * tq),
      batch * Math.ceil(tq / ATTN_WG),
    );
    b.dispatch(
      attentionBackwardKvKernel(q.dtype, od, cap),
      [grad, q, k, v, lse, delta, dk, dv],
      params(batch * tk),
      batch * Math.ceil(tk / ATTN_WG),
    );
  }
  b.disposeData(delta.handle);
  return {
    gradQ: castFrom(dq, q.dtype),
    gradK: castFrom(dk, k.dtype),
    gradV: castFrom(dv, v.dtype),
  };
}
