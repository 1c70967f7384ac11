import type { TensorInfo } from '../../backend/contract.js';
import type { Orientation, PostResBackwardResult } from '../../backend/mhc-kernels.js';
import { ArgumentError } from '../../errors.js';
import type { CpuBackend } from '../cpu-backend.js';
import { KERNEL_POST_RES_BACKWARD } from '../threads/pool.js';
import { expectSize, f32Output, readCoeff, readF32, streamsShape } from './storage.js';
import { postResBackward4 } from './streams_hc4.js';
import { copyOut, sharedF32, tokensPerChunk } from './threaded.js';

/**
 * post_res: xOut[n, o, :] = Σ_i W[o, i]·x[n, i, :] + hPost[n, o]·f[n, :], with W = hRes[n] ('liger')
 * or its transpose ('deepseek'). Both orientations share one loop: `wAt(o, i)` is the flat index of
 * W[o, i] inside the token's hc×hc block.
 */

function transposed(orientation: Orientation): boolean {
  if (orientation === 'liger') return false;
  if (orientation === 'deepseek') return true;
  throw new ArgumentError('orientation', `expected 'liger' or 'deepseek', got ${String(orientation)}`);
}

function checkArgs(x: TensorInfo, f: TensorInfo, hPost: TensorInfo, hRes: TensorInfo) {
  const dims = streamsShape(x, 'x');
  const { n, hc, c } = dims;
  expectSize(f, 'f', `[..., ${c}] with ${n} tokens`, n * c);
  expectSize(hPost, 'hPost', `[..., ${hc}] with ${n} tokens`, n * hc);
  expectSize(hRes, 'hRes', `[..., ${hc}, ${hc}] with ${n} tokens`, n * hc * hc);
  return dims;
}

export function postResForward(
  cpu: CpuBackend,
  xInfo: TensorInfo,
  fInfo: TensorInfo,
  hPostInfo: TensorInfo,
  hResInfo: TensorInfo,
  orientation: Orientation,
): TensorInfo {
  const { n: N, hc, c: C } = checkArgs(xInfo, fInfo, hPostInfo, hResInfo);
  const tr = transposed(orientation);
  const x = readF32(xInfo, 'x');
  const f = readF32(fInfo, 'f');
  const hp = readCoeff(hPostInfo, 'hPost');
  const hr = readCoeff(hResInfo, 'hRes');
  const out = f32Output(cpu, xInfo.shape, xInfo.dtype);
  const y = out.values;
  const hh = hc * hc;
  // Strides of W[o, i] within a token's block: (hc, 1) for liger, (1, hc) for the transpose.
  const so = tr ? 1 : hc;
  const si = tr ? hc : 1;
  if (hc === 4) {
    // The common case: per channel, load the four streams and f once and produce all four outputs.
    for (let n = 0; n < N; n++) {
      const w = n * hh;
      const b = n * 4 * C;
      const fb = n * C;
      const p0 = hp[n * 4];
      const p1 = hp[n * 4 + 1];
      const p2 = hp[n * 4 + 2];
      const p3 = hp[n * 4 + 3];
      // biome-ignore format: one tile row per line
      const w00 = hr[w], w01 = hr[w + si], w02 = hr[w + 2 * si], w03 = hr[w + 3 * si];
      // biome-ignore format: one tile row per line
      const w10 = hr[w + so], w11 = hr[w + so + si], w12 = hr[w + so + 2 * si], w13 = hr[w + so + 3 * si];
      // biome-ignore format: one tile row per line
      const w20 = hr[w + 2 * so], w21 = hr[w + 2 * so + si], w22 = hr[w + 2 * so + 2 * si], w23 = hr[w + 2 * so + 3 * si];
      // biome-ignore format: one tile row per line
      const w30 = hr[w + 3 * so], w31 = hr[w + 3 * so + si], w32 = hr[w + 3 * so + 2 * si], w33 = hr[w + 3 * so + 3 * si];
      for (let c = 0; c < C; c++) {
        const x0 = x[b + c];
        const x1 = x[b + C + c];
        const x2 = x[b + 2 * C + c];
        const x3 = x[b + 3 * C + c];
        const fv = f[fb + c];
        y[b + c] = w00 * x0 + w01 * x1 + w02 * x2 + w03 * x3 + p0 * fv;
        y[b + C + c] = w10 * x0 + w11 * x1 + w12 * x2 + w13 * x3 + p1 * fv;
        y[b + 2 * C + c] = w20 * x0 + w21 * x1 + w22 * x2 + w23 * x3 + p2 * fv;
        y[b + 3 * C + c] = w30 * x0 + w31 * x1 + w32 * x2 + w33 * x3 + p3 * fv;
      }
    }
    return out.finish();
  }
  const acc = new Float64Array(C);
  for (let n = 0; n < N; n++) {
    const w = n * hh;
    const b = n * hc * C;
    const fb = n * C;
    for (let o = 0; o < hc; o++) {
      const p = hp[n * hc + o];
      for (let c = 0; c < C; c++) acc[c] = p * f[fb + c];
      for (let i = 0; i < hc; i++) {
        const wv = hr[w + o * so + i * si];
        const xb = b + i * C;
        for (let c = 0; c < C; c++) acc[c] += wv * x[xb + c];
      }
      const ob = b + o * C;
      for (let c = 0; c < C; c++) y[ob + c] = acc[c];
    }
  }
  return out.finish();
}

