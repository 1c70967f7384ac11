import type { TensorInfo } from '../../backend/contract.js';
import type { PreNormBackwardResult, PreNormForwardResult } from '../../backend/mhc-v4-kernels.js';
import { ArgumentError } from '../../errors.js';
import type { CpuBackend } from '../cpu-backend.js';
import { readFloats } from '../cpu-handle.js';
import { expectSize, f32Output, readCoeff, readF32, streamsShape } from './storage.js';

/**
 * pre with the layer's weighted RMSNorm fused in (serving stacks fuse DeepSeek-V4's attn_norm /
 * ffn_norm into hc_pre):  s = Σ_i hPre[i]·x[i],  rstd = 1/sqrt(mean(s²) + eps),  y = s·rstd·weight.
 * s stays in f64 here (one rounding, at y's store): the unfused path rounds it to x's dtype first.
 */
export function preNormForward(
  cpu: CpuBackend,
  xInfo: TensorInfo,
  hPreInfo: TensorInfo,
  weightInfo: TensorInfo,
  eps: number,
): PreNormForwardResult {
  const { n: N, hc, c: C } = streamsShape(xInfo, 'x');
  expectSize(hPreInfo, 'hPre', `[..., ${hc}] with ${N} tokens`, N * hc);
  expectSize(weightInfo, 'weight', `[${C}]`, C);
  if (!(Number.isFinite(eps) && eps >= 0))
    throw new ArgumentError('eps', `expected a finite number >= 0, got ${eps}`);
  const x = readF32(xInfo, 'x');
  const h = readCoeff(hPreInfo, 'hPre');
  const w = readFloats(weightInfo);
  const out = f32Output(cpu, [...xInfo.shape.slice(0, -2), C], xInfo.dtype);
  const rOut = cpu.output([N], 'f32');
  const y = out.values;
  const s = new Float64Array(C);
  for (let n = 0; n < N; n++) {
    preSum(x, h, n, hc, C, s);
    let ss = 0;
    for (let ch = 0; ch < C; ch++) ss += s[ch]! * s[ch]!;
    const r = 1 / Math.sqrt(ss / C + eps);
    rOut.values[n] = r;
    for (let ch = 0; ch < C; ch++) y[n * C + ch] = s[ch]! * r * w[ch]!;
  }
  return { y: out.finish(), rstd: rOut.finish() };
}

function preSum(x: Float32Array, h: Float32Array, n: number, hc: number, C: number, s: Float64Array): void {
  s.fill(0);
  for (let i = 0; i < hc; i++) {
    const v = h[n * hc + i]!;
    const b = (n * hc + i) * C;
    for (let ch = 0; ch < C; ch++) s[ch] += v * x[b + ch]!;
  }
}

/**
 * With u = s·rstd (the normalised sum) and gu = gy·weight:
 *   gradWeight = Σ_n gy·u,   gs = rstd·(gu - u·mean(gu·u)),
 *   gradX[i] = hPre[i]·gs,   gradHPre[i] = Σ_ch gs·x[i].
 * rstd is recomputed from x in f64 (the saved f32 value only checks the call).
 */
export function preNormBackward(
  cpu: CpuBackend,
  gInfo: TensorInfo,
  xInfo: TensorInfo,
  hPreInfo: TensorInfo,
  weightInfo: TensorInfo,
  rstdInfo: TensorInfo,
  eps: number,
): PreNormBackwardResult {
  const { n: N, hc, c: C } = streamsShape(xInfo, 'x');
  expectSize(hPreInfo, 'hPre', `[..., ${hc}] with ${N} tokens`, N * hc);
  expectSize(weightInfo, 'weight', `[${C}]`, C);
  expectSize(gInfo, 'gradY', `[..., ${C}] with ${N} tokens`, N * C);
  expectSize(rstdInfo, 'rstd', `[${N}]`, N);
  const x = readF32(xInfo, 'x');
  const g = readF32(gInfo, 'gradY');
  const h = readCoeff(hPreInfo, 'hPre');
  const w = readFloats(weightInfo);
  const gxOut = f32Output(cpu, xInfo.shape, xInfo.dtype);
  const ghOut = cpu.output([N, hc], 'f32');
  const gw = new Float64Array(C);
  const s = new Float64Array(C);
  const gs = new Float64Array(C);
  const gx = gxOut.values;
  for (let n = 0; n < N; n++) {
    preSum(x, h, n, hc, C, s);
    let ss = 0;
    for (let ch = 0; ch < C; ch++) ss += s[ch]! * s[ch]!;
    const r = 1 / Math.sqrt(ss / C + eps);
    let dot = 0;
    for (let ch = 0; ch < C; ch++) {
      const u = s[ch]! * r;
      const gy = g[n * C + ch]!;
      gw[ch] += gy * u;
      dot += gy * w[ch]! * u;
    }
    const mean = dot / C;
    for (let ch = 0; ch < C; ch++) gs[ch] = r * (g[n * C + ch]! * w[ch]! - s[ch]! * r * mean);
    for (let i = 0; i < hc; i++) {
      const v = h[n * hc + i]!;
      const b = (n * hc + i) * C;
      let acc = 0;
      for (let ch = 0; ch < C; ch++) {
        gx[b + ch] = v * gs[ch]!;
        acc += gs[ch]! * x[b + ch]!;
      }
      ghOut.values[n * hc + i] = acc;
    }
  }
  const gwOut = cpu.output([C], 'f32');
  gwOut.values.set(gw);
  return { gradX: gxOut.finish(), gradHPre: ghOut.finish(), gradWeight: gwOut.finish() };
}
