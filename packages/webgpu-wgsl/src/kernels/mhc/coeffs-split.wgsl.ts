import type { DType } from '@liger-mhc/core';
import type { KernelDef } from '../../backend.js';
import { ENTRY_ARGS, isHalf, LINEAR_WG } from '../wgsl-lib.js';
import { COEFFS_FWD_OUT, coeffsShape, tokenEpilogue } from './coeffs.wgsl.js';
import { PHI_PACK_PARAMS, SPLIT_MAIN_PARAMS, SPLIT_REDUCE_PARAMS } from './coeffs-params.js';
import { halves8, pack8, U } from './common.js';
import { preSum8 } from './pre.wgsl.js';

/**
 * coeffs forward as a register-tiled, K-split f32 kernel: the same math, outputs and saved tensors as
 * coeffsForwardKernel (coeffs.wgsl.ts), so the backward does not know which path ran.
 *
 * Why: x·φ at hc = 4 is 24 FMAs per element of x (plus one for Σx²), so the forward is bound by the
 * instructions it issues per element, not by reading x. coeffsForwardKernel loads every φ value for
 * each pair of x elements and walks all of K in one workgroup of 64 threads per 4 tokens. Here:
 *  - A thread owns T = 8 tokens (4 below SPLIT_SMALL_N tokens) × 8 consecutive elements of K per
 *    step (one 16-byte load of x per token) and half the columns (OG = 2 column groups): T·M/2
 *    accumulators as vec4s, so each φ vec4 it loads feeds 4·T FMAs and each x value 12.
 *  - KG = 8 neighbouring threads share a token and take the 8 consecutive 16-byte pieces of a
 *    128-byte stretch of its row.
 *  - φ is repacked per call (coeffsPhiPackKernel, 6 KB per 64 rows of K at hc = 4) so that what the
 *    KG threads load for one (k, column quad) is 128 contiguous bytes, read by every subgroup of
 *    the workgroup at about the same time (L1 hits).
 *  - A workgroup of 128 threads holds 64 tokens and one of S chunks of K; S is chosen from the shape
 *    (coeffsSplit) so the grid has a few hundred workgroups. Each writes its partial x·φ and Σx²
 *    (summed over the KG lanes in lane order through workgroup memory), and coeffsSplitReduceKernel
 *    adds the S partials of a token in chunk order and runs the token epilogue.
 * Measured on an H200 at 8192×4×4096 (bench/results/webgpu-mhc-h200-2026-11-27-split.md): prefetching
 * x, 8-byte pieces, converting x per element, staging φ in workgroup memory, 4 tokens a thread and
 * 256-thread workgroups were each slower; the FMA order (per column quad, all elements of the step)
 * was faster. With 2 workgroups of 4 subgroups an SM (the accumulators take most registers) the
 * kernel runs at about 2/3 of the issue rate its instruction count allows.
 * Determinism: every sum has a fixed order (k within a thread, then lanes, then chunks); no atomics.
 * Bounds: tokens past N read row N-1 and are never written; with K not a multiple of the step the
 * last step's missing pieces load as zeros (φ is zero there too). K must be a multiple of 8 (whole
 * 16-byte pieces; coeffsSplitBlocker).
 */

/** Calls with fewer tokens take 4 tokens a thread (more token tiles); see mhc-kernels.ts. */
export const SPLIT_SMALL_N = 4096;
/** From this K (= hc·c), 16 threads share a token along K instead of 8; see mhc-kernels.ts. */
export const SPLIT_KG16_K = 8192;

