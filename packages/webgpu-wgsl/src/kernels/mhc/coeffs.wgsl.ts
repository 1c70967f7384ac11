import type { DType } from '@liger-mhc/core';
import type { KernelDef } from '../../backend.js';
import { type Buf, ENTRY_ARGS, isHalf, LINEAR_WG } from '../wgsl-lib.js';
import {
  COEFFS_BACKWARD_TOKEN_PARAMS,
  COEFFS_BACKWARD_X_PARAMS,
  COEFFS_PARAMS,
  COLUMN_SUM_PARAMS,
  PHI_REDUCE_PARAMS,
} from './coeffs-params.js';
import { pair, U } from './common.js';
import {
  type At,
  cSkNorm,
  cSkSoftmax,
  skNorm,
  skNormBack,
  skSoftmax,
  skSoftmaxBack,
} from './sinkhorn.wgsl.js';

/**
 * coeffs: mix = (x·φ)·rsqrt(mean(x²)+ε), then per token the split into hPre = σ(·)+preEps,
 * hPost = postMult·σ(·) and hRes = Sinkhorn(·).
 *
 * Buffers shared by the kernels of this family:
 *   coef  f32 [M+3]: b, then alphaPre, alphaPost, alphaRes (copied together by the host, so the
 *         kernels stay within 8 storage bindings);
 *   s1    f32 [N, M+1]: the saved mix and invr of each token (kept for every backward mode: it is
 *         N·(M+1) floats, and lets the backward skip a second pass of x·φ);
 *   s2    f32 [N, HS]: Sinkhorn history (see sinkhorn.wgsl.ts), only with save = 'history'.
 */
export function coeffsShape(hc: number) {
  const M = hc * hc + 2 * hc;
  // Tokens per workgroup: T tokens share every φ load (φ traffic / x traffic = M / (2T)); the
  // accumulators (T·M per thread) must stay in registers, so large hc drops to one token.
  const T = M <= 32 ? 4 : 1;
  const WG = M <= 32 ? 64 : 32;
  return { M, T, WG };
}

/**
 * The bindings every coeffs forward kernel ends with, in this order: coef (b and the alphas), then
 * what tokenEpilogue writes. One list, so the paths cannot drift apart.
 */
export const COEFFS_FWD_OUT: readonly Buf[] = [
  { name: 'coef', dtype: 'f32', access: 'read' },
  { name: 'hpre', dtype: 'f32', access: 'rw' },
  { name: 'hpost', dtype: 'f32', access: 'rw' },
  { name: 'hres', dtype: 'f32', access: 'rw' },
  { name: 's1', dtype: 'f32', access: 'rw' },
  { name: 's2', dtype: 'f32', access: 'rw' },
];

/**
 * WGSL: the per-token end of the forward, shared by the per-token kernel and the split path.
 * In scope: `n` (the token), `mix` (array<f32, M>, already scaled by invr), `invr`, and the coeffs
 * buffers. Writes hPre, hPost, hRes and, per `save`, the saved mix/invr (s1) and Sinkhorn history
 * (s2), so both forward paths hand the backward the same tensors. `cb` prefixes every index into
 * coef (e.g. 'cb + ' where the coefficients sit at an offset of a larger buffer).
 */