/**
 * gradX[i] = Σ_o W[o, i]·g[o];  gradF = Σ_o hPost[o]·g[o];  gradHPost[o] = g[o]·f;
 * gradW[o, i] = g[o]·x[i], stored at W[o, i]'s place in hRes (so transposed for 'deepseek').
 */
export function postResBackward(
  cpu: CpuBackend,
  gradXOutInfo: TensorInfo,
  xInfo: TensorInfo,
  fInfo: TensorInfo,
  hPostInfo: TensorInfo,
  hResInfo: TensorInfo,
  orientation: Orientation,
  /** Added to gradX as it is written (f32, x's size), or null. */
  running: Float32Array | null = null,
): PostResBackwardResult {
  const { n: N, hc, c: C } = checkArgs(xInfo, fInfo, hPostInfo, hResInfo);
  expectSize(gradXOutInfo, 'gradXOut', `[..., ${hc}, ${C}] with ${N} tokens`, N * hc * C);
  const tr = transposed(orientation);
  const g = readF32(gradXOutInfo, 'gradXOut');
  const x = readF32(xInfo, 'x');
  const f = readF32(fInfo, 'f');
  const hp = readCoeff(hPostInfo, 'hPost');
  const hr = readCoeff(hResInfo, 'hRes');
  const gxOut = f32Output(cpu, xInfo.shape, xInfo.dtype);
  const gfOut = f32Output(cpu, fInfo.shape, fInfo.dtype);
  const ghpOut = cpu.output(hPostInfo.shape, 'f32');
  const ghrOut = cpu.output(hResInfo.shape, 'f32');
  const gx = gxOut.values;
  const gf = gfOut.values;
  const ghp = ghpOut.values as Float32Array;
  const ghr = ghrOut.values as Float32Array;
  const hh = hc * hc;
  const so = tr ? 1 : hc;
  const si = tr ? hc : 1;
  if (hc === 4) {
    const S = N * 4 * C;
    const sh = sharedF32(cpu, S, [S, S, N * C, N * 4, N * 16, S, N * C, N * 4, N * 16]);
    if (sh) {
      const v = sh.views;
      v[0]!.set(g.subarray(0, S));
      v[1]!.set(x.subarray(0, S));
      v[2]!.set(f.subarray(0, N * C));
      v[3]!.set(hp.subarray(0, N * 4));
      v[4]!.set(hr.subarray(0, N * 16));
      const R = tokensPerChunk(N, sh.pool.threads);
      sh.pool.run(KERNEL_POST_RES_BACKWARD, [...sh.ptrs, N, C, so, si, R], Math.ceil(N / R));
      copyOut(gx, v[5]!, running);
      gf.set(v[6]!);
      ghp.set(v[7]!);
      ghr.set(v[8]!);
    } else {
      postResBackward4(g, x, f, hp, hr, N, C, so, si, gx, gf, ghp, ghr);
      if (running) copyOut(gx, gx, running);
    }
    return {
      gradX: gxOut.finish(),
      gradF: gfOut.finish(),
      gradHPost: ghpOut.finish(),
      gradHRes: ghrOut.finish(),
    };
  }
  const acc = new Float64Array(C);
  for (let n = 0; n < N; n++) {
    const w = n * hh;
    const b = n * hc * C;
    const fb = n * C;
    // gradF: Σ_o hPost[o]·g[o], accumulated in f64 over the streams.
    for (let c = 0; c < C; c++) acc[c] = 0;
    for (let o = 0; o < hc; o++) {
      const p = hp[n * hc + o];
      const gb = b + o * C;
      for (let c = 0; c < C; c++) acc[c] += p * g[gb + c];
    }
    for (let c = 0; c < C; c++) gf[fb + c] = acc[c];
    // gradX, one input stream at a time.
    for (let i = 0; i < hc; i++) {
      for (let c = 0; c < C; c++) acc[c] = 0;
      for (let o = 0; o < hc; o++) {
        const wv = hr[w + o * so + i * si];
        const gb = b + o * C;
        for (let c = 0; c < C; c++) acc[c] += wv * g[gb + c];
      }
      const xb = b + i * C;
      for (let c = 0; c < C; c++) gx[xb + c] = acc[c];
    }
    // Coefficient gradients: dot products of each output stream's gradient with f and the x's.
    for (let o = 0; o < hc; o++) {
      const gb = b + o * C;
      let dp = 0;
      for (let c = 0; c < C; c++) dp += g[gb + c] * f[fb + c];
      ghp[n * hc + o] = dp;
      for (let i = 0; i < hc; i++) {
        const xb = b + i * C;
        let dot = 0;
        for (let c = 0; c < C; c++) dot += g[gb + c] * x[xb + c];
        ghr[w + o * so + i * si] = dot;
      }
    }
  }
  if (running) copyOut(gx, gx, running);
  return {
    gradX: gxOut.finish(),
    gradF: gfOut.finish(),
    gradHPost: ghpOut.finish(),
    gradHRes: ghrOut.finish(),
  };
}
