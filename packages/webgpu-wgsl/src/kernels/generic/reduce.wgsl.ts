import type { DType } from '@liger-mhc/core';
import type { KernelDef } from '../../backend.js';
import { kernelParams } from '../../kernel-params.js';
import { ENTRY_ARGS, LINEAR_WG } from '../wgsl-lib.js';
import { MAX_RANK } from './elementwise.wgsl.js';

/**
 * sum over axes into f32 (the host casts to a half dtype afterwards). Output element o sums the
 * reduced sub-array: base(o) = Σ kept coords·strides, then r over the reduced shape.
 * nOut outputs of R summed elements each; an output's kept coordinates walk keptShape/keptStrides
 * (first keptRank entries), a reduced index walks redShape/redStrides.
 * Long reductions use a workgroup per output (strided partials, then a fixed tree); short ones a
 * thread per output, summing in index order. Both orders depend on the shape only.
 */
export const SUM_PARAMS = kernelParams({
  nOut: 'u32',
  R: 'u32',
  keptRank: 'u32',
  redRank: 'u32',
  keptShape: { array: 'u32', length: MAX_RANK },
  keptStrides: { array: 'u32', length: MAX_RANK },
  redShape: { array: 'u32', length: MAX_RANK },
  redStrides: { array: 'u32', length: MAX_RANK },
});

const OFFSETS = `
fn kept_off(i: u32) -> u32 {
  var rem = i;
  var o = 0u;
  for (var d = params.keptRank; d > 0u; d--) {
    let s = params_keptShape(d - 1u);
    o += (rem % s) * params_keptStrides(d - 1u);
    rem = rem / s;
  }
  return o;
}
fn red_off(i: u32) -> u32 {
  var rem = i;
  var o = 0u;
  for (var d = params.redRank; d > 0u; d--) {
    let s = params_redShape(d - 1u);
    o += (rem % s) * params_redStrides(d - 1u);
    rem = rem / s;
  }
  return o;
}
`;

export const SUM_WG = 128;

export function sumKernel(xd: DType, perWorkgroup: boolean): KernelDef<typeof SUM_PARAMS.schema> {
  const bufs = [
    { name: 'a', dtype: xd, access: 'read' as const },
    { name: 'o', dtype: 'f32' as const, access: 'rw' as const },
  ];
  if (!perWorkgroup)
    return {
      key: `sum_thread:${xd}`,
      params: SUM_PARAMS,
      bufs,
      body: `${OFFSETS}
@compute @workgroup_size(256)
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  let i = wg_lin * 256u + lid;
  if (i >= params.nOut) { return; }
  let base = kept_off(i);
  var acc = 0.0;
  for (var r = 0u; r < params.R; r++) { acc += ld_a(base + red_off(r)); }
  o[i] = acc;
}
`,
    };
  return {
    key: `sum_wg:${xd}`,
    params: SUM_PARAMS,
    bufs,
    body: `${OFFSETS}
var<workgroup> red: array<f32, ${SUM_WG}>;
@compute @workgroup_size(${SUM_WG})
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  let i = wg_lin;
  if (i >= params.nOut) { return; }
  let base = kept_off(i);
  var acc = 0.0;
  for (var r = lid; r < params.R; r += ${SUM_WG}u) { acc += ld_a(base + red_off(r)); }
  red[lid] = acc;
  workgroupBarrier();
  if (lid == 0u) {
    var s = 0.0;
    for (var k = 0u; k < ${SUM_WG}u; k++) { s += red[k]; }
    o[i] = s;
  }
}
`,
  };
}
