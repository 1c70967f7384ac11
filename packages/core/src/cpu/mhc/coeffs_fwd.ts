import type { TensorInfo } from '../../backend/contract.js';
import type { CoeffsForwardArgs, CoeffsForwardResult } from '../../backend/mhc-kernels.js';
import type { CpuBackend } from '../cpu-backend.js';
import { type FloatArray, readFloats } from '../cpu-handle.js';
import { KERNEL_COEFFS_TOKENS, KERNEL_PROJECT } from '../threads/pool.js';
import { type Dims, dims, runChunks, THREADED_MIN_TOKENS, TOKENS_PER_CHUNK } from './coeffs_common.js';
import { coeffsTokens, historyLength } from './sinkhorn.js';
import { readCoeff, readF32, readScalar, savedF64 } from './storage.js';
import { type GemmKernels, gemmKernels, reserve } from './wasm/gemm.js';
import { projectChunk } from './wasm/gemm-chunks.js';

/**
 * mix[n, :] = (x[n, :]·φ)·invr[n] and invr[n], in one pass over each row of x. Two tokens and four
 * outputs at a time keep 8 accumulators in registers: each loaded x and φᵀ value feeds several
 * multiply-adds, which is what bounds speed in JS (no SIMD). φᵀ is f64 [mp, K] so the inner loop
 * runs over contiguous memory; an odd last token is computed twice and written once.
 *
 * This and `gradXRows` / `gradPhiTiles` are the portable path: where WebAssembly SIMD is available
 * the same sums run in wasm/gemm.wat (`projectWasm`, `backwardWasm`), bit-identical to these loops
 * (every output keeps one f64 accumulator, summed in the same order, without FMA).
 */
function project(
  x: Float32Array,
  phiT: Float64Array,
  d: Dims,
  rmsEps: number,
  mix: Float64Array,
  invr: Float64Array,
): void {
  const { n: N, k: K, m: M, mp: MP } = d;
  const acc0 = new Float64Array(MP);
  const acc1 = new Float64Array(MP);
  for (let n0 = 0; n0 < N; n0 += 2) {
    const n1 = n0 + 1 < N ? n0 + 1 : n0;
    const b0 = n0 * K;
    const b1 = n1 * K;
    let ss0 = 0;
    let ss1 = 0;
    for (let m = 0; m < MP; m += 4) {
      const p0 = m * K;
      const p1 = p0 + K;
      const p2 = p1 + K;
      const p3 = p2 + K;
      // biome-ignore format: one tile row per line
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0, c0 = 0, c1 = 0, c2 = 0, c3 = 0;
      if (m === 0) {
        // The first block also accumulates the sums of squares, so x is read once.
        for (let k = 0; k < K; k++) {
          const v = x[b0 + k];
          const w = x[b1 + k];
          const u0 = phiT[p0 + k];
          const u1 = phiT[p1 + k];
          const u2 = phiT[p2 + k];
          const u3 = phiT[p3 + k];
          ss0 += v * v;
          ss1 += w * w;
          a0 += v * u0;
          a1 += v * u1;
          a2 += v * u2;
          a3 += v * u3;
          c0 += w * u0;
          c1 += w * u1;
          c2 += w * u2;
          c3 += w * u3;
        }
      } else {
        for (let k = 0; k < K; k++) {
          const v = x[b0 + k];
          const w = x[b1 + k];
          const u0 = phiT[p0 + k];
          const u1 = phiT[p1 + k];
          const u2 = phiT[p2 + k];
          const u3 = phiT[p3 + k];
          a0 += v * u0;
          a1 += v * u1;
          a2 += v * u2;
          a3 += v * u3;
          c0 += w * u0;
          c1 += w * u1;
          c2 += w * u2;
          c3 += w * u3;
        }
      }
      acc0[m] = a0;
      acc0[m + 1] = a1;
      acc0[m + 2] = a2;
      acc0[m + 3] = a3;
      acc1[m] = c0;
      acc1[m + 1] = c1;
      acc1[m + 2] = c2;
      acc1[m + 3] = c3;
    }
    const r0 = 1 / Math.sqrt(ss0 / K + rmsEps);
    const r1 = 1 / Math.sqrt(ss1 / K + rmsEps);
    invr[n0] = r0;
    invr[n1] = r1;
    for (let m = 0; m < M; m++) {
      mix[n0 * M + m] = acc0[m] * r0;
      mix[n1 * M + m] = acc1[m] * r1;
    }
  }
}

/**
 * `project` on the wasm kernels: x and φ (as f64 [K, mp], zero-padded) are copied into the wasm
 * memory, which returns the unnormalised sums and the sums of squares; the normalisation is the
 * same JS as in `project`, so the results are bit-identical. False when the operands do not fit.
 */
