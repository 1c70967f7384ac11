import type { DType } from '@liger-mhc/core';
import type { KernelDef } from '../../backend.js';
import { ENTRY_ARGS, isHalf, LINEAR_WG } from '../wgsl-lib.js';
import { COEFFS_FWD_OUT, coeffsShape, tokenEpilogue } from './coeffs.wgsl.js';
import { U } from './common.js';

/**
 * coeffs forward on the matrix units (Dawn's `chromium-experimental-subgroup-matrix`: Vulkan
 * cooperative matrices, i.e. tensor cores on NVIDIA). Same math, outputs and saved tensors as
 * coeffsForwardKernel (coeffs.wgsl.ts), so the backward does not know which path ran.
 *
 * Why: x·φ is N×K×M with M = hc²+2hc = 24 at hc = 4: ~6.4 GFLOP at 8192×16384, which is compute
 * bound on the f32 lanes (~0.6 ms on an H200) while reading x once takes ~0.065 ms. The matrix
 * units run it as f16 × f16 → f32 products, which are exact: what needs care is getting x and φ
 * into f16 without losing anything.
 *
 * Exactness (results equal the f32 path up to f32 summation order):
 *  - A bf16 value v is exactly an f16 when 2^-17 <= |v| <= 65504 (normal, or subnormal with its
 *    8 significant bits intact) or v = 0 (f16 values trivially). Smaller values are exact in f16
 *    after scaling by 2^24 down to 2^-38 (below that they are f16 subnormals or flush: an error
 *    under 2^-38·|φ| per element). So every operand is split on |v| < SMALL = 2^-17 into
 *    hi = f16(v) (0 for small v) and lo = f16(v·2^24) (0 for the rest).
 *  - φ (K×M, tiny) is prepared per call by two small kernels: each column j first gets a
 *    power-of-two scale 2^s_j that puts its largest magnitude just under 65504 (so the split
 *    threshold sits 32 binades below the column's maximum), then φ·2^s_j is split as above. Per
 *    256-row chunk a flag says whether any lo is non-zero: with the scale that takes a column
 *    spanning more than 32 binades, so the φ·lo products almost never run.
 *  - x is split while it is staged to workgroup memory. The common case writes only f16(x); a
 *    (workgroup-uniform) iteration whose tile holds a small non-zero value rewrites the tile as
 *    hi and lo and runs the lo products. Random or activation-like data hit this on a few % of
 *    tiles at 2^-17 (a third at 2^-14).
 *  - Accumulators: A0 = Σ xhi·φhi, A1 = Σ (xlo·φhi + xhi·φlo) (scaled by 2^24), A2 = Σ xlo·φlo
 *    (2^48), combined in f32 as (A0 + A1·2^-24 + A2·2^-48)·2^-s_j in a fixed order.
 *  - A tile (32 tokens) holding any |x| > 65504, inf or NaN, or a φ column with inf/NaN, is
 *    recomputed at the end of the same kernel with plain f32 FMAs (x, and φ as the f32 copy the
 *    prep writes), behind a workgroupUniformLoad of the flag: no second dispatch, no CPU sync.
 *  - Σx² is accumulated in f32 from the exact x values, as in the scalar kernel.
 * Determinism: every reduction (k-split partials, the Σx² lanes) is summed in a fixed order; the
 * only atomics are integer ORs of flags.
 *
 * Work split: one workgroup of 256 invocations (8 subgroups of 32) per TN = 32 tokens (16 as an
 * option), walking K in tiles of TK = 256. Each invocation loads TN/8 × 16 bytes of x per tile (the
 * next tile is prefetched into registers while the current one is multiplied). Subgroup g owns
 * result block (row block r, column block c) over a k-split h of each tile: at TN = 32, 2 row
 * blocks × 2 column blocks (M ≤ 32) × 2 k-splits; the k-splits are added in order at the end.
 */
export const MMA_TN = 32;
export const MMA_TK = 256;
/**
 * Fewest tokens for which the matrix path is taken: below, preparing φ (a fixed cost a call) and
 * one workgroup per 32 tokens walking all of K cost more than the f32 path's FMAs. Measured on an
 * H200 (bench/results/webgpu-mhc-h200-2026-11-27.md): coeffs forward at 1024×4×4096 0.322 ms on
 * this path against 0.149 ms on the f32 one; at 8192×4×4096 0.565 against 0.593.
 */