export function tokenEpilogue(hc: number, save: 'none' | 'history' | 'recompute', cb = ''): string {
  const HH = hc * hc;
  const saveMix = save !== 'none';
  const saveHist = save === 'history';
  return `let aPre = coef[${cb}M];
  let aPost = coef[${cb}M + 1u];
  let aRes = coef[${cb}M + 2u];
  ${U(
    hc,
    (s) => `hpre[n * HC + ${s}u] = sigmoid_f(mix[${s}] * aPre + coef[${cb}${s}u]) + params.preEps;
  hpost[n * HC + ${s}u] = sigmoid_f(mix[${hc + s}] * aPost + coef[${cb}${hc + s}u]) * params.postMult;`,
  )}
  var P: array<f32, ${HH}>;
  ${U(HH, (k) => `P[${k}] = mix[${2 * hc + k}] * aRes + coef[${cb}${2 * hc + k}u];`, ' ')}
  let eps = params.sinkhornEps;
  let tmax = params.tmax;
  let HS = HH + (2u * tmax - 1u) * HC;
  let hb = n * HS + HH;
  ${skSoftmax(hc, 'P', 'eps')}
  ${skNorm(hc, false, 'P', 'eps', (a, d) => (saveHist ? `s2[hb + ${a}u] = ${d};` : ''))}
  for (var it = 1u; it < tmax; it++) {
    let hr = hb + (2u * it - 1u) * HC;
    let hcol = hr + HC;
    ${skNorm(hc, true, 'P', 'eps', (a, d) => (saveHist ? `s2[hr + ${a}u] = ${d};` : ''))}
    ${skNorm(hc, false, 'P', 'eps', (a, d) => (saveHist ? `s2[hcol + ${a}u] = ${d};` : ''))}
  }
  ${U(HH, (k) => `hres[n * HH + ${k}u] = P[${k}];${saveHist ? ` s2[n * HS + ${k}u] = P[${k}];` : ''}`)}
  ${saveMix ? `${U(hc * hc + 2 * hc, (m) => `s1[n * (M + 1u) + ${m}u] = mix[${m}];`, ' ')}\n  s1[n * (M + 1u) + M] = invr;` : ''}`;
}

/**
 * Forward: one workgroup per T tokens. Each thread walks K in pairs with stride WG, accumulating
 * x·φ and Σx² for the T tokens; a tree reduction per token; then threads 0..T-1 run the per-token
 * epilogue (sigmoids, Sinkhorn) and write the outputs.
 * Params: COEFFS_PARAMS.
 */
export function coeffsForwardKernel(
  hc: number,
  xd: DType,
  pd: DType,
  K: number,
  save: 'none' | 'history' | 'recompute',
): KernelDef<typeof COEFFS_PARAMS.schema> {
  const { M, T, WG } = coeffsShape(hc);
  const HH = hc * hc;
  const xAligned = K % 2 === 0;
  const Q = M + 1;
  // φ pairs: with half storage and M even, φ[k, m..m+1] is one word (one load, two values).
  const phiPairs = isHalf(pd) && M % 2 === 0;
  const phiLoop = phiPairs
    ? U(
        M / 2,
        (q) => {
          const m = 2 * q;
          return `{
      let p0 = ld2_phi(k0 * M + ${m}u);
      let p1 = select(vec2<f32>(0.0), ld2_phi((k0 + 1u) * M + ${m}u), second);
      ${U(T, (t) => `acc_${t}_${m} += x${t}.x * p0.x + x${t}.y * p1.x; acc_${t}_${m + 1} += x${t}.x * p0.y + x${t}.y * p1.y;`, '\n      ')}
    }`;
        },
        '\n    ',
      )
    : U(
        M,
        (m) => `{
      let p0 = ld_phi(k0 * M + ${m}u);
      let p1 = select(0.0, ld_phi((k0 + 1u) * M + ${m}u), second);
      ${U(T, (t) => `acc_${t}_${m} += x${t}.x * p0 + x${t}.y * p1;`, ' ')}
    }`,
        '\n    ',
      );
  // Per token: partials to red (q-major), one barrier, thread q sums row q in order, one barrier.
  const reduce = U(
    T,
    (t) => `
  ${U(M, (m) => `red[${m * WG}u + lid] = acc_${t}_${m};`)}
  red[${M * WG}u + lid] = ss_${t};
  workgroupBarrier();
  for (var q = lid; q < ${Q}u; q += WG) {
    var s = 0.0;
    for (var i = 0u; i < WG; i++) { s += red[q * WG + i]; }
    tot[${t * Q}u + q] = s;
  }
  workgroupBarrier();`,
  );
  return {
    params: COEFFS_PARAMS,
    key: `coeffs_fwd:${hc}:${xd}:${pd}:${xAligned}:${save}`,
    bufs: [
      { name: 'x', dtype: xd, access: 'read' },
      { name: 'phi', dtype: pd, access: 'read' },
      ...COEFFS_FWD_OUT,
    ],
    body: `
const HC = ${hc}u;
const HH = ${HH}u;
const M = ${M}u;
const T = ${T}u;
const WG = ${WG}u;
var<workgroup> red: array<f32, ${WG * Q}>;
var<workgroup> tot: array<f32, ${T * Q}>;
@compute @workgroup_size(${WG})
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  let N = params.N;
  let K = params.K;
  let KP = params.KP;
  let tok0 = wg_lin * T;
  if (tok0 >= N) { return; }
  ${U(T, (t) => `var ss_${t} = 0.0;\n  ${U(M, (m) => `var acc_${t}_${m} = 0.0;`, ' ')}`)}
  for (var j = lid; j < KP; j += WG) {
    let k0 = 2u * j;
    let second = k0 + 1u < K;
    ${U(
      T,
      (t) => `var x${t} = vec2<f32>(0.0);
    if (tok0 + ${t}u < N) { x${t} = ${pair('x', xd, `(tok0 + ${t}u) * K + k0`, 'second', xAligned)}; }
    ss_${t} += dot(x${t}, x${t});`,
      '\n    ',
    )}
    ${phiLoop}
  }
  ${reduce}
  let n = tok0 + lid;
  if (lid >= T || n >= N) { return; }
  let base = lid * ${Q}u;
  let invr = inverseSqrt(tot[base + M] / f32(K) + params.rmsEps);
  var mix: array<f32, ${M}>;
  ${U(M, (m) => `mix[${m}] = tot[base + ${m}u] * invr;`, ' ')}
  ${tokenEpilogue(hc, save)}
}
`,
  };
}

