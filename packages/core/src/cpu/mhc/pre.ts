import type { TensorInfo } from '../../backend/contract.js';
import type { PreBackwardResult } from '../../backend/mhc-kernels.js';
import type { CpuBackend } from '../cpu-backend.js';
import { KERNEL_PRE_BACKWARD } from '../threads/pool.js';
import { expectSize, f32Output, readCoeff, readF32, streamsShape } from './storage.js';
import { preBackward4 } from './streams_hc4.js';
import { copyOut, sharedF32, tokensPerChunk } from './threaded.js';

/**
 * pre: xIn[n, :] = Σ_s hPre[n, s]·x[n, s, :]. x is [..., hc, c]; xIn is [..., c].
 * Loops run over channels (contiguous) with the hc weights held in locals; the sums stay in f64
 * until the single rounding at the store.
 */
export function preForward(cpu: CpuBackend, xInfo: TensorInfo, hPreInfo: TensorInfo): TensorInfo {
  const { n: N, hc, c: C } = streamsShape(xInfo, 'x');
  expectSize(hPreInfo, 'hPre', `[..., ${hc}] with ${N} tokens`, N * hc);
  const x = readF32(xInfo, 'x');
  const h = readCoeff(hPreInfo, 'hPre');
  const out = f32Output(cpu, [...xInfo.shape.slice(0, -2), C], xInfo.dtype);
  const y = out.values;
  if (hc === 4) {
    // The common case: all four streams in one pass, no scratch.
    for (let n = 0; n < N; n++) {
      const b = n * 4 * C;
      const h0 = h[n * 4];
      const h1 = h[n * 4 + 1];
      const h2 = h[n * 4 + 2];
      const h3 = h[n * 4 + 3];
      const o = n * C;
      for (let c = 0; c < C; c++)
        y[o + c] = h0 * x[b + c] + h1 * x[b + C + c] + h2 * x[b + 2 * C + c] + h3 * x[b + 3 * C + c];
    }
  } else {
    const acc = new Float64Array(C);
    for (let n = 0; n < N; n++) {
      const b = n * hc * C;
      acc.fill(0);
      for (let s = 0; s < hc; s++) {
        const w = h[n * hc + s];
        const xs = b + s * C;
        for (let c = 0; c < C; c++) acc[c] += w * x[xs + c];
      }
      const o = n * C;
      for (let c = 0; c < C; c++) y[o + c] = acc[c];
    }
  }
  return out.finish();
}

/** gradX[n, s, :] = hPre[n, s]·gradXIn[n, :];  gradHPre[n, s] = x[n, s, :]·gradXIn[n, :]. */
export function preBackward(
  cpu: CpuBackend,
  gradXInInfo: TensorInfo,
  xInfo: TensorInfo,
  hPreInfo: TensorInfo,
  /** Added to gradX as it is written (f32, x's size), or null. */
  running: Float32Array | null = null,
): PreBackwardResult {
  const { n: N, hc, c: C } = streamsShape(xInfo, 'x');
  expectSize(hPreInfo, 'hPre', `[..., ${hc}] with ${N} tokens`, N * hc);
  expectSize(gradXInInfo, 'gradXIn', `[..., ${C}] with ${N} tokens`, N * C);
  const x = readF32(xInfo, 'x');
  const gIn = readF32(gradXInInfo, 'gradXIn');
  const h = readCoeff(hPreInfo, 'hPre');
  const gx = f32Output(cpu, xInfo.shape, xInfo.dtype);
  const gh = cpu.output(hPreInfo.shape, 'f32');
  const gxv = gx.values;
  const ghv = gh.values as Float32Array;
  if (hc === 4) {
    const sh = sharedF32(cpu, N * 4 * C, [N * 4 * C, N * C, N * 4, N * 4 * C, N * 4]);
    if (sh) {
      const [vx, vg, vh, vgx, vgh] = sh.views as [
        Float32Array,
        Float32Array,
        Float32Array,
        Float32Array,
        Float32Array,
      ];
      vx.set(x.subarray(0, N * 4 * C));
      vg.set(gIn.subarray(0, N * C));
      vh.set(h.subarray(0, N * 4));
      const R = tokensPerChunk(N, sh.pool.threads);
      sh.pool.run(KERNEL_PRE_BACKWARD, [...sh.ptrs, N, C, R], Math.ceil(N / R));
      copyOut(gxv, vgx, running);
      ghv.set(vgh);
      return { gradX: gx.finish(), gradHPre: gh.finish() };
    }
    preBackward4(x, gIn, h, N, C, gxv, ghv);
    if (running) copyOut(gxv, gxv, running);
    return { gradX: gx.finish(), gradHPre: gh.finish() };
  }
  for (let n = 0; n < N; n++) {
    const gb = n * C;
    for (let s = 0; s < hc; s++) {
      const w = h[n * hc + s];
      const xs = (n * hc + s) * C;
      let dot = 0;
      for (let c = 0; c < C; c++) {
        const gv = gIn[gb + c];
        gxv[xs + c] = w * gv;
        dot += x[xs + c] * gv;
      }
      ghv[n * hc + s] = dot;
    }
  }
  if (running) copyOut(gxv, gxv, running);
  return { gradX: gx.finish(), gradHPre: gh.finish() };
}
