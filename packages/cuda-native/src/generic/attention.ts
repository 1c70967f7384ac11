import {
  type AttentionGrads,
  type AttentionResult,
  checkAttention,
  checkAttentionBackward,
  ShapeError,
  type TensorInfo,
} from '@liger-mhc/core';
import type { CudaBackend } from '../cuda-backend.js';
import { DTYPE_CODE } from '../native.js';

/** Largest head dim of the fused attention kernels (their per-thread register capacity). */
const ATTN_MAX_D = 256;

function attentionDims(be: CudaBackend, q: TensorInfo, k: TensorInfo, v: TensorInfo, scale: number) {
  for (const [name, t] of [
    ['q', q],
    ['k', k],
    ['v', v],
  ] as const)
    be.buf(t, name);
  const dims = checkAttention(q, k, v, scale);
  if (dims.d > ATTN_MAX_D)
    throw new ShapeError('q', `a head dim D <= ${ATTN_MAX_D} for fused attention`, q.shape);
  return dims;
}

/** Fused attention forward (native attention kernel): out and each query row's f32 log-sum-exp. */
export function attentionForward(
  be: CudaBackend,
  q: TensorInfo,
  k: TensorInfo,
  v: TensorInfo,
  causal: boolean,
  scale: number,
): AttentionResult {
  const { batch, tq, tk, d } = attentionDims(be, q, k, v, scale);
  const out = be.output(q.shape, q.dtype);
  const lse = be.output(q.shape.slice(0, -1), 'f32');
  try {
    be.launch(
      'attention',
      [be.buf(q, 'q'), be.buf(k, 'k'), be.buf(v, 'v'), be.buf(out, 'out'), be.buf(lse, 'lse')],
      { dtype: DTYPE_CODE[q.dtype], batch, tq, tk, d, causal, scale },
    );
  } catch (e) {
    be.disposeData(out.handle);
    be.disposeData(lse.handle);
    throw e;
  }
  return { out, lse };
}

/** Fused attention backward: dQ, dK and dV in the inputs' dtype (zeros without queries). */
export function attentionBackward(
  be: CudaBackend,
  grad: TensorInfo,
  q: TensorInfo,
  k: TensorInfo,
  v: TensorInfo,
  out: TensorInfo,
  lse: TensorInfo,
  causal: boolean,
  scale: number,
): AttentionGrads {
  const { batch, tq, tk, d } = attentionDims(be, q, k, v, scale);
  be.buf(grad, 'grad');
  be.buf(out, 'out');
  be.buf(lse, 'lse');
  checkAttentionBackward(grad, q, out, lse);
  // Without queries no key gets a gradient: zeros, and no kernel reads the empty buffers.
  const empty = batch * tq === 0 || d === 0;
  const gradQ = be.output(q.shape, q.dtype, empty);
  const gradK = be.output(k.shape, k.dtype, empty);
  const gradV = be.output(v.shape, v.dtype, empty);
  if (empty) return { gradQ, gradK, gradV };
  const delta = be.output([batch * tq], 'f32');
  try {
    be.launch(
      'attention_bwd',
      [
        be.buf(grad, 'grad'),
        be.buf(q, 'q'),
        be.buf(k, 'k'),
        be.buf(v, 'v'),
        be.buf(out, 'out'),
        be.buf(lse, 'lse'),
        be.buf(gradQ, 'gradQ'),
        be.buf(gradK, 'gradK'),
        be.buf(gradV, 'gradV'),
        be.buf(delta, 'delta'),
      ],
      { dtype: DTYPE_CODE[q.dtype], batch, tq, tk, d, causal, scale },
    );
  } catch (e) {
    for (const t of [gradQ, gradK, gradV]) be.disposeData(t.handle);
    throw e;
  } finally {
    be.disposeData(delta.handle);
  }
  return { gradQ, gradK, gradV };
}