/**
 * Backward, per token (one thread each): the sigmoid and Sinkhorn backward give dA (the gradient of
 * the pre-activations). Writes
 *   gf  [N, M+1]: G = dA·alpha·invr (the gradient of x·φ) and factor = -(Σ dA·alpha·mix)·invr²/K
 *                 (so that gradX = G·φᵀ + factor·x);
 *   tr  [N, M+3]: dA and the three per-token alpha terms Σ dA·mix, reduced over tokens afterwards.
 * `cot` holds the three cotangents as planes [N·hc | N·hc | N·hc²] (zeros for unused outputs).
 * s2 is the saved history ('history'), or in 'recompute' mode a scratch of the same layout that
 * this kernel fills by rerunning the forward Sinkhorn (same thread writes then reads it).
 * Params: COEFFS_BACKWARD_TOKEN_PARAMS.
 */
export function coeffsBackwardTokenKernel(
  hc: number,
  save: 'history' | 'recompute',
): KernelDef<typeof COEFFS_BACKWARD_TOKEN_PARAMS.schema> {
  const { M } = coeffsShape(hc);
  const HH = hc * hc;
  const recompute = save === 'recompute';
  return {
    params: COEFFS_BACKWARD_TOKEN_PARAMS,
    key: `coeffs_bwd_token:${hc}:${save}`,
    bufs: [
      { name: 's1', dtype: 'f32', access: 'read' },
      { name: 's2', dtype: 'f32', access: 'rw' },
      { name: 'coef', dtype: 'f32', access: 'read' },
      { name: 'cot', dtype: 'f32', access: 'read' },
      { name: 'gf', dtype: 'f32', access: 'rw' },
      { name: 'tr', dtype: 'f32', access: 'rw' },
    ],
    body: `
const HC = ${hc}u;
const HH = ${HH}u;
const M = ${M}u;
@compute @workgroup_size(64)
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  let n = wg_lin * 64u + lid;
  let N = params.N;
  if (n >= N) { return; }
  let K = params.K;
  let tmax = params.tmax;
  let eps = params.sinkhornEps;
  let postMult = params.postMult;
  var mix: array<f32, ${M}>;
  ${U(M, (m) => `mix[${m}] = s1[n * (M + 1u) + ${m}u];`, ' ')}
  let invr = s1[n * (M + 1u) + M];
  let aPre = coef[M];
  let aPost = coef[M + 1u];
  let aRes = coef[M + 2u];
  var dA: array<f32, ${M}>;
  ${U(
    hc,
    (s) => `{
    let sp = sigmoid_f(mix[${s}] * aPre + coef[${s}u]);
    dA[${s}] = cot[n * HC + ${s}u] * sp * (1.0 - sp);
    let so = sigmoid_f(mix[${hc + s}] * aPost + coef[${hc + s}u]);
    dA[${hc + s}] = cot[N * HC + n * HC + ${s}u] * postMult * so * (1.0 - so);
  }`,
  )}
  if (params.gradRes != 0u) {
    var L: array<f32, ${HH}>;
    ${U(HH, (k) => `L[${k}] = mix[${2 * hc + k}] * aRes + coef[${2 * hc + k}u];`, ' ')}
    var Q: array<f32, ${HH}>;
    var dQ: array<f32, ${HH}>;
    ${U(HH, (k) => `dQ[${k}] = cot[2u * N * HC + n * HH + ${k}u];`, ' ')}
    let HS = HH + (2u * tmax - 1u) * HC;
    let hb = n * HS + HH;
${
  recompute
    ? `    // Recompute mode: rerun the forward, writing the normalisers to the scratch.
    Q = L;
    ${skSoftmax(hc, 'Q', 'eps')}
    ${skNorm(hc, false, 'Q', 'eps', (a, d) => `s2[hb + ${a}u] = ${d};`)}
    for (var it = 1u; it < tmax; it++) {
      let hr = hb + (2u * it - 1u) * HC;
      let hcol = hr + HC;
      ${skNorm(hc, true, 'Q', 'eps', (a, d) => `s2[hr + ${a}u] = ${d};`)}
      ${skNorm(hc, false, 'Q', 'eps', (a, d) => `s2[hcol + ${a}u] = ${d};`)}
    }`
    : `    ${U(HH, (k) => `Q[${k}] = s2[n * HS + ${k}u];`, ' ')}`
}
    for (var it = tmax - 1u; it >= 1u; it--) {
      let hr = hb + (2u * it - 1u) * HC;
      let hcol = hr + HC;
      ${skNormBack(hc, false, 'Q', 'dQ', (a) => `s2[hcol + ${a}u]`)}
      ${skNormBack(hc, true, 'Q', 'dQ', (a) => `s2[hr + ${a}u]`)}
    }
    ${skNormBack(hc, false, 'Q', 'dQ', (a) => `s2[hb + ${a}u]`)}
    ${skSoftmaxBack(hc, 'L', 'dQ')}
    ${U(HH, (k) => `dA[${2 * hc + k}] = L[${k}];`, ' ')}
  }
  var ap = 0.0;
  var ao = 0.0;
  var ar = 0.0;
  var dot = 0.0;
  ${U(M, (m) => {
    const [acc, alpha] = m < hc ? ['ap', 'aPre'] : m < 2 * hc ? ['ao', 'aPost'] : ['ar', 'aRes'];
    return `tr[n * (M + 3u) + ${m}u] = dA[${m}];
  ${acc} += dA[${m}] * mix[${m}];
  { let dMix = dA[${m}] * ${alpha}; gf[n * (M + 1u) + ${m}u] = dMix * invr; dot += dMix * mix[${m}]; }`;
  })}
  tr[n * (M + 3u) + M] = ap;
  tr[n * (M + 3u) + M + 1u] = ao;
  tr[n * (M + 3u) + M + 2u] = ar;
  gf[n * (M + 1u) + M] = -dot * invr * invr / f32(K);
}
`,
  };
}

