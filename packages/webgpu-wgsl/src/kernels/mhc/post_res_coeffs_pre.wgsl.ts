import type { DType, Orientation } from '@liger-mhc/core';
import type { KernelDef } from '../../backend.js';
import { kernelParams } from '../../kernel-params.js';
import { ENTRY_ARGS, LINEAR_WG } from '../wgsl-lib.js';
import { COMPACT_M, coeffsShape, tokenEpilogue } from './coeffs.wgsl.js';
import { pair, U } from './common.js';

/**
 * The kernel's named parameters: the coeffs forward's (the epilogue is coeffs.wgsl.ts's and reads
 * tmax and the eps / postMult by those names) plus c and CP = ceil(c / 2), the pairs of a stream row.
 */
export const POST_RES_COEFFS_PRE_PARAMS = kernelParams({
  N: 'u32',
  K: 'u32',
  c: 'u32',
  CP: 'u32',
  tmax: 'u32',
  rmsEps: 'f32',
  preEps: 'f32',
  sinkhornEps: 'f32',
  postMult: 'f32',
});
/**
 * post_res_coeffs_pre: the boundary between two consecutive mHC sublayers in one pass over the
 * streams (the WGSL counterpart of the CUDA kernel of the same name):
 *
 *   xOut = post_res(x, f, hPost, hRes)                 (sublayer l, as post_res.wgsl.ts)
 *   mix  = (xOut·φ)·rsqrt(mean(xOut²) + ε), split, Sinkhorn   (sublayer l+1, coeffs.wgsl.ts's epilogue)
 *   xIn  = Σ_s hPre[s]·xOut[s]                          (sublayer l+1, as pre.wgsl.ts)
 *
 * Why one workgroup per token: pre cannot start on a token before that token's whole x·φ reduction is
 * done, so the token's new streams must still be close when its hPre is known. Each thread computes
 * xOut for its channel pairs, stores them and feeds the stored values (rounded to the storage dtype,
 * as the separate coeffs and pre read them) into its x·φ and Σx² partials; a fixed-order reduction
 * over the workgroup gives the token's sums (no atomics: deterministic); thread 0 runs the shared
 * per-token epilogue; then each thread re-reads the xOut pairs it wrote itself (its own writes, still
 * in cache, need no barrier) for pre. DRAM sees x and f read once and xOut and xIn written once.
 *
 * Bindings (7, within WebGPU's default of 8 storage buffers):
 *   x, f                      the streams [N, hc, c] and the layer output [N, c];
 *   coef  f32 [M+3 + N·hc + N·hc²]: b, alphaPre, alphaPost, alphaRes, then sublayer l's hPost and
 *         hRes (packed by the host: one binding instead of three);
 *   phi   [K, M] ('liger' layout);
 *   xo, xi                    xOut [N, hc, c] and xIn [N, c];
 *   ho    f32: hPre [N·hc] | hPost [N·hc] | hRes [N·hc²] | s1 [N·(M+1)] | s2 [N·HS], the epilogue's
 *         outputs as planes of one binding (s1 and s2 only where saved), copied out by the host.
 * Params: 0 N, 1 K, 2 c, 3 tmax, 4 rmsEps, 5 preEps, 6 sinkhornEps, 7 postMult, 8 ceil(c/2).
 *
 * Up to COMPACT_M coefficients a thread keeps its x·φ partials in registers (unrolled); above it in
 * workgroup memory with loops, as coeffs.wgsl.ts's compact kernel does, for the same reason (fully
 * unrolled, hc 8 takes lavapipe tens of seconds to compile).
 */

/** Largest hc the fused kernel takes; a larger one runs as the separate kernels. */
export const POST_RES_COEFFS_PRE_MAX_HC = 8;

/** Workgroup size: 64 threads, 32 where the partials live in workgroup memory (M > COMPACT_M). */
export function postResCoeffsPreWorkgroup(hc: number): number {
  return coeffsShape(hc).M > COMPACT_M ? 32 : 64;
}

/** Flat index of R[o, i] in hRes[n] (row-major (out, in); transposed for 'deepseek'), as post_res. */
function resIndex(orientation: Orientation, hc: number, o: number, i: number): number {
  return orientation === 'liger' ? o * hc + i : i * hc + o;
}

