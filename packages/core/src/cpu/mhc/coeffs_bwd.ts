import type { TensorInfo } from '../../backend/contract.js';
import type { CoeffsBackwardArgs, CoeffsBackwardResult } from '../../backend/mhc-kernels.js';
import { ArgumentError } from '../../errors.js';
import type { CpuBackend } from '../cpu-backend.js';
import { type FloatArray, readFloats } from '../cpu-handle.js';
import { KERNEL_COEFFS_TOKENS_BACKWARD, KERNEL_GRAD_PHI, KERNEL_GRAD_X } from '../threads/pool.js';
import { type Dims, dims, runChunks, THREADED_MIN_TOKENS, TOKENS_PER_CHUNK } from './coeffs_common.js';
import { coeffsTokensBackward, historyLength } from './sinkhorn.js';
import { expectSize, f32Output, readCoeff, readF32, readSavedF64, readScalar } from './storage.js';
import { copyOut } from './threaded.js';
import { type GemmKernels, gemmKernels, reserve } from './wasm/gemm.js';
import { gradPhiChunk, gradXChunk } from './wasm/gemm-chunks.js';

interface TokensBackwardOperands {
  mix: Float64Array;
  invr: Float64Array;
  b: Float32Array;
  sc: Float64Array;
  gPre: Float32Array | null;
  gPost: Float32Array | null;
  gRes: Float32Array | null;
  hist: Float64Array | null;
  g: Float64Array | null;
  factor: Float64Array | null;
  tb: Float64Array;
  ta: Float64Array;
}

/**
 * `coeffsTokensBackward` on the worker pool, as `tokensOnThreads` for the forward: inputs into the
 * shared wasm memory, chunks of tokens on every thread, g, factor and the per-token addends copied
 * back. False (nothing written) when the call stays on this thread.
 */
function tokensBackwardOnThreads(
  cpu: CpuBackend,
  w: GemmKernels,
  o: TokensBackwardOperands,
  hc: number,
  tmax: number,
  N: number,
  MP: number,
): boolean {
  if (N < THREADED_MIN_TOKENS) return false;
  const pool = cpu.pool();
  if (!pool || pool.wasmKernels !== w) return false;
  const hh = hc * hc;
  const M = hh + 2 * hc;
  const histLen = historyLength(hc, tmax);
  const sizes = [
    N * M * 8,
    N * 8,
    M * 4,
    6 * 8,
    o.gPre ? N * hc * 4 : 0,
    o.gPost ? N * hc * 4 : 0,
    o.gRes ? N * hh * 4 : 0,
    o.hist ? N * histLen * 8 : 0,
    o.g ? N * MP * 8 : 0,
    o.factor ? N * 8 : 0,
    N * M * 8,
    N * M * 8,
  ];
  const ptrs = reserve(w, sizes);
  if (!ptrs) return false;
  const buf = w.memory.buffer;
  const f64 = (i: number, len: number) => new Float64Array(buf, ptrs[i], len);
  const f32 = (i: number, len: number) => new Float32Array(buf, ptrs[i], len);
  f64(0, N * M).set(o.mix.subarray(0, N * M));
  f64(1, N).set(o.invr.subarray(0, N));
  f32(2, M).set(o.b.subarray(0, M));
  f64(3, 6).set(o.sc);
  if (o.gPre) f32(4, N * hc).set(o.gPre.subarray(0, N * hc));
  if (o.gPost) f32(5, N * hc).set(o.gPost.subarray(0, N * hc));
  if (o.gRes) f32(6, N * hh).set(o.gRes.subarray(0, N * hh));
  if (o.hist) f64(7, N * histLen).set(o.hist.subarray(0, N * histLen));
  const present = [
    true,
    true,
    true,
    true,
    !!o.gPre,
    !!o.gPost,
    !!o.gRes,
    !!o.hist,
    !!o.g,
    !!o.factor,
    true,
    true,
  ];
  const params = ptrs.map((p, i) => (present[i] ? p : -1));
  const R = Math.max(16, Math.ceil(N / (8 * pool.threads)));
  pool.run(KERNEL_COEFFS_TOKENS_BACKWARD, [...params, N, hc, tmax, MP, R], Math.ceil(N / R));
  if (o.g) o.g.set(f64(8, N * MP));
  if (o.factor) o.factor.set(f64(9, N));
  o.tb.set(f64(10, N * M));
  o.ta.set(f64(11, N * M));
  return true;
}