export const MMA_MIN_TOKENS = 8192;
const WG = 256;
/** Row stride of the staged x tile in halves: 8 halves (16 bytes) of padding put the 16 rows that
 * one matrix load reads in different banks (a 512-byte stride would put them all in the same). */
const XS = MMA_TK + 8;

/**
 * Which coeffs forward a backend runs where a call is eligible: 'subgroup-matrix' (this file, on
 * the matrix units), 'split' (coeffs-split.wgsl.ts), 'scalar' (coeffs.wgsl.ts, every call). A call
 * the chosen path cannot take runs 'split' where it can, else 'scalar'.
 */
export type CoeffsPath = 'subgroup-matrix' | 'split' | 'scalar';

/** The memory layouts WGSL's subgroup-matrix loads and stores name (the kernel uses row_major). */
export type MatrixLayout = 'row_major' | 'col_major';

/** Options of the forward kernel (the defaults are the production kernel). */
export interface MmaOptions {
  /** Keep f16 subnormals out of the operands (see smallConst). */
  normalOnly?: boolean;
  /** Tokens per workgroup. */
  tokens?: 16 | 32;
  /** Tiles loaded ahead (registers: 4 × 16 bytes each at TN = 32). */
  prefetch?: 1 | 2;
  /** Benchmark ablations: drop the matrix products, the x staging, or both (wrong results). */
  ablate?: 'no-mma' | 'no-stage' | 'loads-only';
  /** Fewest tokens for the matrix path (default MMA_MIN_TOKENS; 0: every N, as the checks do). */
  minTokens?: number;
}

/** What the device offers for the matrix path (see device.ts). */
export interface MmaDeviceSupport {
  /** 'chromium-experimental-subgroup-matrix' was granted, with an f16 16×16×16 → f32 config. */
  subgroupMatrixF16: boolean;
  shaderF16: boolean;
  /** The adapter's subgroup size range: the kernel assumes 32-wide subgroups. */
  subgroupMinSize: number;
  subgroupMaxSize: number;
  maxStorageBuffersPerShaderStage: number;
  maxComputeWorkgroupStorageSize: number;
}

/** Column blocks of 16 and the padded column count of the prepared φ. */
export function mmaShape(hc: number, TN = MMA_TN) {
  const { M } = coeffsShape(hc);
  const CB = Math.ceil(M / 16);
  const MP = 16 * CB;
  const RB = TN / 16;
  const KS = 8 / (RB * CB);
  return { M, CB, MP, RB, KS };
}

/** Layout of the f32 `coef` buffer of the matrix path: coef (b, alphas), then what the φ kernels
 * write: 2^-s_j, 2^s_j, a bad flag per column, a lo flag per K chunk, and φ itself as f32 [K, M]
 * for the exact fallback (so the forward needs no binding of the original φ: 8 storage buffers,
 * WebGPU's default limit). */
export function mmaAux(hc: number, K: number) {
  const { M, MP } = mmaShape(hc);
  const CS = M + 3;
  const CSU = CS + MP;
  const BAD = CSU + MP;
  const CH = BAD + MP;
  const PHI = CH + Math.ceil(K / MMA_TK);
  return { CS, CSU, BAD, CH, PHI, len: PHI + K * M };
}

/** Workgroup bytes of the forward kernel (x hi + lo tiles, the result/reduction scratch, the mix). */
export function mmaWorkgroupBytes(hc: number): number {
  const { M } = mmaShape(hc);
  return 2 * MMA_TN * XS * 2 + 8 * 256 * 4 + MMA_TN * M * 4 + 256;
}

/**
 * Why a call cannot take the matrix path, or null when it can. Pure, so the gating is tested on
 * machines without the feature (lavapipe, SwiftShader).
 */
