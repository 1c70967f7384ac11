import type { DType } from '@liger-mhc/core';
import type { KernelDef } from '../../backend.js';
import { kernelParams } from '../../kernel-params.js';
import { ENTRY_ARGS, LINEAR_WG } from '../wgsl-lib.js';
import { U } from './common.js';

/**
 * head (DeepSeek-V4's hc_head), one workgroup per token:
 *   invr = 1/sqrt(mean(x²) + rmsEps) over the K = hc·c values, mix[s] = (x·φ[s])·invr,
 *   w[s] = σ(mix[s]·scale + base[s]) + eps,   y = Σ_s w[s]·x[s].
 * Reductions go through workgroup memory in a fixed tree order, so results do not depend on timing.
 * `coef` is f32 [hc + 1]: base then scale. `sv` (saved, f32 [N, hc + 1]) holds mix and invr.
 * Params: HEAD_PARAMS (save: 1 to write sv).
 */
export const HEAD_WG = 128;

export const HEAD_PARAMS = kernelParams({
  N: 'u32',
  c: 'u32',
  K: 'u32',
  save: 'u32',
  rmsEps: 'f32',
  eps: 'f32',
});
/** needX: 1 when gradX is wanted (else the kernel stops after the coefficient gradients). */
export const HEAD_BACKWARD_PARAMS = kernelParams({ N: 'u32', c: 'u32', K: 'u32', needX: 'u32', eps: 'f32' });
export const HEAD_PHI_GRAD_PARAMS = kernelParams({ N: 'u32', K: 'u32' });

/** WGSL: tree-sum rows 0..rows-1 of `red` (HEAD_WG wide) into red[r·WG]; ends with a barrier. */
function treeSum(rows: number): string {
  return `for (var st = ${HEAD_WG / 2}u; st > 0u; st >>= 1u) {
    if (lid < st) {
      ${U(rows, (r) => `red[${r * HEAD_WG}u + lid] += red[${r * HEAD_WG}u + lid + st];`, '\n      ')}
    }
    workgroupBarrier();
  }`;
}

export function headForwardKernel(
  hc: number,
  xd: DType,
  pd: DType,
  od: DType,
): KernelDef<typeof HEAD_PARAMS.schema> {
  const WG = HEAD_WG;
  return {
    params: HEAD_PARAMS,
    key: `head_fwd:${hc}:${xd}:${pd}:${od}`,
    bufs: [
      { name: 'x', dtype: xd, access: 'read' },
      { name: 'phi', dtype: pd, access: 'read' },
      { name: 'coef', dtype: 'f32', access: 'read' },
      { name: 'y', dtype: od, access: 'rw' },
      { name: 'wt', dtype: 'f32', access: 'rw' },
      { name: 'sv', dtype: 'f32', access: 'rw' },
    ],
    body: `
const HC = ${hc}u;
var<workgroup> red: array<f32, ${WG * (hc + 1)}>;
@compute @workgroup_size(${WG})
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  let n = wg_lin;
  if (n >= params.N) { return; }
  let c = params.c;
  let K = params.K;
  let xb = n * K;
  var ss = 0.0;
  ${U(hc, (s) => `var d${s} = 0.0;`)}
  for (var k = lid; k < K; k += ${WG}u) {
    let v = ld_x(xb + k);
    ss += v * v;
    ${U(hc, (s) => `d${s} += v * ld_phi(${s}u * K + k);`, '\n    ')}
  }
  red[lid] = ss;
  ${U(hc, (s) => `red[${(s + 1) * WG}u + lid] = d${s};`)}
  workgroupBarrier();
  ${treeSum(hc + 1)}
  let invr = inverseSqrt(red[0] / f32(K) + params.rmsEps);
  let scale = coef[HC];
  ${U(hc, (s) => `let m${s} = red[${(s + 1) * WG}u] * invr;\n  let w${s} = sigmoid_f(m${s} * scale + coef[${s}u]) + params.eps;`)}
  if (lid == 0u) {
    ${U(hc, (s) => `wt[n * HC + ${s}u] = w${s};`, '\n    ')}
    if (params.save == 1u) {
      ${U(hc, (s) => `sv[n * (HC + 1u) + ${s}u] = m${s};`, '\n      ')}
      sv[n * (HC + 1u) + HC] = invr;
    }
  }
  let cp = (c + 1u) / 2u;
  for (var j = lid; j < cp; j += ${WG}u) {
    let ch = 2u * j;
    let second = ch + 1u < c;
    let ch2 = select(ch, ch + 1u, second);
    var acc = vec2<f32>(0.0);
    ${U(hc, (s) => `acc += w${s} * vec2<f32>(ld_x(xb + ${s}u * c + ch), ld_x(xb + ${s}u * c + ch2));`, '\n    ')}
    st2_y(n * c + ch, acc, second);
  }
}
`,
  };
}

/**
 * Backward, per token (one workgroup): gw[s] = Σ_ch gy·x[s], dz[s] = gw[s]·σ'(z[s]),
 * dmix = dz·scale, factor = -(dmix·mix)·invr²/K, then
 *   gradX[s, ch] = w[s]·gy[ch] + factor·x[s, ch] + invr·Σ_t dmix[t]·φ[t, s·c + ch].
 * Per-token rows for the reductions over tokens: tr [N, hc + 1] = (dz, Σ_s dz·mix) for base and
 * scale, gm [N, hc] = dmix·invr for φ. Params: HEAD_BACKWARD_PARAMS.
 */
