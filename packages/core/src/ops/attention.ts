import { checkAttention } from '../backend/attention-shape.js';
import type { Backend } from '../backend/contract.js';
import { ShapeError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { checkBoolean, checkNumber, checkOptionKeys } from '../util/options.js';
import { backendOf, needsGrad, record, wrap } from './dispatch.js';
import { scale as scaleBy } from './elementwise.js';
import { matmul } from './linalg.js';
import { softmax } from './nn-ops.js';
import { saveForBackward } from './save.js';

export interface ScaledDotProductAttentionOptions {
  /** Key j is visible to query i only when j <= i; needs Tq = Tk. Default false. */
  causal?: boolean;
  /** Multiplier of q·kᵀ; default 1/sqrt(D). */
  scale?: number;
}

/**
 * Whether `backend` has fused attention (forward and backward). The one place the choice between
 * the fused kernels and the unfused composition is made.
 */
export function hasFusedAttention(backend: Backend): boolean {
  return typeof backend.ops.attention === 'function' && typeof backend.ops.attentionBackward === 'function';
}

/**
 * softmax(scale · q·kᵀ) · v over the last two axes: q [..., Tq, D], k and v [..., Tk, D]. On a
 * backend with fused attention the Tq×Tk scores are never stored (the backward keeps only q, k, v,
 * the output and a per-row log-sum-exp); elsewhere it is the composition of matmul and softmax.
 */
export function scaledDotProductAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  options: ScaledDotProductAttentionOptions = {},
): Tensor {
  const be = backendOf({ q, k, v });
  checkOptionKeys('options', options, ['causal', 'scale']);
  const causal = checkBoolean('options.causal', options.causal ?? false);
  const d = q.shape[q.rank - 1] ?? 0;
  const s = checkNumber('options.scale', options.scale ?? 1 / Math.sqrt(d), { min: 0 });
  const { tq, tk } = checkAttention(q, k, v, s);
  if (causal && tq !== tk) throw new ShapeError('k', `Tk = ${tq} (Tq) for causal attention`, k.shape);
  if (!hasFusedAttention(be)) {
    // Scaling q (Tq·D values) is cheaper than scaling the Tq·Tk scores.
    const scores = matmul(scaleBy(q, s), k, { transB: true });
    return matmul(softmax(scores, { causal }), v);
  }
  const r = be.ops.attention!(q, k, v, causal, s);
  const out = wrap(be, r.out);
  const lse = wrap(be, r.lse);
  if (!needsGrad(q, k, v)) {
    lse.dispose();
    return out;
  }
  const sq = saveForBackward(q);
  const sk = saveForBackward(k);
  const sv = saveForBackward(v);
  const so = saveForBackward(out);
  record([out], {
    name: 'scaledDotProductAttention',
    inputs: [q, k, v],
    owned: [sq, sk, sv, so, lse],
    backward: ([g]) => {
      const gr = be.ops.attentionBackward!(g!, sq, sk, sv, so, lse, causal, s);
      return [wrap(be, gr.gradQ), wrap(be, gr.gradK), wrap(be, gr.gradV)];
    },
  });
  return out;
}