export function coeffsMmaBlocker(
  dev: MmaDeviceSupport | null,
  hc: number,
  xd: DType,
  pd: DType,
  K: number,
  N = Number.POSITIVE_INFINITY,
  minTokens = MMA_MIN_TOKENS,
): string | null {
  if (!dev) return 'disabled';
  if (!dev.subgroupMatrixF16) return 'no subgroup-matrix f16 16x16x16 config';
  if (!dev.shaderF16) return 'no shader-f16';
  if (dev.subgroupMinSize !== 32 || dev.subgroupMaxSize !== 32) return 'subgroup size is not 32';
  if (dev.maxStorageBuffersPerShaderStage < 8) return 'fewer than 8 storage buffers per stage';
  if (!isHalf(xd) || !isHalf(pd)) return 'x and phi must both be bf16/f16';
  const { M } = mmaShape(hc);
  if (M > 32) return 'more than 32 coefficients (hc > 4)';
  // Rows of x are read as vec4<u32> (8 halves): each row must start on 16 bytes.
  if (K % 8 !== 0 || K === 0) return 'K not a multiple of 8';
  if (dev.maxComputeWorkgroupStorageSize < mmaWorkgroupBytes(hc)) return 'workgroup storage too small';
  if (N < minTokens) return `fewer than ${minTokens} tokens (the f32 path is faster there)`;
  return null;
}

const DIRECTIVES = `enable f16;
enable chromium_experimental_subgroup_matrix;
// Subgroup-matrix calls must be subgroup-uniform; Tint's analysis cannot see that ours are (they
// branch on the subgroup index and on flags that every invocation reads after a barrier).
diagnostic(off, chromium.subgroup_matrix_uniformity);
`;

/**
 * WGSL `const SMALL`: values with |v| < SMALL go to lo, the rest to hi. 2^-17 by default: every
 * bf16 value of at least 2^-17 is an f16 (normal, or subnormal with its 8 significant bits intact),
 * so hi = f16(v) is exact; that relies on the conversion and the matrix units keeping f16
 * subnormals (NVIDIA's do; the benchmark checks it). `normalOnly` (2^-14) keeps subnormals out of
 * the f16 operands altogether, at the price of more tiles taking the lo pass.
 *
 * The split is decided on v itself, never by comparing v with unpack(pack(v)): compilers may fold
 * that round trip to v (Mesa's does), which would hide every rounding.
 */
function smallConst(normalOnly: boolean): string {
  return `const SMALL = ${normalOnly ? '6.103515625e-5' : '7.62939453125e-6'};
`;
}

/** WGSL: a u32 word of two halves as vec2<f32> (exact). */
function decode(dt: DType, w: string): string {
  return dt === 'bf16'
    ? `vec2<f32>(bitcast<f32>(${w} << 16u), bitcast<f32>(${w} & 0xffff0000u))`
    : `unpack2x16float(${w})`;
}

/**
 * φ prep 1: per column j (one workgroup each, MP of them), the largest f32 exponent over K gives
 * s_j = 142 - emax (so max|φ_j|·2^s_j < 2^16, i.e. <= 65280 for bf16 and 65504 for f16), clamped
 * to ±100 so 2^±s stays a normal f32. Writes 2^-s_j, 2^s_j and the column's inf/NaN flag.
 * Params: 1 K.
 */
export function mmaPhiScaleKernel(hc: number, pd: DType, K: number): KernelDef {
  const { M } = mmaShape(hc);
  const A = mmaAux(hc, K);
  return {
    key: `coeffs_mma_phi_scale:${hc}:${pd}`,
    bufs: [
      { name: 'phi', dtype: pd, access: 'read' },
      { name: 'aux', dtype: 'f32', access: 'rw' },
    ],
    body: `
var<workgroup> red: array<u32, 256>;
@compute @workgroup_size(256)
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  let j = wg_lin;
  let K = pu(1u);
  var e = 0u;
  if (j < ${M}u) {
    for (var k = lid; k < K; k += 256u) { e = max(e, (bitcast<u32>(ld_phi(k * ${M}u + j)) >> 23u) & 0xffu); }
  }
  red[lid] = e;
  for (var s = 128u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
  }
  if (lid == 0u) {
    let emax = red[0];
    let s = clamp(142 - i32(emax), -100, 100);
    aux[${A.CS}u + j] = bitcast<f32>(u32(127 - s) << 23u);
    aux[${A.CSU}u + j] = bitcast<f32>(u32(127 + s) << 23u);
    aux[${A.BAD}u + j] = select(0.0, 1.0, emax == 255u);
  }
}
`,
  };
}