/** Options of the split kernel; mhc-kernels.ts (splitOptions) picks them per call. */
export interface SplitOptions {
  /** Tokens per thread. */
  tokens?: 4 | 5 | 6 | 7 | 8;
  /** Threads per token along K (KG): each loads 16 bytes (8 halves) of the token's row per step, so
   * a step reads 16·KG contiguous bytes of each row (and covers 8·KG elements of K). */
  kg?: 4 | 8 | 16 | 32;
  /** Column groups: 2 splits the columns between two threads of a token (so each holds T·M/2
   * accumulators and every φ value it loads feeds T FMAs per column). */
  groups?: 1 | 2;
  /** Threads per workgroup (64: finer steps of occupancy when registers limit it). */
  wg?: 64 | 128 | 256;
  /** Workgroups the K split aims for (at least; fewer when K has too few steps). */
  targetGroups?: number;
  /** Touch loads: each step also loads one word of each of its tokens' pieces `prefetch` steps ahead
   * (0: none), so that step's loads find the line in cache. One register a token, not a piece. */
  prefetch?: 0 | 1 | 2;
  /**
   * How the KG threads of a token add their partial sums: through workgroup memory (passes with
   * barriers) or with subgroup shuffles (a butterfly, no barriers; needs subgroups whose lanes are
   * consecutive local invocations, at least KG of them: WebGpuBackend.subgroupLanes). A request for
   * 'subgroup' on a device whose subgroups cannot hold KG lanes runs the workgroup reduction.
   */
  reduce?: 'workgroup' | 'subgroup';
  /**
   * Token order of the fused pre: 'desc' (default) walks tokens from the last down. The main kernel
   * reads x in ascending tiles and post_res in ascending tokens, so descending here starts where
   * the main kernel's last reads may still sit in L2, and ends where post_res starts.
   */
  preOrder?: 'asc' | 'desc';
  /** Tile order of the main kernel ('asc' default; 'desc' starts from the last tokens). */
  tileOrder?: 'asc' | 'desc';
  /** 16-byte pieces of xIn per thread of the fused pre (coeffsSplitReduceKernel); default
   * SPLIT_PRE_PIECES. */
  prePieces?: 1 | 2 | 4 | 8;
  /** Σx² split between the two column groups: group og holds its tokens rotated by og·T/2, so each
   * thread squares only the first T/2 of its slots (uniform code, half the Σx² FMAs). */
  ssSplit?: boolean;
}

/** Why a call cannot take the split kernel (null: it can). */
export function coeffsSplitBlocker(hc: number, xd: DType, K: number): string | null {
  const { M } = coeffsShape(hc);
  if (!isHalf(xd)) return 'x is not bf16/f16';
  if (M > 24) return 'more than 24 coefficients (hc > 4)';
  if (K % 8 !== 0) return 'K is not a multiple of 8';
  return null;
}

/** The thread layout of a call: column groups OG of MQs column quads, token lanes TL, tile tokens. */
export function splitLayout(hc: number, o: SplitOptions = {}) {
  const MQ = Math.ceil(coeffsShape(hc).M / 4);
  const OG = MQ >= 2 ? (o.groups ?? 2) : 1;
  const MQs = Math.ceil(MQ / OG);
  const T = o.tokens ?? 8;
  const WG = o.wg ?? 128;
  const KG = o.kg ?? 8;
  const STEP = 8 * KG;
  const TL = WG / (KG * OG);
  // φ vec4s per step: 8 elements of K per thread × OG groups × MQs quads × KG threads.
  const SV = 8 * OG * MQs * KG;
  return { MQ, OG, MQs, T, WG, KG, STEP, TL, tileTokens: TL * T, SV };
}

/** Vec4s after the packed φ that hold b and the alphas (M+3 floats; see coeffsPhiPackKernel). */
const coefVec4s = (hc: number): number => Math.ceil((coeffsShape(hc).M + 3) / 4);

/**
 * The grid of a call: token tiles × K chunks. The chunk count depends on the shape only, so the
 * summation order (and the bits) of a shape never change. `packed`: vec4s of packed φ;
 * `packedLen`: of the whole buffer the pack kernel writes (φ, then the coefficients).
 */