/**
 * Column sums of tr [N, M+3] over tokens, one workgroup per column, fixed tree order: gradB and the
 * three alpha gradients, written to one f32 [M+3] buffer.
 * Params: COLUMN_SUM_PARAMS (cols = M+3).
 */
export function coeffsBackwardReduceKernel(): KernelDef<typeof COLUMN_SUM_PARAMS.schema> {
  const WG = 256;
  return {
    params: COLUMN_SUM_PARAMS,
    key: 'coeffs_bwd_reduce',
    bufs: [
      { name: 'tr', dtype: 'f32', access: 'read' },
      { name: 'out', dtype: 'f32', access: 'rw' },
    ],
    body: `
var<workgroup> red: array<f32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  let col = wg_lin;
  let N = params.N;
  let C = params.cols;
  if (col >= C) { return; }
  var acc = 0.0;
  for (var n = lid; n < N; n += ${WG}u) { acc += tr[n * C + col]; }
  red[lid] = acc;
  workgroupBarrier();
  if (lid == 0u) {
    var s = 0.0;
    for (var i = 0u; i < ${WG}u; i++) { s += red[i]; }
    out[col] = s;
  }
}
`,
  };
}

/**
 * The pass over x of the backward: gradX = G·φᵀ + factor·x and the φ gradient xᵀ·G, in one read of
 * x. Workgroup (k-block of WG pairs, token chunk): each thread keeps φ's two rows for its pair and
 * their gradient accumulators in registers, walks the chunk's tokens in order and writes gradX as it
 * goes; the chunk's φ partial goes to part[chunk] (reduced in a fixed order by the next kernel), so
 * no float atomics and bit-identical results.
 * Params: COEFFS_BACKWARD_X_PARAMS.
 */