/** K padded to whole tiles: the prepared φ has KP rows (zeros past K). */
export const mmaKP = (K: number): number => Math.ceil(K / MMA_TK) * MMA_TK;

/**
 * φ prep 2: one workgroup per 256-row chunk of KP; invocation k splits row k of φ·2^s (columns
 * padded to MP and rows to KP with zeros) into hi (phl[k·MP + j]) and lo (phl[KP·MP + k·MP + j],
 * ×2^24), and the chunk's
 * flag says whether any lo is non-zero. It also copies row k of φ as f32 into aux (the fallback's
 * φ). Params: 1 K.
 */
export function mmaPhiSplitKernel(hc: number, pd: DType, K: number, normalOnly = false): KernelDef {
  const { M, MP } = mmaShape(hc);
  const A = mmaAux(hc, K);
  const col = (j: number) => (j < M ? `p${j} * aux[${A.CSU + j}u]` : '0.0');
  return {
    key: `coeffs_mma_phi_split:${hc}:${pd}:${normalOnly}`,
    directives: 'enable f16;\n',
    bufs: [
      { name: 'phi', dtype: pd, access: 'read' },
      { name: 'aux', dtype: 'f32', access: 'rw' },
      { name: 'phl', dtype: 'f16', access: 'rw', wgsl: 'f16' },
    ],
    body: `
${smallConst(normalOnly)}
var<workgroup> anyLo: atomic<u32>;
@compute @workgroup_size(256)
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  let chunk = wg_lin;
  let K = pu(1u);
  let KP = (K + 255u) / 256u * 256u;
  let k = chunk * 256u + lid;
  let inK = k < K;
  var lo = false;
  ${U(M, (j) => `var p${j} = 0.0;`, ' ')}
  if (inK) {
    ${U(M, (j) => `p${j} = ld_phi(k * ${M}u + ${j}u); aux[${A.PHI}u + k * ${M}u + ${j}u] = p${j};`, '\n    ')}
  }
  ${U(
    MP / 2,
    (q) => `{
    let v = vec2<f32>(${col(2 * q)}, ${col(2 * q + 1)});
    let small = abs(v) < vec2<f32>(SMALL);
    lo = lo | any(small & (v != vec2<f32>(0.0)));
    let h = bitcast<vec2<f16>>(pack2x16float(select(v, vec2<f32>(0.0), small)));
    let l = bitcast<vec2<f16>>(pack2x16float(select(vec2<f32>(0.0), v, small) * 16777216.0));
    phl[k * ${MP}u + ${2 * q}u] = h.x;
    phl[k * ${MP}u + ${2 * q + 1}u] = h.y;
    phl[(KP + k) * ${MP}u + ${2 * q}u] = l.x;
    phl[(KP + k) * ${MP}u + ${2 * q + 1}u] = l.y;
  }`,
  )}
  if (lo) { atomicOr(&anyLo, 1u); }
  workgroupBarrier();
  if (lid == 0u) { aux[${A.CH}u + chunk] = f32(atomicLoad(&anyLo)); }
}
`,
  };
}

/**
 * The forward (see the file comment). Bindings: x as vec4<u32> (8 halves), phl (prepared f16
 * hi/lo), coef (the aux layout above, with the f32 φ of the fallback), then the outputs as in
 * coeffsForwardKernel. Params as coeffsForwardKernel: 0 N, 1 K, 3 tmax, 4 rmsEps, 5 preEps,
 * 6 sinkhornEps, 7 postMult.
 */