export function headBackwardKernel(
  hc: number,
  gd: DType,
  xd: DType,
  pd: DType,
  od: DType,
): KernelDef<typeof HEAD_BACKWARD_PARAMS.schema> {
  const WG = HEAD_WG;
  return {
    params: HEAD_BACKWARD_PARAMS,
    key: `head_bwd:${hc}:${gd}:${xd}:${pd}:${od}`,
    bufs: [
      { name: 'g', dtype: gd, access: 'read' },
      { name: 'x', dtype: xd, access: 'read' },
      { name: 'phi', dtype: pd, access: 'read' },
      { name: 'coef', dtype: 'f32', access: 'read' },
      { name: 'sv', dtype: 'f32', access: 'read' },
      { name: 'gx', dtype: od, access: 'rw' },
      { name: 'tr', dtype: 'f32', access: 'rw' },
      { name: 'gm', dtype: 'f32', access: 'rw' },
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
  let K = params.K;
  let xb = n * K;
  ${U(hc, (s) => `var a${s} = 0.0;`)}
  for (var ch = lid; ch < c; ch += ${WG}u) {
    let gv = ld_g(n * c + ch);
    ${U(hc, (s) => `a${s} += gv * ld_x(xb + ${s}u * c + ch);`, '\n    ')}
  }
  ${U(hc, (s) => `red[${s * WG}u + lid] = a${s};`)}
  workgroupBarrier();
  ${treeSum(hc)}
  let scale = coef[HC];
  let invr = sv[n * (HC + 1u) + HC];
  var dd = 0.0;
  var gs = 0.0;
  ${U(
    hc,
    (s) => `let m${s} = sv[n * (HC + 1u) + ${s}u];
  let sg${s} = sigmoid_f(m${s} * scale + coef[${s}u]);
  let w${s} = sg${s} + params.eps;
  let dz${s} = red[${s * WG}u] * sg${s} * (1.0 - sg${s});
  let dm${s} = dz${s} * scale;
  dd += dm${s} * m${s};
  gs += dz${s} * m${s};`,
  )}
  if (lid == 0u) {
    ${U(hc, (s) => `tr[n * (HC + 1u) + ${s}u] = dz${s};\n    gm[n * HC + ${s}u] = dm${s} * invr;`, '\n    ')}
    tr[n * (HC + 1u) + HC] = gs;
  }
  if (params.needX == 0u) { return; }
  let factor = -dd * invr * invr / f32(K);
  let cp = (c + 1u) / 2u;
  for (var j = lid; j < cp; j += ${WG}u) {
    let ch = 2u * j;
    let second = ch + 1u < c;
    let ch2 = select(ch, ch + 1u, second);
    let gv = vec2<f32>(ld_g(n * c + ch), ld_g(n * c + ch2));
    ${U(
      hc,
      (s) => `{
      let k0 = ${s}u * c + ch;
      let k1 = ${s}u * c + ch2;
      var v = w${s} * gv + factor * vec2<f32>(ld_x(xb + k0), ld_x(xb + k1));
      ${U(hc, (t) => `v += (dm${t} * invr) * vec2<f32>(ld_phi(${t}u * K + k0), ld_phi(${t}u * K + k1));`, '\n      ')}
      st2_gx(xb + k0, v, second);
    }`,
      '\n    ',
    )}
  }
}
`,
  };
}

/**
 * gradPhi[s, k] = Σ_n gm[n, s]·x[n, k], one workgroup per k: threads stride over tokens, then thread
 * s adds its row of partial sums in index order (a fixed order).
 */
export function headPhiGradKernel(hc: number, xd: DType): KernelDef<typeof HEAD_PHI_GRAD_PARAMS.schema> {
  const WG = HEAD_WG;
  return {
    params: HEAD_PHI_GRAD_PARAMS,
    key: `head_phi_grad:${hc}:${xd}`,
    bufs: [
      { name: 'gm', dtype: 'f32', access: 'read' },
      { name: 'x', dtype: xd, access: 'read' },
      { name: 'gp', dtype: 'f32', access: 'rw' },
    ],
    body: `
const HC = ${hc}u;
var<workgroup> red: array<f32, ${WG * hc}>;
@compute @workgroup_size(${WG})
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  let k = wg_lin;
  let N = params.N;
  let K = params.K;
  if (k >= K) { return; }
  ${U(hc, (s) => `var a${s} = 0.0;`)}
  for (var n = lid; n < N; n += ${WG}u) {
    let v = ld_x(n * K + k);
    ${U(hc, (s) => `a${s} += gm[n * HC + ${s}u] * v;`, '\n    ')}
  }
  ${U(hc, (s) => `red[${s * WG}u + lid] = a${s};`)}
  workgroupBarrier();
  if (lid < HC) {
    var t = 0.0;
    for (var i = 0u; i < ${WG}u; i++) { t += red[lid * ${WG}u + i]; }
    gp[lid * K + k] = t;
  }
}
`,
  };
}