export function coeffsBackwardXKernel(
  hc: number,
  xd: DType,
  pd: DType,
  gxd: DType,
  K: number,
): KernelDef<typeof COEFFS_BACKWARD_X_PARAMS.schema> {
  const { M } = coeffsShape(hc);
  const WG = 64;
  const xAligned = K % 2 === 0;
  return {
    params: COEFFS_BACKWARD_X_PARAMS,
    key: `coeffs_bwd_x:${hc}:${xd}:${pd}:${gxd}:${xAligned}`,
    bufs: [
      { name: 'x', dtype: xd, access: 'read' },
      { name: 'phi', dtype: pd, access: 'read' },
      { name: 'gf', dtype: 'f32', access: 'read' },
      { name: 'gx', dtype: gxd, access: 'rw' },
      { name: 'part', dtype: 'f32', access: 'rw' },
    ],
    body: `
const M = ${M}u;
@compute @workgroup_size(${WG})
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  let N = params.N;
  let K = params.K;
  let KP = params.KP;
  let NC = params.NC;
  let KB = params.KB;
  let chunk = wg_lin / KB;
  let j = (wg_lin - chunk * KB) * ${WG}u + lid;
  if (j >= KP) { return; }
  let k0 = 2u * j;
  let second = k0 + 1u < K;
  ${U(M, (m) => `let pa${m} = ld_phi(k0 * M + ${m}u); let pb${m} = select(0.0, ld_phi((k0 + 1u) * M + ${m}u), second); var ga${m} = 0.0; var gb${m} = 0.0;`)}
  let needX = params.needX != 0u;
  let n0 = chunk * NC;
  let n1 = min(N, n0 + NC);
  for (var n = n0; n < n1; n++) {
    let xv = ${pair('x', xd, 'n * K + k0', 'second', xAligned)};
    let grow = n * (M + 1u);
    var gxv = gf[grow + M] * xv;
    ${U(M, (m) => `{ let G = gf[grow + ${m}u]; gxv += G * vec2<f32>(pa${m}, pb${m}); ga${m} += xv.x * G; gb${m} += xv.y * G; }`, '\n    ')}
    if (needX) { st2_gx(n * K + k0, gxv, second); }
  }
  if (params.needPhi != 0u) {
    let base = chunk * K * M;
    ${U(M, (m) => `part[base + k0 * M + ${m}u] = ga${m};`, ' ')}
    if (second) { ${U(M, (m) => `part[base + (k0 + 1u) * M + ${m}u] = gb${m};`, ' ')} }
  }
}
`,
  };
}