export function coeffsSplit(N: number, K: number, hc: number, o: SplitOptions = {}) {
  const { tileTokens, SV, STEP } = splitLayout(hc, o);
  const tiles = Math.ceil(N / tileTokens);
  const steps = Math.ceil(K / STEP);
  const want = Math.max(1, Math.ceil((o.targetGroups ?? 256) / tiles));
  const stepsPerChunk = Math.ceil(steps / Math.min(steps, want));
  const chunks = Math.ceil(steps / stepsPerChunk);
  const packed = steps * SV;
  return { tiles, steps, stepsPerChunk, chunks, packed, packedLen: packed + coefVec4s(hc) };
}

/**
 * φ [K, M] (any dtype) → f32 vec4s in the order the split kernel reads them:
 *   index (((step·8 + j)·OG + og)·MQs + q)·KG + g  holds  φ[k, 4c..4c+3]
 * with k = step·8·KG + g·8 + j and column quad c = og·MQs + q; zero where k ≥ K or past M.
 * After them (from vec4 `packed`) the reduce kernel's coefficients: b, alphaPre, alphaPost,
 * alphaRes as f32 [M+3], so the call needs no buffer copies (each would end the compute pass).
 * One thread per vec4. Params: PHI_PACK_PARAMS (packed: the φ part's vec4s).
 */
export function coeffsPhiPackKernel(
  hc: number,
  pd: DType,
  o: SplitOptions = {},
): KernelDef<typeof PHI_PACK_PARAMS.schema> {
  const { M } = coeffsShape(hc);
  const { OG, MQs, KG, STEP } = splitLayout(hc, o);
  const CQ = coefVec4s(hc);
  return {
    params: PHI_PACK_PARAMS,
    key: `coeffs_phi_pack:${hc}:${pd}:${OG}:${KG}`,
    bufs: [
      { name: 'phi', dtype: pd, access: 'read' },
      { name: 'b', dtype: 'f32', access: 'read' },
      { name: 'ap', dtype: 'f32', access: 'read' },
      { name: 'aq', dtype: 'f32', access: 'read' },
      { name: 'ar', dtype: 'f32', access: 'read' },
      { name: 'pp', dtype: 'f32', access: 'rw', wgsl: 'vec4<f32>' },
    ],
    body: `
@compute @workgroup_size(256)
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  let e = wg_lin * 256u + lid;
  let packed = params.packed;
  if (e >= packed) {
    if (e < packed + ${CQ}u) {
      var v = vec4<f32>(0.0);
      ${U(
        4,
        (i) => `{ let m = (e - packed) * 4u + ${i}u;
        if (m < ${M}u) { v[${i}] = b[m]; } else if (m == ${M}u) { v[${i}] = ap[0]; }
        else if (m == ${M + 1}u) { v[${i}] = aq[0]; } else if (m == ${M + 2}u) { v[${i}] = ar[0]; } }`,
        '\n      ',
      )}
      pp[e] = v;
    }
    return;
  }
  let K = params.K;
  let g = e % ${KG}u;
  let r = e / ${KG}u;
  let c = (r / ${MQs}u % ${OG}u) * ${MQs}u + r % ${MQs}u;
  let r3 = r / ${MQs * OG}u;
  let k = (r3 / 8u) * ${STEP}u + g * 8u + r3 % 8u;
  var v = vec4<f32>(0.0);
  if (k < K) {
    ${U(4, (i) => `if (c * 4u + ${i}u < ${M}u) { v[${i}] = ld_phi(k * ${M}u + c * 4u + ${i}u); }`, '\n    ')}
  }
  pp[e] = v;
}
`,
  };
}

/**
 * The split forward: partial x·φ and Σx² of one token tile over one K chunk.
 * Thread layout (lid): g = lid % KG (its 16-byte piece of each step), og = lid / KG % OG (its
 * column group), tl = lid / (KG·OG) (its token lane; its tokens are tile0 + t·TL + tl, t < T).
 * Bindings: x (as vec4<u32>: 8 halves), pp (packed φ), part [chunks][M+1][N].
 * Params: SPLIT_MAIN_PARAMS.
 */
