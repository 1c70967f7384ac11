import type { DType, Orientation } from '@liger-mhc/core';
import type { KernelDef } from '../../backend.js';
import { kernelParams } from '../../kernel-params.js';
import { ENTRY_ARGS, LINEAR_WG } from '../wgsl-lib.js';
import { halves8, pack8, pair, ROW_BACKWARD_PARAMS, ROW_PARAMS, ROW_UNIT, ROW_UNIT_WG, U } from './common.js';

/**
 * post_res: xOut[n, o, :] = Σ_i R[o, i] · x[n, i, :] + hPost[n, o] · f[n, :], with R = hRes[n]
 * ('liger', row-major (out, in)) or its transpose ('deepseek').
 * Params: ROW_PARAMS (forward), ROW_BACKWARD_PARAMS (backward).
 */
/** Flat index of R[o, i] in hRes[n] (row-major (out, in); transposed for 'deepseek'). */
function resIndex(orientation: Orientation, hc: number, o: number, i: number): number {
  return orientation === 'liger' ? o * hc + i : i * hc + o;
}

/** One thread per (token, channel pair): reads every stream once, writes every output stream. */
export function postResForwardKernel(
  hc: number,
  orientation: Orientation,
  xd: DType,
  fd: DType,
  hd: DType,
  od: DType,
  c: number,
): KernelDef<typeof ROW_PARAMS.schema> {
  const aligned = c % 2 === 0;
  return {
    params: ROW_PARAMS,
    key: `post_res_fwd:${hc}:${orientation}:${xd}:${fd}:${hd}:${od}:${aligned}`,
    bufs: [
      { name: 'x', dtype: xd, access: 'read' },
      { name: 'f', dtype: fd, access: 'read' },
      { name: 'hp', dtype: hd, access: 'read' },
      { name: 'hr', dtype: hd, access: 'read' },
      { name: 'o', dtype: od, access: 'rw' },
    ],
    body: `
const HC = ${hc}u;
@compute @workgroup_size(${ROW_UNIT_WG})
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  ${ROW_UNIT}
  let c = params.c;
  let ch = 2u * u;
  let second = ch + 1u < c;
  ${U(hc, (i) => `let x${i} = ${pair('x', xd, `(n * HC + ${i}u) * c + ch`, 'second', aligned)};`)}
  let fv = ${pair('f', fd, 'n * c + ch', 'second', aligned)};
  let hr = n * HC * HC;
  ${U(hc, (o) => `st2_o((n * HC + ${o}u) * c + ch, ld_hp(n * HC + ${o}u) * fv${U(hc, (i) => ` + ld_hr(hr + ${resIndex(orientation, hc, o, i)}u) * x${i}`, '')}, second);`)}
}
`,
  };
}

/** Options of the 16-byte post_res forward (the defaults are the production kernel). */
export interface PostResOptions {
  /**
   * 16-byte pieces per thread (p: pieces u, u + c/(8p), ... of a row; needs c a multiple of 8p).
   * Default 2: on an H200 at 8192x4x4096 and 32768x4x1024, 0.149-0.150 ms against 0.157 for 1
   * (bench/results/webgpu-mhc-h200-2026-11-27-layer.md) and 0.160 for 4 (an earlier call).
   */
  pieces?: 1 | 2 | 4;
  /** Token order ('asc' default): 'desc' starts from the last token (for L2 reuse with the kernel
   * before it; see SplitOptions.preOrder). */
  order?: 'asc' | 'desc';
}

/** The options that apply to a call (the others fall back to the defaults). */
export function postResWideOptions(c: number, o: PostResOptions): PostResOptions {
  return {
    pieces: c % (8 * (o.pieces ?? 2)) === 0 ? (o.pieces ?? 2) : 1,
    order: o.order ?? 'asc',
  };
}

/** ROW_PARAMS with per = threads a row (pieces a row / pieces a thread) and P8 = pieces a row (c/8). */
export const POST_RES_WIDE_PARAMS = kernelParams({ N: 'u32', c: 'u32', per: 'u32', total: 'u32', P8: 'u32' });

/**
 * The same forward on 16-byte pieces (8 halves) of x, f and the output, for half tensors with c a
 * multiple of 8 (common.ts `wide`): one thread per (token, piece) does 16-byte loads and stores,
 * and loads the token's hc + hc² coefficients once per 8 channels instead of once per 2.
 * Params: POST_RES_WIDE_PARAMS.
 */