/** gradPhi[i] = Σ_chunk part[chunk, i], chunks in order. */
export function coeffsBackwardPhiReduceKernel(): KernelDef<typeof PHI_REDUCE_PARAMS.schema> {
  return {
    params: PHI_REDUCE_PARAMS,
    key: 'coeffs_bwd_phi_reduce',
    bufs: [
      { name: 'part', dtype: 'f32', access: 'read' },
      { name: 'out', dtype: 'f32', access: 'rw' },
    ],
    body: `
@compute @workgroup_size(256)
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  let i = wg_lin * 256u + lid;
  let KM = params.KM;
  if (i >= KM) { return; }
  var acc = 0.0;
  for (var c = 0u; c < params.chunks; c++) { acc += part[c * KM + i]; }
  out[i] = acc;
}
`,
  };
}

/**
 * Compact forward and x-pass kernels for large hc (M > 32, i.e. hc > 4): the same math with runtime
 * loops over the coefficients, accumulators in workgroup memory (forward) or in the partial buffer
 * itself (x pass), and φ re-read from memory. The unrolled kernels above keep everything in
 * registers, which is what makes hc = 4 fast on GPUs, but at hc = 8 (80 coefficients) they took
 * lavapipe 20-30 s each to compile (5 s and 0.1 s compact). The per-token backward stays unrolled:
 * its loop form compiled no faster there.
 */
export const COMPACT_M = 32;

export function coeffsForwardCompactKernel(
  hc: number,
  xd: DType,
  pd: DType,
  K: number,
  save: 'none' | 'history' | 'recompute',
): KernelDef<typeof COEFFS_PARAMS.schema> {
  const { M } = coeffsShape(hc);
  const WG = 32;
  const Q = M + 1;
  const HH = hc * hc;
  const xAligned = K % 2 === 0;
  const saveHist = save === 'history';
  const wP: At = (k) => `wP[${k}]`;
  return {
    params: COEFFS_PARAMS,
    key: `coeffs_fwd_compact:${hc}:${xd}:${pd}:${xAligned}:${save}`,
    bufs: coeffsForwardKernel(1, xd, pd, K, save).bufs,
    body: `
const SK_HC = ${hc}u;
const HC = ${hc}u;
const HH = ${HH}u;
const M = ${M}u;
const WG = ${WG}u;
var<workgroup> red: array<f32, ${WG * Q}>;
var<workgroup> tot: array<f32, ${Q}>;
var<workgroup> wP: array<f32, ${HH}>;
@compute @workgroup_size(${WG})
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  let N = params.N;
  let K = params.K;
  let KP = params.KP;
  let n = wg_lin;
  if (n >= N) { return; }
  for (var q = 0u; q < ${Q}u; q++) { red[q * WG + lid] = 0.0; }
  for (var j = lid; j < KP; j += WG) {
    let k0 = 2u * j;
    let second = k0 + 1u < K;
    let xv = ${pair('x', xd, 'n * K + k0', 'second', xAligned)};
    red[M * WG + lid] += dot(xv, xv);
    for (var m = 0u; m < M; m++) {
      red[m * WG + lid] += xv.x * ld_phi(k0 * M + m) + xv.y * select(0.0, ld_phi((k0 + 1u) * M + m), second);
    }
  }
  workgroupBarrier();
  for (var q = lid; q < ${Q}u; q += WG) {
    var s = 0.0;
    for (var i = 0u; i < WG; i++) { s += red[q * WG + i]; }
    tot[q] = s;
  }
  workgroupBarrier();
  if (lid != 0u) { return; }
  let invr = inverseSqrt(tot[M] / f32(K) + params.rmsEps);
  for (var m = 0u; m < M; m++) { tot[m] = tot[m] * invr; }
  let aPre = coef[M];
  let aPost = coef[M + 1u];
  let aRes = coef[M + 2u];
  for (var s = 0u; s < HC; s++) {
    hpre[n * HC + s] = sigmoid_f(tot[s] * aPre + coef[s]) + params.preEps;
    hpost[n * HC + s] = sigmoid_f(tot[HC + s] * aPost + coef[HC + s]) * params.postMult;
  }
  for (var k = 0u; k < HH; k++) { wP[k] = tot[2u * HC + k] * aRes + coef[2u * HC + k]; }
  let eps = params.sinkhornEps;
  let tmax = params.tmax;
  let HS = HH + (2u * tmax - 1u) * HC;
  let hb = n * HS + HH;
  ${cSkSoftmax(wP, 'eps')}
  ${cSkNorm(wP, false, 'eps', (a, d) => (saveHist ? `s2[hb + ${a}] = ${d};` : ''))}
  for (var it = 1u; it < tmax; it++) {
    let hr = hb + (2u * it - 1u) * HC;
    let hcol = hr + HC;
    ${cSkNorm(wP, true, 'eps', (a, d) => (saveHist ? `s2[hr + ${a}] = ${d};` : ''))}
    ${cSkNorm(wP, false, 'eps', (a, d) => (saveHist ? `s2[hcol + ${a}] = ${d};` : ''))}
  }
  for (var k = 0u; k < HH; k++) {
    hres[n * HH + k] = wP[k];
    ${saveHist ? 's2[n * HS + k] = wP[k];' : ''}
  }
  ${save !== 'none' ? 'for (var m = 0u; m < M; m++) { s1[n * (M + 1u) + m] = tot[m]; }\n  s1[n * (M + 1u) + M] = invr;' : ''}
}
`,
  };
}