/**
 * gradX[n, k] = Σ_m g[n, m]·φ[k, m] + factor[n]·x[n, k], where g = dmix·invr is [N, mp] f64.
 * Two tokens and four k at a time (8 accumulators); the inner loop over m reads contiguous rows of
 * φ [K, M]. Clamped indices for an odd last token or a K not divisible by 4 recompute a value
 * already written and write the same number again.
 */
function gradXRows(
  g: Float64Array,
  factor: Float64Array,
  x: Float32Array,
  phi: Float64Array,
  d: Dims,
  out: Float32Array,
): void {
  const { n: N, k: K, m: M, mp: MP } = d;
  for (let n0 = 0; n0 < N; n0 += 2) {
    const n1 = n0 + 1 < N ? n0 + 1 : n0;
    const g0 = n0 * MP;
    const g1 = n1 * MP;
    const b0 = n0 * K;
    const b1 = n1 * K;
    const f0 = factor[n0];
    const f1 = factor[n1];
    for (let k0 = 0; k0 < K; k0 += 4) {
      const k1 = k0 + 1 < K ? k0 + 1 : K - 1;
      const k2 = k0 + 2 < K ? k0 + 2 : K - 1;
      const k3 = k0 + 3 < K ? k0 + 3 : K - 1;
      const p0 = k0 * M;
      const p1 = k1 * M;
      const p2 = k2 * M;
      const p3 = k3 * M;
      // biome-ignore format: one tile row per line
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0, c0 = 0, c1 = 0, c2 = 0, c3 = 0;
      for (let m = 0; m < M; m++) {
        const u = g[g0 + m];
        const w = g[g1 + m];
        const q0 = phi[p0 + m];
        const q1 = phi[p1 + m];
        const q2 = phi[p2 + m];
        const q3 = phi[p3 + m];
        a0 += u * q0;
        a1 += u * q1;
        a2 += u * q2;
        a3 += u * q3;
        c0 += w * q0;
        c1 += w * q1;
        c2 += w * q2;
        c3 += w * q3;
      }
      out[b0 + k0] = a0 + f0 * x[b0 + k0];
      out[b0 + k1] = a1 + f0 * x[b0 + k1];
      out[b0 + k2] = a2 + f0 * x[b0 + k2];
      out[b0 + k3] = a3 + f0 * x[b0 + k3];
      out[b1 + k0] = c0 + f1 * x[b1 + k0];
      out[b1 + k1] = c1 + f1 * x[b1 + k1];
      out[b1 + k2] = c2 + f1 * x[b1 + k2];
      out[b1 + k3] = c3 + f1 * x[b1 + k3];
    }
  }
}

/**
 * gradPhi[k, m] = Σ_n x[n, k]·g[n, m], summed over n in token order (deterministic, independent of
 * the blocking). Tiles of 2 k × 4 m keep 8 accumulators in registers while walking the tokens.
 */
function gradPhiTiles(g: Float64Array, x: Float32Array, d: Dims, out: Float32Array): void {
  const { n: N, k: K, m: M, mp: MP } = d;
  for (let k0 = 0; k0 < K; k0 += 2) {
    const dk = k0 + 1 < K ? 1 : 0;
    for (let m = 0; m < MP; m += 4) {
      // biome-ignore format: one tile row per line
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0, c0 = 0, c1 = 0, c2 = 0, c3 = 0;
      for (let n = 0, xb = k0, gb = m; n < N; n++, xb += K, gb += MP) {
        const v = x[xb];
        const w = x[xb + dk];
        const u0 = g[gb];
        const u1 = g[gb + 1];
        const u2 = g[gb + 2];
        const u3 = g[gb + 3];
        a0 += v * u0;
        a1 += v * u1;
        a2 += v * u2;
        a3 += v * u3;
        c0 += w * u0;
        c1 += w * u1;
        c2 += w * u2;
        c3 += w * u3;
      }
      const o0 = k0 * M + m;
      const o1 = (k0 + dk) * M + m;
      out[o0] = a0;
      out[o1] = c0;
      if (m + 1 < M) {
        out[o0 + 1] = a1;
        out[o1 + 1] = c1;
      }
      if (m + 2 < M) {
        out[o0 + 2] = a2;
        out[o1 + 2] = c2;
      }
      if (m + 3 < M) {
        out[o0 + 3] = a3;
        out[o1 + 3] = c3;
      }
    }
  }
}