export function coeffsForwardSplitKernel(
  hc: number,
  xd: DType,
  K: number,
  o: SplitOptions = {},
): KernelDef<typeof SPLIT_MAIN_PARAMS.schema> {
  const { M } = coeffsShape(hc);
  const { OG, MQs, T, WG, KG, STEP, TL, SV } = splitLayout(hc, o);
  const PF = o.prefetch ?? 0;
  // Σx² split between the column groups (see SplitOptions.ssSplit): SQ slots are squared.
  const ssSplit = !!o.ssSplit && OG === 2;
  const SQ = ssSplit ? T / 2 : T;
  // Whole steps: no piece of a step can fall past the end of a row.
  const whole = K % STEP === 0;
  const NS = Math.ceil(SQ / 4);
  // The vec4s reduced across the KG threads: T·MQs accumulators, then Σx² (4 slots a vec4).
  const V = T * MQs + NS;
  // Workgroup memory per reduction pass: P vec4s per thread (16 KB: WebGPU's default limit), and
  // at most KG, since a pass sums its (WG/KG)·P vec4s with one thread each.
  const P = Math.min(V, Math.floor(16384 / (WG * 16)), KG);
  const passes = Math.ceil(V / P);
  // Piece kv of token t's row (tokens past N read row N-1; `last` keeps the index in x).
  const xAt = (t: number, kv: string) => `x[min(row${t} * RV + ${kv}, last)]`;
  const load = (t: number) => (whole ? xAt(t, 'kv') : `select(vec4<u32>(0u), ${xAt(t, 'kv')}, kv < RV)`);
  // Token index (0..T-1 within the tile) of slot t: rotated by og·T/2 with ssSplit.
  const slotTok = (t: string) => (ssSplit ? `((${t} + og * ${T / 2}u) % ${T}u)` : t);
  const ssv = (t: number) => `ss${t >> 2}[${t & 3}]`;
  const h = (t: number, j: number) => `h${t}[${j}]`;
  // One step: x of the T tokens converted to f32 (all 8 elements first), Σx², then per column quad
  // the 8 elements' FMAs (this order measured fastest).
  const stepBody = () => {
    const lines: string[] = [];
    lines.push(U(T, (t) => `let w${t} = ${load(t)};`, '\n    '));
    if (PF > 0) lines.push(U(T, (t) => `let tv${t} = ${xAt(t, `kv + ${PF * KG}u`)}.x;`, '\n    '));
    lines.push(`kv += ${KG}u;`);
    lines.push(U(T, (t) => `let h${t} = array<f32, 8>(${halves8(xd, `w${t}`).join(', ')});`, '\n    '));
    for (let j = 0; j < 8; j++)
      lines.push(U(SQ, (t) => `${ssv(t)} = fma(${h(t, j)}, ${h(t, j)}, ${ssv(t)});`, ' '));
    for (let q = 0; q < MQs; q++)
      for (let j = 0; j < 8; j++) {
        const src = `pp[pb + ${(j * OG * MQs + q) * KG}u]`;
        lines.push(
          `{ let p = ${src}; ${U(T, (t) => `a${t}_${q} = fma(vec4<f32>(${h(t, j)}), p, a${t}_${q});`, ' ')} }`,
        );
      }
    // The touches are consumed last, so the step's work hides their latency.
    if (PF > 0) lines.push(`sink ^= ${U(T, (t) => `tv${t}`, ' ^ ')};`);
    return lines.join('\n    ');
  };
  // Reduction: vec4 v of the list is a<t>_<q> (v = t·MQs + q) or ss<i> (v = T·MQs + i).
  const vname = (v: number) => (v < T * MQs ? `a${Math.floor(v / MQs)}_${v % MQs}` : `ss${v - T * MQs}`);
  // WGSL: store `val`, component c of vec4 v of the (og, tl) threads' summed list, into part:
  // column (og·MQs + v % MQs)·4 + c of slot v / MQs's token, or the Σx² of slot (v - T·MQs)·4 + c.
  const storeSum = (v: string, c: string, val: string) => `if (${v} < ${T * MQs}u) {
      let tok = tile0 + ${slotTok(`(${v} / ${MQs}u)`)} * ${TL}u + tl;
      let m = (og * ${MQs}u + ${v} % ${MQs}u) * 4u + ${c};
      if (m < ${M}u && tok < N) { part[(chunk * ${M + 1}u + m) * N + tok] = ${val}; }
    } else if (${v} < ${V}u && ${ssSplit ? 'true' : 'og == 0u'}) {
      let slot = (${v} - ${T * MQs}u) * 4u + ${c};
      let tok = tile0 + ${slotTok('slot')} * ${TL}u + tl;
      if (slot < ${SQ}u && tok < N) { part[(chunk * ${M + 1}u + ${M}u) * N + tok] = ${val}; }
    }`;
  const reduce = Array.from({ length: passes }, (_, pass) => {
    const n = Math.min(P, V - pass * P);
    return `
  ${U(n, (i) => `red[lid * ${P}u + ${i}u] = ${vname(pass * P + i)};`)}
  workgroupBarrier();
  if (lid < ${(WG / KG) * n}u) {
    // Pair pr = og + OG·tl: the KG threads lid = pr·KG + g hold its partials.
    let pr = lid / ${n}u;
    let i = lid % ${n}u;
    let og = pr % ${OG}u;
    let tl = pr / ${OG}u;
    var s = vec4<f32>(0.0);
    for (var g = 0u; g < ${KG}u; g++) { s += red[(pr * ${KG}u + g) * ${P}u + i]; }
    let v = ${pass * P}u + i;
    ${U(4, (c) => `{ ${storeSum('v', `${c}u`, `s[${c}]`)} }`, '\n    ')}
  }
  workgroupBarrier();`;
  }).join('');
  // The subgroup reduction: a butterfly over the KG lanes of a token (lanes g ^ 1, g ^ 2, ...). At
  // level l each lane keeps the half of its list picked by bit l of g and adds its partner's copy of
  // that half, so after log2(KG) levels lane g holds the full sums of FP/KG consecutive floats of
  // the flattened accumulators, starting at base(g) = Σ_l bit_l(g)·FP/2^(l+1). Each sum is a fixed
  // tree over the lanes: deterministic.
  const sgReduce = () => {
    const F = 4 * V;
    const FP = Math.ceil(F / KG) * KG;
    const flat = Array.from({ length: FP }, (_, f) => (f < F ? `${vname(f >> 2)}[${f & 3}]` : '0.0'));
    const lines: string[] = [];
    let cur = flat;
    let n = FP;
    for (let l = 0, m = 1; m < KG; l++, m *= 2) {
      const h = n / 2;
      lines.push(`let b${l} = ((g >> ${l}u) & 1u) == 1u;`);
      const next: string[] = [];
      for (let i = 0; i < h; i++) {
        lines.push(
          `let r${l}_${i} = select(${cur[i]}, ${cur[i + h]}, b${l}) + subgroupShuffleXor(select(${cur[i + h]}, ${cur[i]}, b${l}), ${m}u);`,
        );
        next.push(`r${l}_${i}`);
      }
      cur = next;
      n = h;
    }
    const L = Math.log2(KG);
    const base =
      Array.from({ length: L }, (_, l) => `select(0u, ${FP >> (l + 1)}u, b${l})`).join(' + ') || '0u';
    lines.push(`let fb = ${base};`);
    lines.push(
      U(
        FP / KG,
        (j) => `{ let f = fb + ${j}u; let v = f / 4u; let c = f % 4u;\n    ${storeSum('v', 'c', cur[j]!)} }`,
        '\n  ',
      ),
    );
    return lines.join('\n  ');
  };
  const sg = o.reduce === 'subgroup';
  return {
    directives: sg ? 'enable subgroups;\n' : undefined,
    params: SPLIT_MAIN_PARAMS,
    key: `coeffs_fwd_split:${hc}:${xd}:${whole}:${T}:${OG}:${KG}:${WG}:${PF}:${ssSplit}:${sg}:${o.tileOrder ?? ''}`,
    bufs: [
      { name: 'x', dtype: xd, access: 'read', wgsl: 'vec4<u32>' },
      { name: 'pp', dtype: 'f32', access: 'read', wgsl: 'vec4<f32>' },
      { name: 'part', dtype: 'f32', access: 'rw' },
    ],
    body: `
${sg ? '' : `var<workgroup> red: array<vec4<f32>, ${WG * P}>;`}
@compute @workgroup_size(${WG})
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  let N = params.N;
  let steps = params.steps;
  let spc = params.stepsPerChunk;
  let chunks = params.chunks;
  let RV = params.rowPieces;
  let last = N * RV - 1u;
  let tile = ${o.tileOrder === 'desc' ? `(N + ${TL * T - 1}u) / ${TL * T}u - 1u - wg_lin / chunks` : 'wg_lin / chunks'};
  let chunk = wg_lin % chunks;
  let tile0 = tile * ${TL * T}u;
  let g = lid % ${KG}u;
  let og = lid / ${KG}u % ${OG}u;
  let tl = lid / ${KG * OG}u;
  ${U(T, (t) => `let row${t} = min(tile0 + ${slotTok(`${t}u`)} * ${TL}u + tl, N - 1u);`)}
  ${PF > 0 ? 'var sink = 0u;' : ''}
  let s0 = chunk * spc;
  let s1 = min(s0 + spc, steps);
  ${U(T, (t) => U(MQs, (q) => `var a${t}_${q} = vec4<f32>(0.0);`, ' '))}
  ${U(NS, (i) => `var ss${i} = vec4<f32>(0.0);`, ' ')}
  var kv = s0 * ${KG}u + g;
  for (var st = s0; st < s1; st++) {
    let pb = st * ${SV}u + og * ${MQs * KG}u + g;
    ${stepBody()}
  }
  ${PF > 0 ? '// Keeps the touch loads alive; params.zero is 0, so this never writes.\n  if ((sink & params.zero) == 1u) { part[0] = 0.0; }' : ''}
  ${sg ? sgReduce() : reduce}
}
`,
  };
}