/** As coeffsBackwardXKernel, with φ re-read per token and the φ partials accumulated in `part`
 * itself (zeroed by the host). */
export function coeffsBackwardXCompactKernel(
  hc: number,
  xd: DType,
  pd: DType,
  gxd: DType,
  K: number,
): KernelDef<typeof COEFFS_BACKWARD_X_PARAMS.schema> {
  const { M } = coeffsShape(hc);
  const WG = 64;
  const xAligned = K % 2 === 0;
  return {
    params: COEFFS_BACKWARD_X_PARAMS,
    key: `coeffs_bwd_x_compact:${hc}:${xd}:${pd}:${gxd}:${xAligned}`,
    bufs: coeffsBackwardXKernel(1, xd, pd, gxd, K).bufs,
    body: `
const M = ${M}u;
@compute @workgroup_size(${WG})
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  let N = params.N;
  let K = params.K;
  let KP = params.KP;
  let NC = params.NC;
  let KB = params.KB;
  let chunk = wg_lin / KB;
  let j = (wg_lin - chunk * KB) * ${WG}u + lid;
  if (j >= KP) { return; }
  let k0 = 2u * j;
  let second = k0 + 1u < K;
  let needX = params.needX != 0u;
  let needPhi = params.needPhi != 0u;
  let base = chunk * K * M;
  let n1 = min(N, chunk * NC + NC);
  for (var n = chunk * NC; n < n1; n++) {
    let xv = ${pair('x', xd, 'n * K + k0', 'second', xAligned)};
    let grow = n * (M + 1u);
    var gxv = gf[grow + M] * xv;
    for (var m = 0u; m < M; m++) {
      let G = gf[grow + m];
      gxv += G * vec2<f32>(ld_phi(k0 * M + m), select(0.0, ld_phi((k0 + 1u) * M + m), second));
      if (needPhi) {
        part[base + k0 * M + m] += xv.x * G;
        if (second) { part[base + (k0 + 1u) * M + m] += xv.y * G; }
      }
    }
    if (needX) { st2_gx(n * K + k0, gxv, second); }
  }
}
`,
  };
}
