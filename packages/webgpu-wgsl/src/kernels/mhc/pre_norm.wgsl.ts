import type { DType } from '@liger-mhc/core';
import type { KernelDef } from '../../backend.js';
import { kernelParams } from '../../kernel-params.js';
import { ENTRY_ARGS, LINEAR_WG } from '../wgsl-lib.js';
import { U } from './common.js';

/**
 * pre with the layer's weighted RMSNorm fused in, one workgroup per token:
 *   s = Σ_i hPre[i]·x[i],  rstd = 1/sqrt(mean(s²) + eps),  y = s·rstd·w.
 * s stays in f32 (recomputed in the second loop rather than kept: a row of c f32 may not fit the
 * workgroup memory). Params: PRE_NORM_PARAMS.
 */
export const PRE_NORM_WG = 128;

export const PRE_NORM_PARAMS = kernelParams({ N: 'u32', c: 'u32', eps: 'f32' });
export const PRE_NORM_WEIGHT_GRAD_PARAMS = kernelParams({ N: 'u32', c: 'u32' });

function treeSum(rows: number): string {
  const WG = PRE_NORM_WG;
  return `for (var st = ${WG / 2}u; st > 0u; st >>= 1u) {
    if (lid < st) {
      ${U(rows, (r) => `red[${r * WG}u + lid] += red[${r * WG}u + lid + st];`, '\n      ')}
    }
    workgroupBarrier();
  }`;
}

/** WGSL: the pre sum at channel `ch` of token n as f32. */
function preSum(hc: number, ch: string): string {
  return Array.from({ length: hc }, (_, i) => `h${i} * ld_x((n * HC + ${i}u) * c + ${ch})`).join(' + ');
}

export function preNormForwardKernel(
  hc: number,
  xd: DType,
  wd: DType,
  od: DType,
): KernelDef<typeof PRE_NORM_PARAMS.schema> {
  const WG = PRE_NORM_WG;
  return {
    params: PRE_NORM_PARAMS,
    key: `pre_norm_fwd:${hc}:${xd}:${wd}:${od}`,
    bufs: [
      { name: 'x', dtype: xd, access: 'read' },
      { name: 'h', dtype: 'f32', access: 'read' },
      { name: 'w', dtype: wd, access: 'read' },
      { name: 'y', dtype: od, access: 'rw' },
      { name: 'rs', dtype: 'f32', access: 'rw' },
    ],
    body: `
const HC = ${hc}u;
var<workgroup> red: array<f32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  let n = wg_lin;
  if (n >= params.N) { return; }
  let c = params.c;
  ${U(hc, (i) => `let h${i} = h[n * HC + ${i}u];`)}
  var ss = 0.0;
  for (var ch = lid; ch < c; ch += ${WG}u) {
    let s = ${preSum(hc, 'ch')};
    ss += s * s;
  }
  red[lid] = ss;
  workgroupBarrier();
  ${treeSum(1)}
  let r = inverseSqrt(red[0] / f32(c) + params.eps);
  if (lid == 0u) { rs[n] = r; }
  let cp = (c + 1u) / 2u;
  for (var j = lid; j < cp; j += ${WG}u) {
    let ch = 2u * j;
    let second = ch + 1u < c;
    let ch2 = select(ch, ch + 1u, second);
    let s = vec2<f32>(${preSum(hc, 'ch')}, ${preSum(hc, 'ch2')});
    st2_y(n * c + ch, s * r * vec2<f32>(ld_w(ch), ld_w(ch2)), second);
  }
}
`,
  };
}

/**
 * Backward per token, with u = s·rstd and gu = gy·w:  gs = rstd·(gu - u·mean(gu·u)),
 * gradX[i] = hPre[i]·gs, gradHPre[i] = Σ_ch gs·x[i]. rstd is recomputed from x (as the forward
 * computed it). Params: PRE_NORM_PARAMS.
 */