/** The split kernel's parameters for a call's grid (coeffsSplit). */
export function splitMainParams(N: number, K: number, g: ReturnType<typeof coeffsSplit>) {
  return {
    N,
    K,
    steps: g.steps,
    stepsPerChunk: g.stepsPerChunk,
    chunks: g.chunks,
    rowPieces: K / 8,
    zero: 0,
  };
}

/** Threads of the reduce kernel's workgroups (both roles). */
export const SPLIT_REDUCE_WG = 64;
/** 16-byte pieces of a token's xIn each thread of the fused pre role writes. */
export const SPLIT_PRE_PIECES = 4;

/** WGSL: the chunks' partial sums a<j> (j in `cols`) of token n, added in chunk order. */
const chunkSums = (M: number, cols: number[]) => `${cols.map((j) => `var a${j} = 0.0;`).join(' ')}
  for (var c = 0u; c < params.chunks; c++) {
    let b = c * ${M + 1}u * N + n;
    ${cols.map((j) => `a${j} += part[b + ${j}u * N];`).join(' ')}
  }
  let invr = inverseSqrt(a${M} / f32(K) + params.rmsEps);`;

/**
 * The end of the split forward: per token (one invocation each), the chunks' partial x·φ and Σx²
 * summed in chunk order, then the token epilogue of coeffs.wgsl.ts (same outputs and saved tensors
 * as the other forward kernels). Bindings: part [chunks][M+1][N], coef (the packed buffer: the
 * coefficients start at float params.coefOffset), then the outputs as in coeffsForwardKernel.
 * Params: SPLIT_REDUCE_PARAMS.
 *
 * With `pre` (coeffsPreForward, the layer forward; half x with c a multiple of 8) the same dispatch also
 * computes xIn = Σ_s hPre[n, s]·x[n, s, :], so the forward needs no separate pre kernel and the
 * epilogue's latency-bound Sinkhorn runs beside the memory-bound pre instead of before it.
 * Workgroups past the epilogue ones take that second role: each thread recomputes hPre of its token
 * from the partials (the same sums and expressions as the epilogue, so the same values) and writes
 * `pieces` (SPLIT_PRE_PIECES) 16-byte pieces of xIn, strided by the row's thread count so
 * neighbouring lanes touch neighbouring pieces; all its loads come before its first store (see
 * post_res.wgsl.ts). Extra bindings x (vec4<u32>) and xin.
 */