function projectWasm(
  cpu: CpuBackend,
  w: GemmKernels,
  x: Float32Array,
  phi: FloatArray,
  d: Dims,
  rmsEps: number,
  mix: Float64Array,
  invr: Float64Array,
): boolean {
  const { n: N, k: K, m: M, mp: MP } = d;
  const ptrs = reserve(w, [N * K * 4, K * MP * 8, N * MP * 8, N * 8]);
  if (!ptrs) return false;
  const [px, pphi, pacc, pss] = ptrs;
  const buf = w.memory.buffer;
  new Float32Array(buf, px, N * K).set(x);
  const ph = new Float64Array(buf, pphi, K * MP);
  for (let k = 0; k < K; k++) {
    for (let m = 0; m < M; m++) ph[k * MP + m] = phi[k * M + m];
    for (let m = M; m < MP; m++) ph[k * MP + m] = 0;
  }
  const R = TOKENS_PER_CHUNK;
  runChunks(
    cpu,
    w,
    N * K * MP,
    KERNEL_PROJECT,
    projectChunk,
    [px, pphi, pacc, pss, N, K, MP, R],
    Math.ceil(N / R),
  );
  const acc = new Float64Array(buf, pacc, N * MP);
  const ss = new Float64Array(buf, pss, N);
  for (let n = 0; n < N; n++) {
    const r = 1 / Math.sqrt(ss[n] / K + rmsEps);
    invr[n] = r;
    for (let m = 0; m < M; m++) mix[n * M + m] = acc[n * MP + m] * r;
  }
  return true;
}

/**
 * `coeffsTokens` on the worker pool: mix, b and sc go into the shared wasm memory, every thread
 * takes chunks of tokens, and the results are copied out. Each token is computed by the same code
 * from the same values whichever thread takes it. False (nothing written) when the call stays here.
 */
function tokensOnThreads(
  cpu: CpuBackend,
  w: GemmKernels,
  mix: Float64Array,
  b: Float32Array,
  sc: Float64Array,
  hc: number,
  tmax: number,
  N: number,
  pre: Float32Array,
  post: Float32Array,
  res: Float32Array,
  hist: Float64Array | null,
): boolean {
  if (N < THREADED_MIN_TOKENS) return false;
  const pool = cpu.pool();
  if (!pool || pool.wasmKernels !== w) return false;
  const hh = hc * hc;
  const M = hh + 2 * hc;
  const histLen = historyLength(hc, tmax);
  const ptrs = reserve(w, [
    N * M * 8,
    M * 4,
    6 * 8,
    N * hc * 4,
    N * hc * 4,
    N * hh * 4,
    hist ? N * histLen * 8 : 0,
  ]);
  if (!ptrs) return false;
  const [pmix, pb, psc, ppre, ppost, pres, phist] = ptrs as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const buf = w.memory.buffer;
  new Float64Array(buf, pmix, N * M).set(mix.subarray(0, N * M));
  new Float32Array(buf, pb, M).set(b.subarray(0, M));
  new Float64Array(buf, psc, 6).set(sc);
  const R = Math.max(16, Math.ceil(N / (8 * pool.threads)));
  pool.run(
    KERNEL_COEFFS_TOKENS,
    [pmix, pb, psc, ppre, ppost, pres, hist ? phist : -1, N, hc, tmax, R],
    Math.ceil(N / R),
  );
  pre.set(new Float32Array(buf, ppre, N * hc));
  post.set(new Float32Array(buf, ppost, N * hc));
  res.set(new Float32Array(buf, pres, N * hh));
  if (hist) hist.set(new Float64Array(buf, phist, N * histLen));
  return true;
}

export function coeffsForward(cpu: CpuBackend, args: CoeffsForwardArgs): CoeffsForwardResult {
  const { config, save } = args;
  const d = dims(args.x, args.phi, args.b, config);
  const { n: N, k: K, hc, m: M, mp: MP } = d;
  const x = readF32(args.x, 'x');
  const phi = readFloats(args.phi);
  const b = readCoeff(args.b, 'b');
  const aPre = readScalar(args.alphaPre, 'alphaPre');
  const aPost = readScalar(args.alphaPost, 'alphaPost');
  const aRes = readScalar(args.alphaRes, 'alphaRes');
  const { tmax, preEps, postMult, sinkhornEps: eps } = config;

  const mixOut = save === 'none' ? null : savedF64(cpu, N * M);
  const invrOut = save === 'none' ? null : savedF64(cpu, N);
  const histLen = historyLength(hc, tmax);
  const histOut = save === 'history' ? savedF64(cpu, N * histLen) : null;
  const mix = mixOut ? mixOut.values : new Float64Array(N * M);
  const invr = invrOut ? invrOut.values : new Float64Array(N);
  const wasm = gemmKernels();
  if (!(wasm && projectWasm(cpu, wasm, x, phi, d, config.rmsEps, mix, invr))) {
    const phiT = new Float64Array(MP * K);
    for (let k = 0; k < K; k++) for (let m = 0; m < M; m++) phiT[m * K + k] = phi[k * M + m];
    project(x, phiT, d, config.rmsEps, mix, invr);
  }

  const hPre = cpu.output([N, hc], 'f32');
  const hPost = cpu.output([N, hc], 'f32');
  const hRes = cpu.output([N, hc, hc], 'f32');
  const pre = hPre.values as Float32Array;
  const post = hPost.values as Float32Array;
  const res = hRes.values as Float32Array;
  const hist = histOut ? histOut.values : null;
  const sc = Float64Array.of(aPre, aPost, aRes, preEps, postMult, eps);
  if (!(wasm && tokensOnThreads(cpu, wasm, mix, b, sc, hc, tmax, N, pre, post, res, hist)))
    coeffsTokens(mix, b, sc, hc, tmax, 0, N, pre, post, res, hist);

  const saved: TensorInfo[] = [];
  if (mixOut && invrOut) saved.push(mixOut.finish(), invrOut.finish());
  if (histOut) saved.push(histOut.finish());
  return { hPre: hPre.finish(), hPost: hPost.finish(), hRes: hRes.finish(), saved };
}