/**
 * WGSL fn rnd: a pair rounded to `dtype` (to nearest even) and back, the value a later kernel would
 * load. f16 is rounded with integer and power-of-two arithmetic rather than unpack(pack(v)): a shader
 * compiler may fold that round trip to v (Mesa's does), which would feed unrounded values to x·φ.
 */
function roundFn(dtype: DType): string {
  if (dtype === 'bf16')
    return 'fn rnd(v: vec2<f32>) -> vec2<f32> { return vec2<f32>(bitcast<f32>(bf16_bits(v.x) << 16u), bitcast<f32>(bf16_bits(v.y) << 16u)); }';
  if (dtype === 'f16')
    return `fn rnd1(v: f32) -> f32 {
  let a = abs(v);
  // Below 2^-14 f16 is subnormal: a fixed step of 2^-24 (WGSL's round() takes ties to even).
  if (a < 6.103515625e-05) { return round(v * 16777216.0) / 16777216.0; }
  // Past the largest f16 (65504, halfway to the next step 65536) the value becomes infinite.
  if (a >= 65520.0) { return bitcast<f32>((bitcast<u32>(v) & 0x80000000u) | 0x7f800000u); }
  // A normal f16 keeps 10 of f32's 23 mantissa bits.
  let b = bitcast<u32>(v);
  if ((b & 0x7f800000u) == 0x7f800000u) { return v; }
  return bitcast<f32>((b + 0xfffu + ((b >> 13u) & 1u)) & 0xffffe000u);
}
fn rnd(v: vec2<f32>) -> vec2<f32> { return vec2<f32>(rnd1(v.x), rnd1(v.y)); }`;
  return 'fn rnd(v: vec2<f32>) -> vec2<f32> { return v; }';
}

/**
 * The epilogue's five outputs rebased into planes of `ho`: the text is coeffs.wgsl.ts's
 * tokenEpilogue itself, so hPre, hPost, hRes and the saved tensors are computed by the same code as
 * on the separate path.
 */
function rebasedEpilogue(hc: number, save: 'none' | 'history' | 'recompute'): string {
  const planes: [string, string][] = [
    ['hpre', 'oPre'],
    ['hpost', 'oPost'],
    ['hres', 'oRes'],
    ['s1', 'oS1'],
    ['s2', 'oS2'],
  ];
  let s = tokenEpilogue(hc, save);
  for (const [name, off] of planes) s = s.replace(new RegExp(`\\b${name}\\[`, 'g'), `ho[${off} + `);
  return s;
}

