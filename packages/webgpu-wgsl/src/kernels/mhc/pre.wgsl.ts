import type { DType } from '@liger-mhc/core';
import type { KernelDef } from '../../backend.js';
import { ENTRY_ARGS, LINEAR_WG } from '../wgsl-lib.js';
import { halves8, pack8, pair, ROW_BACKWARD_PARAMS, ROW_PARAMS, ROW_UNIT, ROW_UNIT_WG, U } from './common.js';

/**
 * pre: xIn[n, :] = Σ_s hPre[n, s] · x[n, s, :]  (forward), and its backward
 *   gradX[n, s, :] = hPre[n, s] · g[n, :],   gradHPre[n, s] = Σ_ch g[n, ch] · x[n, s, ch].
 * Params: ROW_PARAMS (forward), ROW_BACKWARD_PARAMS (backward).
 */

/** One thread per output pair; streams summed in index order. */
export function preForwardKernel(
  hc: number,
  xd: DType,
  hd: DType,
  od: DType,
  c: number,
): KernelDef<typeof ROW_PARAMS.schema> {
  const aligned = c % 2 === 0;
  return {
    params: ROW_PARAMS,
    key: `pre_fwd:${hc}:${xd}:${hd}:${od}:${aligned}`,
    bufs: [
      { name: 'x', dtype: xd, access: 'read' },
      { name: 'h', dtype: hd, access: 'read' },
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
  var acc = vec2<f32>(0.0);
  for (var s = 0u; s < HC; s++) {
    acc += ld_h(n * HC + s) * ${pair('x', xd, '(n * HC + s) * c + ch', 'second', aligned)};
  }
  st2_o(n * c + ch, acc, second);
}
`,
  };
}

/**
 * WGSL: the 8 outputs of one 16-byte piece, Σ_s h(s)·x_s with x_s the 8 halves of the vec4<u32>
 * named xw(s), streams summed in index order (as the pair kernel does). The fused pre of the split
 * coeffs forward uses it too, so both give the same bits.
 */
export function preSum8(
  hc: number,
  xd: DType,
  h: (s: number) => string,
  xw: (s: number) => string,
): string[] {
  return Array.from({ length: 8 }, (_, e) => {
    let acc = `${h(0)} * ${halves8(xd, xw(0))[e]}`;
    for (let s = 1; s < hc; s++) acc = `(${acc}) + ${h(s)} * ${halves8(xd, xw(s))[e]}`;
    return acc;
  });
}

/**
 * The same forward on 16-byte pieces (8 halves) of x and the output, for half tensors with c a
 * multiple of 8 (common.ts `wide`): one thread per (token, piece). Params: 0 N, 1 c, 2 pieces per
 * row c/8, 3 N·pieces.
 */
export function preForwardWideKernel(
  hc: number,
  xd: DType,
  hd: DType,
  od: DType,
): KernelDef<typeof ROW_PARAMS.schema> {
  return {
    params: ROW_PARAMS,
    key: `pre_fwd_wide:${hc}:${xd}:${hd}:${od}`,
    bufs: [
      { name: 'x', dtype: xd, access: 'read', wgsl: 'vec4<u32>' },
      { name: 'h', dtype: hd, access: 'read' },
      { name: 'o', dtype: od, access: 'rw', wgsl: 'vec4<u32>' },
    ],
    body: `
const HC = ${hc}u;
@compute @workgroup_size(${ROW_UNIT_WG})
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  ${ROW_UNIT}
  ${U(
    hc,
    (s) => `let xw${s} = x[(n * HC + ${s}u) * per + u];
  let h${s} = ld_h(n * HC + ${s}u);`,
  )}
  o[t] = ${pack8(
    od,
    preSum8(
      hc,
      xd,
      (s) => `h${s}`,
      (s) => `xw${s}`,
    ),
  )};
}
`,
  };
}

const PRE_BWD_WG = 128;

/** One workgroup per token: writes gradX while it accumulates the hc dot products for gradHPre. */
export function preBackwardKernel(
  hc: number,
  gd: DType,
  xd: DType,
  hd: DType,
  od: DType,
  c: number,
): KernelDef<typeof ROW_BACKWARD_PARAMS.schema> {
  const aligned = c % 2 === 0;
  const WG = PRE_BWD_WG;
  return {
    params: ROW_BACKWARD_PARAMS,
    key: `pre_bwd:${hc}:${gd}:${xd}:${hd}:${od}:${aligned}`,
    bufs: [
      { name: 'g', dtype: gd, access: 'read' },
      { name: 'x', dtype: xd, access: 'read' },
      { name: 'h', dtype: hd, access: 'read' },
      { name: 'gx', dtype: od, access: 'rw' },
      { name: 'gh', dtype: 'f32', access: 'rw' },
    ],
    body: `
const HC = ${hc}u;
var<workgroup> red: array<f32, ${WG * hc}>;
@compute @workgroup_size(${WG})
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  let n = wg_lin;
  if (n >= params.N) { return; }
  let c = params.c;
  let cp = params.pairs;
  ${U(hc, (s) => `let h${s} = ld_h(n * HC + ${s}u);\n  var a${s} = 0.0;`)}
  for (var j = lid; j < cp; j += ${WG}u) {
    let ch = 2u * j;
    let second = ch + 1u < c;
    let gv = ${pair('g', gd, 'n * c + ch', 'second', aligned)};
    ${U(
      hc,
      (s) => `{
      let i = (n * HC + ${s}u) * c + ch;
      st2_gx(i, h${s} * gv, second);
      a${s} += dot(gv, ${pair('x', xd, 'i', 'second', aligned)});
    }`,
      '\n    ',
    )}
  }
  ${U(hc, (s) => `red[${s * WG}u + lid] = a${s};`)}
  workgroupBarrier();
  // Row s of red is summed by thread s alone, in index order: one barrier, fixed order.
  if (lid < HC) {
    var t = 0.0;
    for (var i = 0u; i < ${WG}u; i++) { t += red[lid * ${WG}u + i]; }
    gh[n * HC + lid] = t;
  }
}
`,
  };
}
