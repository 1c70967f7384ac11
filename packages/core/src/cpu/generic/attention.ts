import { checkAttention, checkAttentionBackward } from '../../backend/attention-shape.js';
import type { TensorInfo } from '../../backend/contract.js';
import type { AttentionGrads, AttentionResult } from '../../backend/generic-kernels.js';
import type { CpuBackend } from '../cpu-backend.js';
import { floatsOf } from './util.js';

/**
 * Fused scaled dot-product attention, the reference for the GPU kernels. One query row at a time:
 * its scores live in an f64 scratch of Tk values (never a Tq×Tk matrix), the softmax is exact (max
 * shift, f64 sums), and the output is rounded once. Causal rows see keys 0..i (top-left aligned).
 */
export function attention(
  cpu: CpuBackend,
  q: TensorInfo,
  k: TensorInfo,
  v: TensorInfo,
  causal: boolean,
  scale: number,
): AttentionResult {
  const Q = floatsOf(q, 'q');
  const K = floatsOf(k, 'k');
  const V = floatsOf(v, 'v');
  const { batch, tq, tk, d } = checkAttention(q, k, v, scale);
  const out = cpu.output(q.shape, q.dtype);
  const lse = cpu.output(q.shape.slice(0, -1), 'f32');
  const o = out.values;
  const s = new Float64Array(tk);
  const acc = new Float64Array(d);
  for (let b = 0; b < batch; b++) {
    const kb = b * tk * d;
    for (let i = 0; i < tq; i++) {
      const qi = (b * tq + i) * d;
      const len = causal ? Math.min(tk, i + 1) : tk;
      let m = Number.NEGATIVE_INFINITY;
      for (let j = 0; j < len; j++) {
        let dot = 0;
        const kj = kb + j * d;
        for (let c = 0; c < d; c++) dot += Q[qi + c] * K[kj + c];
        s[j] = dot * scale;
        if (s[j] > m) m = s[j];
      }
      let l = 0;
      acc.fill(0);
      for (let j = 0; j < len; j++) {
        const e = Math.exp(s[j] - m);
        l += e;
        const vj = kb + j * d;
        for (let c = 0; c < d; c++) acc[c] += e * V[vj + c];
      }
      for (let c = 0; c < d; c++) o[qi + c] = acc[c] / l;
      lse.values[b * tq + i] = m + Math.log(l);
    }
  }
  return { out: out.finish(), lse: lse.finish() };
}

/**
 * The backward, FlashAttention-style: per query row, P = softmax(scores) is recomputed (here
 * exactly in f64 rather than from the f32 lse, which the reference can afford), dP = dO·vᵀ,
 * dS = P ⊙ (dP − Σ P⊙dP), then dq = scale·dS·k, dk += scale·dSᵀ·q, dv += Pᵀ·dO in f64.
 */
export function attentionBackward(
  cpu: CpuBackend,
  grad: TensorInfo,
  q: TensorInfo,
  k: TensorInfo,
  v: TensorInfo,
  out: TensorInfo,
  lse: TensorInfo,
  causal: boolean,
  scale: number,
): AttentionGrads {
  const Q = floatsOf(q, 'q');
  const K = floatsOf(k, 'k');
  const V = floatsOf(v, 'v');
  const G = floatsOf(grad, 'grad');
  floatsOf(out, 'out');
  const { batch, tq, tk, d } = checkAttention(q, k, v, scale);
  checkAttentionBackward(grad, q, out, lse);
  floatsOf(lse, 'lse');
  const gq = cpu.output(q.shape, q.dtype);
  const gk = cpu.output(k.shape, k.dtype);
  const gv = cpu.output(v.shape, v.dtype);
  const p = new Float64Array(tk);
  const dp = new Float64Array(tk);
  const dk = new Float64Array(tk * d);
  const dv = new Float64Array(tk * d);
  const dq = new Float64Array(d);
  for (let b = 0; b < batch; b++) {
    const kb = b * tk * d;
    dk.fill(0);
    dv.fill(0);
    for (let i = 0; i < tq; i++) {
      const qi = (b * tq + i) * d;
      const len = causal ? Math.min(tk, i + 1) : tk;
      let m = Number.NEGATIVE_INFINITY;
      for (let j = 0; j < len; j++) {
        let dot = 0;
        let dpj = 0;
        const kj = kb + j * d;
        for (let c = 0; c < d; c++) {
          dot += Q[qi + c] * K[kj + c];
          dpj += G[qi + c] * V[kj + c];
        }
        p[j] = dot * scale;
        dp[j] = dpj;
        if (p[j] > m) m = p[j];
      }
      let l = 0;
      for (let j = 0; j < len; j++) {
        p[j] = Math.exp(p[j] - m);
        l += p[j];
      }
      let rowDot = 0;
      for (let j = 0; j < len; j++) {
        p[j] /= l;
        rowDot += p[j] * dp[j];
      }
      dq.fill(0);
      for (let j = 0; j < len; j++) {
        const ds = p[j] * (dp[j] - rowDot) * scale;
        const kj = kb + j * d;
        const o = j * d;
        for (let c = 0; c < d; c++) {
          dq[c] += ds * K[kj + c];
          dk[o + c] += ds * Q[qi + c];
          dv[o + c] += p[j] * G[qi + c];
        }
      }
      for (let c = 0; c < d; c++) gq.values[qi + c] = dq[c];
    }
    for (let x = 0; x < tk * d; x++) {
      gk.values[kb + x] = dk[x];
      gv.values[kb + x] = dv[x];
    }
  }
  return { gradQ: gq.finish(), gradK: gk.finish(), gradV: gv.finish() };
}