/** Tokens per gradPhi call: the rows of x being read (64 · K f32) stay in cache across the tiles. */
const GRAD_PHI_BLOCK = 64;

/** Rows k of gradPhi per chunk (even: the kernel pairs rows). */
const GRAD_PHI_ROWS = 32;

/**
 * `gradXRows` and `gradPhiTiles` on the wasm kernels, sharing one copy of x and g in the wasm
 * memory. Bit-identical to the JS loops (same per-output summation order, no FMA). False when the
 * operands do not fit, before anything is written.
 */
function backwardWasm(
  cpu: CpuBackend,
  w: GemmKernels,
  g: Float64Array,
  x: Float32Array,
  d: Dims,
  gX: { factor: Float64Array; phi: FloatArray; out: Float32Array; running: Float32Array | null } | null,
  gPhi: Float32Array | null,
): boolean {
  const { n: N, k: K, m: M, mp: MP } = d;
  const nx = gX ? 1 : 0;
  const ptrs = reserve(w, [
    N * K * 4,
    N * MP * 8,
    nx * N * 8,
    nx * M * K * 8,
    nx * N * K * 4,
    gPhi ? K * MP * 8 : 0,
  ]);
  if (!ptrs) return false;
  const [px, pg, pf, pphi, pout, pacc] = ptrs;
  const buf = w.memory.buffer;
  new Float32Array(buf, px, N * K).set(x);
  new Float64Array(buf, pg, N * MP).set(g);
  if (gX) {
    new Float64Array(buf, pf, N).set(gX.factor);
    const phiT = new Float64Array(buf, pphi, M * K);
    const phi = gX.phi;
    for (let k = 0; k < K; k++) for (let m = 0; m < M; m++) phiT[m * K + k] = phi[k * M + m];
    const R = TOKENS_PER_CHUNK;
    const params = [pg, pphi, px, pf, pout, N, K, M, MP, R];
    runChunks(cpu, w, N * K * M, KERNEL_GRAD_X, gradXChunk, params, Math.ceil(N / R));
    copyOut(gX.out, new Float32Array(w.memory.buffer, pout, N * K), gX.running);
  }
  if (gPhi) {
    const acc = new Float64Array(buf, pacc, K * MP);
    acc.fill(0);
    const KR = GRAD_PHI_ROWS;
    const params = [px, pg, pacc, N, K, MP, KR, GRAD_PHI_BLOCK];
    runChunks(cpu, w, N * K * MP, KERNEL_GRAD_PHI, gradPhiChunk, params, Math.ceil(K / KR));
    for (let k = 0; k < K; k++) for (let m = 0; m < M; m++) gPhi[k * M + m] = acc[k * MP + m];
  }
  return true;
}

function scalarOut(cpu: CpuBackend, v: number): TensorInfo {
  const o = cpu.output([], 'f32');
  o.values[0] = v;
  return o.finish();
}

/**
 * The backward works from the saved f64 mix, not from the f32 hPre/hPost/hRes it is handed, so the
 * sigmoid and Sinkhorn derivatives do not inherit f32 rounding. Per token: sigmoid and Sinkhorn
 * backward give dLoss/dmix; then g = dmix·invr feeds gradX = g·φᵀ + factor·x and gradPhi = xᵀ·g.
 * Every sum runs in a fixed order (tokens ascending), so results are deterministic.
 */