export function coeffsSplitReduceKernel(
  hc: number,
  save: 'none' | 'history' | 'recompute',
  pre: DType | null = null,
  pieces: number = SPLIT_PRE_PIECES,
  order: 'asc' | 'desc' = 'desc',
): KernelDef<typeof SPLIT_REDUCE_PARAMS.schema> {
  const { M } = coeffsShape(hc);
  const all = Array.from({ length: M + 1 }, (_, j) => j);
  const preCols = [...Array.from({ length: hc }, (_, s) => s), M];
  const preRole = pre
    ? `
  if (wg_lin >= params.epilogueGroups) {
    let t = (wg_lin - params.epilogueGroups) * ${SPLIT_REDUCE_WG}u + lid;
    if (t >= params.total) { return; }
    let per = params.per;
    let P8 = params.P8;
    let r = t / per;
    let u = t - r * per;
    let n = ${order === 'desc' ? 'N - 1u - r' : 'r'};
    // x first: its loads are in flight while hPre is computed from the partials.
    ${U(
      pieces,
      (p) => `let v${p} = min(u + ${p}u * per, P8 - 1u);
    ${U(hc, (s) => `let xw${p}_${s} = x[(n * HC + ${s}u) * P8 + v${p}];`, '\n    ')}`,
      '\n    ',
    )}
    ${chunkSums(M, preCols)}
    let aPre = coef[cb + M];
    ${U(
      hc,
      (s) => `let m${s} = a${s} * invr;
    let hp${s} = sigmoid_f(m${s} * aPre + coef[cb + ${s}u]) + params.preEps;`,
      '\n    ',
    )}
    ${U(
      pieces,
      (p) => `if (u + ${p}u * per < P8) {
      xin[n * P8 + v${p}] = ${pack8(
        pre,
        preSum8(
          hc,
          pre,
          (s) => `hp${s}`,
          (s) => `xw${p}_${s}`,
        ),
      )};
    }`,
      '\n    ',
    )}
    return;
  }`
    : '';
  return {
    params: SPLIT_REDUCE_PARAMS,
    key: `coeffs_fwd_split_reduce:${hc}:${save}:${pre ?? ''}:${pre ? `${pieces}:${order}` : ''}`,
    bufs: [
      { name: 'part', dtype: 'f32', access: 'read' },
      ...COEFFS_FWD_OUT,
      ...(pre
        ? [
            { name: 'x', dtype: pre, access: 'read', wgsl: 'vec4<u32>' } as const,
            { name: 'xin', dtype: pre, access: 'rw', wgsl: 'vec4<u32>' } as const,
          ]
        : []),
    ],
    body: `
const HC = ${hc}u;
const HH = ${hc * hc}u;
const M = ${M}u;
@compute @workgroup_size(${SPLIT_REDUCE_WG})
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  let N = params.N;
  let K = params.K;
  let cb = params.coefOffset;${preRole}
  let n = wg_lin * ${SPLIT_REDUCE_WG}u + lid;
  if (n >= N) { return; }
  ${chunkSums(M, all)}
  var mix: array<f32, ${M}>;
  ${U(M, (m) => `mix[${m}] = a${m} * invr;`, ' ')}
  ${tokenEpilogue(hc, save, 'cb + ')}
}
`,
  };
}