export function preNormBackwardKernel(
  hc: number,
  gd: DType,
  xd: DType,
  wd: DType,
  od: DType,
): KernelDef<typeof PRE_NORM_PARAMS.schema> {
  const WG = PRE_NORM_WG;
  return {
    params: PRE_NORM_PARAMS,
    key: `pre_norm_bwd:${hc}:${gd}:${xd}:${wd}:${od}`,
    bufs: [
      { name: 'g', dtype: gd, access: 'read' },
      { name: 'x', dtype: xd, access: 'read' },
      { name: 'h', dtype: 'f32', access: 'read' },
      { name: 'w', dtype: wd, access: 'read' },
      { name: 'gx', dtype: od, access: 'rw' },
      { name: 'gh', dtype: 'f32', access: 'rw' },
    ],
    body: `
const HC = ${hc}u;
var<workgroup> red: array<f32, ${WG * Math.max(2, hc)}>;
@compute @workgroup_size(${WG})
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  let n = wg_lin;
  if (n >= params.N) { return; }
  let c = params.c;
  ${U(hc, (i) => `let h${i} = h[n * HC + ${i}u];`)}
  var ss = 0.0;
  var gd = 0.0;
  for (var ch = lid; ch < c; ch += ${WG}u) {
    let s = ${preSum(hc, 'ch')};
    ss += s * s;
    gd += ld_g(n * c + ch) * ld_w(ch) * s;
  }
  red[lid] = ss;
  red[${WG}u + lid] = gd;
  workgroupBarrier();
  ${treeSum(2)}
  let r = inverseSqrt(red[0] / f32(c) + params.eps);
  let mean = red[${WG}u] * r / f32(c);
  workgroupBarrier();
  ${U(hc, (i) => `var a${i} = 0.0;`)}
  let cp = (c + 1u) / 2u;
  for (var j = lid; j < cp; j += ${WG}u) {
    let ch = 2u * j;
    let second = ch + 1u < c;
    let ch2 = select(ch, ch + 1u, second);
    let s = vec2<f32>(${preSum(hc, 'ch')}, ${preSum(hc, 'ch2')});
    let gu = vec2<f32>(ld_g(n * c + ch), ld_g(n * c + ch2)) * vec2<f32>(ld_w(ch), ld_w(ch2));
    let gs = r * (gu - s * r * mean);
    let gsm = select(vec2<f32>(gs.x, 0.0), gs, second);
    ${U(
      hc,
      (i) => `{
      let b = (n * HC + ${i}u) * c;
      st2_gx(b + ch, h${i} * gs, second);
      a${i} += dot(gsm, vec2<f32>(ld_x(b + ch), ld_x(b + ch2)));
    }`,
      '\n    ',
    )}
  }
  ${U(hc, (i) => `red[${i * WG}u + lid] = a${i};`)}
  workgroupBarrier();
  ${treeSum(hc)}
  if (lid == 0u) {
    ${U(hc, (i) => `gh[n * HC + ${i}u] = red[${i * WG}u];`, '\n    ')}
  }
}
`,
  };
}

/**
 * gradWeight[ch] = Σ_n gy[n, ch]·s[n, ch]·rstd[n], one workgroup per channel: threads stride over
 * tokens (s recomputed from x), then a fixed-order tree sum.
 */
export function preNormWeightGradKernel(
  hc: number,
  gd: DType,
  xd: DType,
): KernelDef<typeof PRE_NORM_WEIGHT_GRAD_PARAMS.schema> {
  const WG = PRE_NORM_WG;
  return {
    params: PRE_NORM_WEIGHT_GRAD_PARAMS,
    key: `pre_norm_wgrad:${hc}:${gd}:${xd}`,
    bufs: [
      { name: 'g', dtype: gd, access: 'read' },
      { name: 'x', dtype: xd, access: 'read' },
      { name: 'h', dtype: 'f32', access: 'read' },
      { name: 'rs', dtype: 'f32', access: 'read' },
      { name: 'gw', dtype: 'f32', access: 'rw' },
    ],
    body: `
const HC = ${hc}u;
var<workgroup> red: array<f32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  let ch = wg_lin;
  let N = params.N;
  let c = params.c;
  if (ch >= c) { return; }
  var acc = 0.0;
  for (var n = lid; n < N; n += ${WG}u) {
    ${U(hc, (i) => `let h${i} = h[n * HC + ${i}u];`, '\n    ')}
    acc += ld_g(n * c + ch) * (${preSum(hc, 'ch')}) * rs[n];
  }
  red[lid] = acc;
  workgroupBarrier();
  ${treeSum(1)}
  if (lid == 0u) { gw[ch] = red[0]; }
}
`,
  };
}