export function postResForwardWideKernel(
  hc: number,
  orientation: Orientation,
  xd: DType,
  fd: DType,
  hd: DType,
  od: DType,
  opts: PostResOptions = {},
): KernelDef<typeof POST_RES_WIDE_PARAMS.schema> {
  const PT = opts.pieces ?? 1;
  const desc = opts.order === 'desc';
  const xs = (p: number, i: number) => halves8(xd, `xw${p}_${i}`);
  const fs = (p: number) => halves8(fd, `fw${p}`);
  const coefs = `${U(hc, (o) => `let p${o} = ld_hp(nr * HC + ${o}u);`)}
  ${U(hc * hc, (k) => `let r${k} = ld_hr(nr * HC * HC + ${k}u);`)}`;
  const out = (p: number, o: number) =>
    pack8(
      od,
      Array.from(
        { length: 8 },
        (_, e) =>
          `p${o} * ${fs(p)[e]}${U(hc, (i) => ` + r${resIndex(orientation, hc, o, i)} * ${xs(p, i)[e]}`, '')}`,
      ),
    );
  // Every piece's loads come first in the source, so all are in flight before the first store (a
  // compiler may not move a load above a store to another binding: it cannot rule out aliasing).
  const loads = U(
    PT,
    (p) => `let v${p} = u + ${p}u * per;
  ${U(hc, (i) => `let xw${p}_${i} = x[(nr * HC + ${i}u) * P8 + v${p}];`)}
  let fw${p} = f[nr * P8 + v${p}];`,
  );
  const stores = U(PT, (p) => U(hc, (o) => `o[(nr * HC + ${o}u) * P8 + v${p}] = ${out(p, o)};`));
  return {
    params: POST_RES_WIDE_PARAMS,
    key: `post_res_fwd_wide:${hc}:${orientation}:${xd}:${fd}:${hd}:${od}:${PT}:${desc}`,
    bufs: [
      { name: 'x', dtype: xd, access: 'read', wgsl: 'vec4<u32>' },
      { name: 'f', dtype: fd, access: 'read', wgsl: 'vec4<u32>' },
      { name: 'hp', dtype: hd, access: 'read' },
      { name: 'hr', dtype: hd, access: 'read' },
      { name: 'o', dtype: od, access: 'rw', wgsl: 'vec4<u32>' },
    ],
    body: `
const HC = ${hc}u;
@compute @workgroup_size(${ROW_UNIT_WG})
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  ${ROW_UNIT}
  let P8 = params.P8;
  let nr = ${desc ? 'params.N - 1u - n' : 'n'};
  ${loads}
  ${coefs}
  ${stores}
}
`,
  };
}

/**
 * One workgroup per token. gradX[i] = Σ_o R[o, i] g[o], gradF = Σ_o hPost[o] g[o]; the per-token
 * reductions over channels (gradHPost[o] = g[o]·f, gradHRes = g[o]·x[i]) use a fixed tree order.
 * The coefficient gradients go to one f32 buffer [N·hc | N·hc·hc] (the host copies them apart), so
 * the kernel needs 8 storage bindings at most, the WebGPU default limit.
 */
export function postResBackwardKernel(
  hc: number,
  orientation: Orientation,
  gd: DType,
  xd: DType,
  fd: DType,
  hd: DType,
  gxd: DType,
  gfd: DType,
  c: number,
): KernelDef<typeof ROW_BACKWARD_PARAMS.schema> {
  const aligned = c % 2 === 0;
  const q = hc + hc * hc;
  const WG = q <= 32 ? 64 : 32;
  return {
    params: ROW_BACKWARD_PARAMS,
    key: `post_res_bwd:${hc}:${orientation}:${gd}:${xd}:${fd}:${hd}:${gxd}:${gfd}:${aligned}`,
    bufs: [
      { name: 'g', dtype: gd, access: 'read' },
      { name: 'x', dtype: xd, access: 'read' },
      { name: 'f', dtype: fd, access: 'read' },
      { name: 'hp', dtype: hd, access: 'read' },
      { name: 'hr', dtype: hd, access: 'read' },
      { name: 'gx', dtype: gxd, access: 'rw' },
      { name: 'gf', dtype: gfd, access: 'rw' },
      { name: 'gh', dtype: 'f32', access: 'rw' },
    ],
    body: `
const HC = ${hc}u;
const Q = ${q}u;
var<workgroup> red: array<f32, ${WG * q}>;
@compute @workgroup_size(${WG})
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  let n = wg_lin;
  let N = params.N;
  if (n >= N) { return; }
  let c = params.c;
  let cp = params.pairs;
  ${U(hc, (o) => `let hp${o} = ld_hp(n * HC + ${o}u);`)}
  ${U(hc * hc, (k) => `let r${k} = ld_hr(n * HC * HC + ${k}u);`)}
  ${U(q, (k) => `var a${k} = 0.0;`)}
  for (var j = lid; j < cp; j += ${WG}u) {
    let ch = 2u * j;
    let second = ch + 1u < c;
    ${U(hc, (o) => `let g${o} = ${pair('g', gd, `(n * HC + ${o}u) * c + ch`, 'second', aligned)};`, '\n    ')}
    ${U(hc, (i) => `let x${i} = ${pair('x', xd, `(n * HC + ${i}u) * c + ch`, 'second', aligned)};`, '\n    ')}
    let fv = ${pair('f', fd, 'n * c + ch', 'second', aligned)};
    st2_gf(n * c + ch, ${U(hc, (o) => `hp${o} * g${o}`, ' + ')}, second);
    ${U(hc, (o) => `a${o} += dot(g${o}, fv);`, '\n    ')}
    ${U(
      hc * hc,
      (k) => {
        const [o, i] = [Math.floor(k / hc), k % hc];
        return `a${hc + resIndex(orientation, hc, o, i)} += dot(g${o}, x${i});`;
      },
      '\n    ',
    )}
    ${U(hc, (i) => `st2_gx((n * HC + ${i}u) * c + ch, ${U(hc, (o) => `r${resIndex(orientation, hc, o, i)} * g${o}`, ' + ')}, second);`, '\n    ')}
  }
  ${U(q, (k) => `red[${k * WG}u + lid] = a${k};`)}
  workgroupBarrier();
  // Row k of red is summed by thread k alone, in index order: one barrier, fixed order.
  for (var k = lid; k < Q; k += ${WG}u) {
    var s = 0.0;
    for (var t = 0u; t < ${WG}u; t++) { s += red[k * ${WG}u + t]; }
    if (k < HC) { gh[n * HC + k] = s; } else { gh[N * HC + n * HC * HC + k - HC] = s; }
  }
}
`,
  };
}
