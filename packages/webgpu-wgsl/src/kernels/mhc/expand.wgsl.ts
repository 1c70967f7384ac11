import type { DType } from '@liger-mhc/core';
import type { KernelDef } from '../../backend.js';
import { kernelParams } from '../../kernel-params.js';
import { ENTRY_ARGS, LINEAR_WG } from '../wgsl-lib.js';

/**
 * expand (DeepSeek-V4's embedding to streams): y[n, s, :] = x[n, :], and its backward
 * gradX[n, :] = Σ_s g[n, s, :]. One thread per pair of output elements (flat index 2t, 2t+1), so a
 * thread that writes halves owns the word it writes whatever c is; each element finds its own
 * source row. Params: EXPAND_PARAMS.
 */
/** n: output elements of the forward (N·hc·c) or the backward (N·c); pairs = ceil(n / 2). */
export const EXPAND_PARAMS = kernelParams({ n: 'u32', c: 'u32', hc: 'u32', pairs: 'u32' });

export const EXPAND_WG = 256;

export function expandForwardKernel(xd: DType): KernelDef<typeof EXPAND_PARAMS.schema> {
  return {
    params: EXPAND_PARAMS,
    key: `expand_fwd:${xd}`,
    bufs: [
      { name: 'x', dtype: xd, access: 'read' },
      { name: 'y', dtype: xd, access: 'rw' },
    ],
    body: `
fn src_(i: u32) -> u32 {
  let c = params.c;
  let row = i / c;
  return (row / params.hc) * c + (i - row * c);
}
@compute @workgroup_size(${EXPAND_WG})
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  let t = wg_lin * ${EXPAND_WG}u + lid;
  if (t >= params.pairs) { return; }
  let i = 2u * t;
  let second = i + 1u < params.n;
  let v = vec2<f32>(ld_x(src_(i)), select(0.0, ld_x(src_(min(i + 1u, params.n - 1u))), second));
  st2_y(i, v, second);
}
`,
  };
}

/** Streams summed in order. */
export function expandBackwardKernel(gd: DType, od: DType): KernelDef<typeof EXPAND_PARAMS.schema> {
  return {
    params: EXPAND_PARAMS,
    key: `expand_bwd:${gd}:${od}`,
    bufs: [
      { name: 'g', dtype: gd, access: 'read' },
      { name: 'o', dtype: od, access: 'rw' },
    ],
    body: `
fn sum_(i: u32) -> f32 {
  let c = params.c;
  let hc = params.hc;
  let n = i / c;
  let ch = i - n * c;
  var acc = 0.0;
  for (var s = 0u; s < hc; s++) { acc += ld_g((n * hc + s) * c + ch); }
  return acc;
}
@compute @workgroup_size(${EXPAND_WG})
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  let t = wg_lin * ${EXPAND_WG}u + lid;
  if (t >= params.pairs) { return; }
  let i = 2u * t;
  let second = i + 1u < params.n;
  st2_o(i, vec2<f32>(sum_(i), select(0.0, sum_(min(i + 1u, params.n - 1u)), second)), second);
}
`,
  };
}