export function postResCoeffsPreForwardKernel(
  hc: number,
  orientation: Orientation,
  xd: DType,
  fd: DType,
  pd: DType,
  od: DType,
  id: DType,
  c: number,
  save: 'none' | 'history' | 'recompute',
): KernelDef {
  const { M } = coeffsShape(hc);
  const HH = hc * hc;
  const Q = M + 1;
  const WG = postResCoeffsPreWorkgroup(hc);
  const compact = M > COMPACT_M;
  const aligned = c % 2 === 0;
  // One output stream's contribution to the partials (v its rounded pair, kb/kb2 its φ rows).
  const project = (o: number) =>
    compact
      ? `red[M * WG + lid] += dot(v${o}, v${o});
    for (var m = 0u; m < M; m++) { red[m * WG + lid] += v${o}.x * ld_phi(kb${o} + m) + v${o}.y * ld_phi(kb2_${o} + m); }`
      : `ss += dot(v${o}, v${o});
    ${U(M, (m) => `acc_${m} += v${o}.x * ld_phi(kb${o} + ${m}u) + v${o}.y * ld_phi(kb2_${o} + ${m}u);`, '\n    ')}`;
  const init = compact
    ? `for (var q = 0u; q < ${Q}u; q++) { red[q * WG + lid] = 0.0; }`
    : `var ss = 0.0;\n  ${U(M, (m) => `var acc_${m} = 0.0;`, ' ')}`;
  const spill = compact
    ? ''
    : `${U(M, (m) => `red[${m}u * WG + lid] = acc_${m};`, ' ')}\n  red[M * WG + lid] = ss;`;
  return {
    params: POST_RES_COEFFS_PRE_PARAMS,
    key: `post_res_coeffs_pre_fwd:${hc}:${orientation}:${xd}:${fd}:${pd}:${od}:${id}:${aligned}:${save}`,
    bufs: [
      { name: 'x', dtype: xd, access: 'read' },
      { name: 'f', dtype: fd, access: 'read' },
      { name: 'coef', dtype: 'f32', access: 'read' },
      { name: 'phi', dtype: pd, access: 'read' },
      { name: 'xo', dtype: od, access: 'rw' },
      { name: 'xi', dtype: id, access: 'rw' },
      { name: 'ho', dtype: 'f32', access: 'rw' },
    ],
    body: `
const HC = ${hc}u;
const HH = ${HH}u;
const M = ${M}u;
const WG = ${WG}u;
var<workgroup> red: array<f32, ${WG * Q}>;
var<workgroup> tot: array<f32, ${Q}>;
var<workgroup> wh: array<f32, ${hc}>;
${roundFn(xd)}
@compute @workgroup_size(${WG})
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  let N = params.N;
  let K = params.K;
  let c = params.c;
  let CP = params.CP;
  let n = wg_lin;
  if (n >= N) { return; }
  // Sublayer l's coefficients of this token, behind b and the alphas in coef.
  let hpb = M + 3u + n * HC;
  let hrb = M + 3u + N * HC + n * HH;
  ${U(hc, (o) => `let p${o} = coef[hpb + ${o}u];`)}
  ${U(HH, (k) => `let r${k} = coef[hrb + ${k}u];`, ' ')}
  ${init}
  for (var j = lid; j < CP; j += WG) {
    let ch = 2u * j;
    let second = ch + 1u < c;
    ${U(hc, (i) => `let x${i} = ${pair('x', xd, `(n * HC + ${i}u) * c + ch`, 'second', aligned)};`, '\n    ')}
    let fv = ${pair('f', fd, 'n * c + ch', 'second', aligned)};
    ${U(
      hc,
      (o) => `{
    let v${o} = rnd(p${o} * fv${U(hc, (i) => ` + r${resIndex(orientation, hc, o, i)} * x${i}`, '')});
    st2_xo((n * HC + ${o}u) * c + ch, v${o}, second);
    // Row k of φ and the next one (a missing second element has v.y = 0: re-read row k instead).
    let kb${o} = (${o}u * c + ch) * M;
    let kb2_${o} = select(kb${o}, kb${o} + M, second);
    ${project(o)}
  }`,
      '\n    ',
    )}
  }
  ${spill}
  workgroupBarrier();
  for (var q = lid; q < ${Q}u; q += WG) {
    var s = 0.0;
    for (var i = 0u; i < WG; i++) { s += red[q * WG + i]; }
    tot[q] = s;
  }
  workgroupBarrier();
  if (lid == 0u) {
    let oPre = 0u;
    let oPost = N * HC;
    let oRes = 2u * N * HC;
    let oS1 = N * M;
    let oS2 = N * (2u * M + 1u);
    let invr = inverseSqrt(tot[M] / f32(K) + params.rmsEps);
    var mix: array<f32, ${M}>;
    ${U(M, (m) => `mix[${m}] = tot[${m}u] * invr;`, ' ')}
    ${rebasedEpilogue(hc, save)}
    ${U(hc, (s) => `wh[${s}] = ho[n * HC + ${s}u];`, ' ')}
  }
  workgroupBarrier();
  // pre of the pairs this thread stored (streams summed in index order, as pre.wgsl.ts).
  for (var j = lid; j < CP; j += WG) {
    let ch = 2u * j;
    let second = ch + 1u < c;
    var acc = vec2<f32>(0.0);
    for (var s = 0u; s < HC; s++) {
      acc += wh[s] * ${pair('xo', od, '(n * HC + s) * c + ch', 'second', aligned)};
    }
    st2_xi(n * c + ch, acc, second);
  }
}
`,
  };
}