export function coeffsForwardMmaKernel(
  hc: number,
  xd: DType,
  pd: DType,
  K: number,
  save: 'none' | 'history' | 'recompute',
  o: MmaOptions = {},
): KernelDef {
  const normalOnly = !!o.normalOnly;
  const TN = o.tokens ?? MMA_TN;
  const noMma = o.ablate === 'no-mma' || o.ablate === 'loads-only';
  const noStage = o.ablate === 'no-stage' || o.ablate === 'loads-only';
  // Tiles of x in flight per invocation beyond the one being staged.
  const PF = o.prefetch ?? 1;
  const { M, MP, RB, CB, KS } = mmaShape(hc, TN);
  const A = mmaAux(hc, K);
  const Q = TN / 8; // x rows loaded per invocation and tile (tokens sg + 8q)
  const SPS = MMA_TK / 16 / KS; // 16-deep k steps per subgroup and tile
  const left = 'subgroup_matrix_left<f16, 16, 16>';
  const right = 'subgroup_matrix_right<f16, 16, 16>';
  const ldA = (buf: string) =>
    `subgroupMatrixLoad<${left}, row_major>(&${buf}, r * ${16 * XS}u + kk, ${XS}u)`;
  const ldB = (lo: boolean) =>
    `subgroupMatrixLoad<${right}, row_major>(&phl, ${lo ? 'KMP + ' : ''}(kb + kk) * ${MP}u + c * 16u, ${MP}u)`;
  const step = (s: number, body: string) => `{
      let kk = (h * ${SPS}u + ${s}u) * 16u;
      ${body}
    }`;
  const fastSteps = U(
    SPS,
    (s) =>
      step(
        s,
        `let a = ${ldA('xh')};
      let b = ${ldB(false)};
      A0 = subgroupMatrixMultiplyAccumulate(a, b, A0);`,
      ),
    '\n    ',
  );
  const loSteps = U(
    SPS,
    (s) =>
      step(
        s,
        `let a = ${ldA('xh')};
      let b = ${ldB(false)};
      A0 = subgroupMatrixMultiplyAccumulate(a, b, A0);
      if (fx) {
        let al = ${ldA('xl')};
        A1 = subgroupMatrixMultiplyAccumulate(al, b, A1);
        if (fp) {
          let bl = ${ldB(true)};
          A1 = subgroupMatrixMultiplyAccumulate(a, bl, A1);
          A2 = subgroupMatrixMultiplyAccumulate(al, bl, A2);
        }
      } else if (fp) {
        let bl = ${ldB(true)};
        A1 = subgroupMatrixMultiplyAccumulate(a, bl, A1);
      }`,
      ),
    '\n    ',
  );
  // Staging of this invocation's 4 words of row q: f16(x) to xh, Σx², max|x|, and whether any value
  // is small (|x| < SMALL, not 0): then the tile takes the lo pass, which rewrites xh and xl.
  const stageHi = U(
    Q,
    (q) => `{
      let base = (sg + ${8 * q}u) * ${XS}u + lane * 8u;
      ${U(
        4,
        (e) => `{
        let v = ${decode(xd, `cur${q}[${e}]`)};
        let a = abs(v);
        miss = miss | any((a < vec2<f32>(SMALL)) & (a > vec2<f32>(0.0)));
        ss${q} += v.x * v.x + v.y * v.y;
        mx = max(mx, max(a.x, a.y));
        ${
          noStage
            ? ''
            : `let hh = bitcast<vec2<f16>>(pack2x16float(v));
        xh[base + ${2 * e}u] = hh.x;
        xh[base + ${2 * e + 1}u] = hh.y;`
        }
      }`,
        '\n      ',
      )}
    }`,
    '\n    ',
  );
  const stageLo = U(
    Q,
    (q) => `{
        let base = (sg + ${8 * q}u) * ${XS}u + lane * 8u;
        ${U(
          4,
          (e) => `{
          let v = ${decode(xd, `cur${q}[${e}]`)};
          let small = abs(v) < vec2<f32>(SMALL);
          let hh = bitcast<vec2<f16>>(pack2x16float(select(v, vec2<f32>(0.0), small)));
          let lh = bitcast<vec2<f16>>(pack2x16float(select(vec2<f32>(0.0), v, small) * 16777216.0));
          xh[base + ${2 * e}u] = hh.x;
          xh[base + ${2 * e + 1}u] = hh.y;
          xl[base + ${2 * e}u] = lh.x;
          xl[base + ${2 * e + 1}u] = lh.y;
        }`,
          '\n        ',
        )}
      }`,
    '\n      ',
  );
  // One round of the combine: accumulator `acc` of every subgroup to `res`, then each (token, column)
  // sums its KS k-splits in order into macc (scaled by `factor`).
  const combine = (acc: string, first: boolean, factor: string) => `
  subgroupMatrixStore<row_major>(&res, sg * 256u, ${acc}, 16u);
  workgroupBarrier();
  for (var e = lid; e < ${TN * M}u; e += ${WG}u) {
    let t = e / ${M}u;
    let j = e % ${M}u;
    let o = ((t / 16u) + ${RB}u * (j / 16u)) * 256u + (t % 16u) * 16u + (j % 16u);
    let s = ${U(KS, (h) => `res[o + ${h * RB * CB * 256}u]`, ' + ')};
    macc[e] = ${first ? 's' : `macc[e] + s * ${factor}`};
  }
  workgroupBarrier();`;
  const dec = (w: string) => decode(xd, w);
  // Tile `it` of row q: this invocation's 16 bytes, zero past N or K.
  const ldx = (q: number, it: string) =>
    `select(vec4<u32>(0u), x[row${q} + min(${it} * ${MMA_TK / 8}u + lane, KV - 1u)], ok${q} && ${it} * ${MMA_TK / 8}u + lane < KV)`;
  return {
    key: `coeffs_fwd_mma:${hc}:${xd}:${pd}:${save}:${normalOnly}:${TN}:${PF}:${o.ablate ?? ''}`,
    directives: DIRECTIVES,
    bufs: [
      { name: 'x', dtype: xd, access: 'read', wgsl: 'vec4<u32>' },
      { name: 'phl', dtype: 'f16', access: 'read', wgsl: 'f16' },
      ...COEFFS_FWD_OUT,
    ],
    body: `
${smallConst(normalOnly)}
const HC = ${hc}u;
const HH = ${hc * hc}u;
const M = ${M}u;
var<workgroup> xh: array<f16, ${TN * XS}>;
var<workgroup> xl: array<f16, ${TN * XS}>;
var<workgroup> res: array<f32, ${8 * 256}>;
var<workgroup> macc: array<f32, ${Math.ceil((TN * M) / 32) * 32}>;
// Flags (0: this tile needs the lo pass, 1: fall back to f32) and the uniform copy of the fallback
// flag. Every workgroup variable is a multiple of 128 bytes: measured on an H200, matrix loads from
// an array placed after three lone u32 flags (12 bytes) read 6 halves too early, i.e. from the
// 16-byte-aligned address below it, while plain loads and stores used the real one.
var<workgroup> fl: array<atomic<u32>, 32>;
var<workgroup> fov_u: array<u32, 32>;
@compute @workgroup_size(${WG})
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  let N = pu(0u);
  let K = pu(1u);
  let tok0 = wg_lin * ${TN}u;
  if (tok0 >= N) { return; }
  let sg = lid >> 5u;
  let lane = lid & 31u;
  let r = sg % ${RB}u;
  let c = (sg / ${RB}u) % ${CB}u;
  let h = sg / ${RB * CB}u;
  let NIT = (K + ${MMA_TK - 1}u) / ${MMA_TK}u;
  let KMP = NIT * ${MMA_TK * MP}u;
  let KV = K / 8u;
  // Rows past N and words past K (the last tile of a K that is not a multiple of 256) read valid
  // memory and are zeroed: they add nothing, and rows past N are never written.
  ${U(
    Q,
    (q) => `let ok${q} = tok0 + sg + ${8 * q}u < N;
  let row${q} = min(tok0 + sg + ${8 * q}u, N - 1u) * KV;
  var cur${q} = ${ldx(q, '0u')};${
    PF === 2
      ? `
  var pf${q} = ${ldx(q, '1u')};`
      : ''
  }
  var ss${q} = 0.0;`,
  )}
  var mx = 0.0;
  var A0 = subgroup_matrix_result<f32, 16, 16>();
  var A1 = subgroup_matrix_result<f32, 16, 16>();
  var A2 = subgroup_matrix_result<f32, 16, 16>();
  for (var it = 0u; it < NIT; it++) {
    var miss = false;
    ${stageHi}
    if (miss) { atomicOr(&fl[0], 1u); }
    ${U(Q, (q) => `var nxt${q} = vec4<u32>(0u);`, '\n    ')}
    if (it + ${PF}u < NIT) {
      ${U(Q, (q) => `nxt${q} = ${ldx(q, `(it + ${PF}u)`)};`, '\n      ')}
    }
    workgroupBarrier();
    // Every invocation reads the same flag here (all ORs happened before the barrier).
    let fx = atomicLoad(&fl[0]) != 0u;
    if (fx${noStage ? ' && false' : ''}) {
      ${stageLo}
    }
    workgroupBarrier();
    if (lid == 0u) { atomicStore(&fl[0], 0u); }
    let fp = coef[${A.CH}u + it] != 0.0;
    let kb = it * ${MMA_TK}u;
    ${
      noMma
        ? ''
        : `if (!fx && !fp) {
    ${fastSteps}
    } else {
    ${loSteps}
    }`
    }
    workgroupBarrier();
    ${U(Q, (q) => (PF === 2 ? `cur${q} = pf${q}; pf${q} = nxt${q};` : `cur${q} = nxt${q};`), ' ')}
  }
  // |x| > 65504 or inf (mx), NaN (Σx²; max() may drop a NaN): the tile takes the f32 fallback.
  if (!(mx <= 65504.0) || !(ss0${U(Q - 1, (q) => ` + ss${q + 1}`, '')} <= 3.0e38)) { atomicOr(&fl[1], 1u); }
  ${combine('A0', true, '')}
  ${combine('A1', false, '5.9604644775390625e-8')}
  ${combine('A2', false, '3.552713678800501e-15')}
  // Σx² partials of the tile's tokens (token sg + 8q, lane) to res, and the fallback flag.
  ${U(Q, (q) => `res[(sg + ${8 * q}u) * 32u + lane] = ss${q};`, ' ')}
  if (lid == 0u) {
    var bad = atomicLoad(&fl[1]);
    for (var j = 0u; j < M; j++) { if (coef[${A.BAD}u + j] != 0.0) { bad = 1u; } }
    fov_u[0] = bad;
  }
  let ov = workgroupUniformLoad(&fov_u[0]) != 0u;
  var ssv = 0.0;
  if (lid < ${TN}u) { for (var i = 0u; i < 32u; i++) { ssv += res[lid * 32u + i]; } }
  if (ov) {
    // Some value of this tile (or of φ) is outside what the f16 split represents: x·φ again in f32,
    // one column at a time (rare, so short code beats speed here).
    for (var j = 0u; j < M; j++) {
      workgroupBarrier();
      ${U(Q, (q) => `var p${q} = 0.0;`, ' ')}
      for (var it = 0u; it < NIT; it++) {
        // Past K the f32 φ copy ends (what follows is not φ, and 0·NaN is NaN): skip.
        if (it * ${MMA_TK / 8}u + lane >= KV) { continue; }
        let k = it * ${MMA_TK}u + lane * 8u;
        ${U(
          Q,
          (q) => `{
          let w = ${ldx(q, 'it')};
          ${U(4, (e) => `{ let v = ${dec(`w[${e}]`)}; p${q} += v.x * coef[${A.PHI}u + (k + ${2 * e}u) * M + j] + v.y * coef[${A.PHI}u + (k + ${2 * e + 1}u) * M + j]; }`, '\n          ')}
        }`,
          '\n        ',
        )}
      }
      ${U(Q, (q) => `res[(sg + ${8 * q}u) * 32u + lane] = p${q};`, ' ')}
      workgroupBarrier();
      if (lid < ${TN}u) {
        var s = 0.0;
        for (var i = 0u; i < 32u; i++) { s += res[lid * 32u + i]; }
        macc[lid * M + j] = s;
      }
    }
  }
  workgroupBarrier();
  let n = tok0 + lid;
  if (lid >= ${TN}u || n >= N) { return; }
  let invr = inverseSqrt(ssv / f32(K) + pf(4u));
  var mix: array<f32, ${M}>;
  ${U(M, (m) => `mix[${m}] = macc[lid * M + ${m}u] * select(coef[${A.CS + m}u], 1.0, ov) * invr;`, '\n  ')}
  ${tokenEpilogue(hc, save)}
}
`,
  };
}