export function coeffsBackward(
  cpu: CpuBackend,
  args: CoeffsBackwardArgs,
  /** Added to gradX as it is written (f32, x's size), or null. */
  running: Float32Array | null = null,
): CoeffsBackwardResult {
  const { config, save, needs } = args;
  const d = dims(args.x, args.phi, args.b, config);
  const { n: N, k: K, hc, m: M, mp: MP } = d;
  const { tmax, postMult, sinkhornEps: eps } = config;
  const hh = hc * hc;
  const histLen = historyLength(hc, tmax);
  const wantSaved = save === 'history' ? 3 : 2;
  if (args.saved.length !== wantSaved)
    throw new ArgumentError(
      'saved',
      `expected ${wantSaved} tensors from coeffsForward with save '${save}', got ${args.saved.length}`,
    );
  const mix = readSavedF64(args.saved[0], 'saved[0] (mix)', N * M);
  const invr = readSavedF64(args.saved[1], 'saved[1] (invr)', N);
  const hist = save === 'history' ? readSavedF64(args.saved[2], 'saved[2] (history)', N * histLen) : null;
  const b = readCoeff(args.b, 'b');
  const aPre = readScalar(args.alphaPre, 'alphaPre');
  const aPost = readScalar(args.alphaPost, 'alphaPost');
  const aRes = readScalar(args.alphaRes, 'alphaRes');
  const gPre = args.gradHPre ? readCoeff(args.gradHPre, 'gradHPre') : null;
  const gPost = args.gradHPost ? readCoeff(args.gradHPost, 'gradHPost') : null;
  const gRes = args.gradHRes ? readCoeff(args.gradHRes, 'gradHRes') : null;
  if (gPre) expectSize(args.gradHPre!, 'gradHPre', `[${N}, ${hc}]`, N * hc);
  if (gPost) expectSize(args.gradHPost!, 'gradHPost', `[${N}, ${hc}]`, N * hc);
  if (gRes) expectSize(args.gradHRes!, 'gradHRes', `[${N}, ${hc}, ${hc}]`, N * hh);

  const needMatmul = needs.x || needs.phi;
  // g = dLoss/dmix · invr, padded to mp columns (zeros) for the 4-wide tiles of gradPhi.
  const g = needMatmul ? new Float64Array(N * MP) : null;
  const factor = needs.x ? new Float64Array(N) : null;
  // Each token's addends of gradB and of the α gradients, summed below in token order.
  const tb = new Float64Array(N * M);
  const ta = new Float64Array(N * M);
  const sc = Float64Array.of(aPre, aPost, aRes, postMult, eps, K);
  const tokens = { mix, invr, b, sc, gPre, gPost, gRes, hist, g, factor, tb, ta };
  const wasm = gemmKernels();
  if (!(wasm && tokensBackwardOnThreads(cpu, wasm, tokens, hc, tmax, N, MP)))
    coeffsTokensBackward(mix, invr, b, sc, hc, tmax, 0, N, gPre, gPost, gRes, hist, g, factor, MP, tb, ta);
  const gb = new Float64Array(M);
  let gaPre = 0;
  let gaPost = 0;
  let gaRes = 0;
  for (let n = 0; n < N; n++) {
    const mo = n * M;
    for (let s = 0; s < hc; s++) {
      if (gPre) {
        gaPre += ta[mo + s];
        gb[s] += tb[mo + s];
      }
      if (gPost) {
        gaPost += ta[mo + hc + s];
        gb[hc + s] += tb[mo + hc + s];
      }
    }
    if (gRes)
      for (let j = 2 * hc; j < M; j++) {
        gaRes += ta[mo + j];
        gb[j] += tb[mo + j];
      }
  }

  // Half-stored x is widened once for both products.
  const x = needMatmul ? readF32(args.x, 'x') : null;
  const outX = needs.x && g && factor && x ? f32Output(cpu, [N, K], args.x.dtype) : null;
  const outPhi = needs.phi && g && x ? cpu.output([K, M], 'f32') : null;
  if (g && x && (outX || outPhi)) {
    const phiX = outX ? readFloats(args.phi) : null;
    const gX = outX && factor && phiX ? { factor, phi: phiX, out: outX.values, running } : null;
    const gPhi = outPhi ? (outPhi.values as Float32Array) : null;
    const wasm = gemmKernels();
    if (!(wasm && backwardWasm(cpu, wasm, g, x, d, gX, gPhi))) {
      if (gX) {
        const phi = gX.phi instanceof Float64Array ? gX.phi : Float64Array.from(gX.phi);
        gradXRows(g, gX.factor, x, phi, d, gX.out);
        if (running) copyOut(gX.out, gX.out, running);
      }
      if (gPhi) gradPhiTiles(g, x, d, gPhi);
    }
  }
  const gradX = outX ? outX.finish() : null;
  const gradPhi = outPhi ? outPhi.finish() : null;
  let gradB: TensorInfo | null = null;
  if (needs.b) {
    const out = cpu.output([M], 'f32');
    out.values.set(gb);
    gradB = out.finish();
  }
  return {
    gradX,
    gradPhi,
    gradB,
    gradAlphaPre: needs.alphas ? scalarOut(cpu, gaPre) : null,
    gradAlphaPost: needs.alphas ? scalarOut(cpu, gaPost) : null,
    gradAlphaRes: needs.alphas ? scalarOut(cpu, gaRes) : null,
  };
}
