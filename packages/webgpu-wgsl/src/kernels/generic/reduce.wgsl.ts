import type { DType } from '@liger-mhc/core';
import type { KernelDef } from '../../backend.js';
import { ENTRY_ARGS, LINEAR_WG } from '../wgsl-lib.js';

/**
 * sum over axes into f32 (the host casts to a half dtype afterwards). Output element o sums the
 * reduced sub-array: base(o) = Σ kept coords·strides, then r over the reduced shape.
 * Params: 0 nOut, 1 R (reduced count), 2 kept rank, 3..10 kept shape, 11..18 kept strides,
 * 19 reduced rank, 20..27 reduced shape, 28..35 reduced strides.
 * Long reductions use a workgroup per output (strided partials, then a fixed tree); short ones a
 * thread per output, summing in index order. Both orders depend on the shape only.
 */
const OFFSETS = `
fn kept_off(i: u32) -> u32 {
  var rem = i;
  var o = 0u;
  for (var d = pu(2u); d > 0u; d--) {
    let s = pu(2u + d);
    o += (rem % s) * pu(10u + d);
    rem = rem / s;
  }
  return o;
}
fn red_off(i: u32) -> u32 {
  var rem = i;
  var o = 0u;
  for (var d = pu(19u); d > 0u; d--) {
    let s = pu(19u + d);
    o += (rem % s) * pu(27u + d);
    rem = rem / s;
  }
  return o;
}
`;

export const SUM_WG = 128;

export function sumKernel(xd: DType, perWorkgroup: boolean): KernelDef {
  const bufs = [
    { name: 'a', dtype: xd, access: 'read' as const },
    { name: 'o', dtype: 'f32' as const, access: 'rw' as const },
  ];
  if (!perWorkgroup)
    return {
      key: `sum_thread:${xd}`,
      bufs,
      body: `${OFFSETS}
@compute @workgroup_size(256)
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  let i = wg_lin * 256u + lid;
  if (i >= pu(0u)) { return; }
  let base = kept_off(i);
  var acc = 0.0;
  for (var r = 0u; r < pu(1u); r++) { acc += ld_a(base + red_off(r)); }
  o[i] = acc;
}
`,
    };
  return {
    key: `sum_wg:${xd}`,
    bufs,
    body: `${OFFSETS}
var<workgroup> red: array<f32, ${SUM_WG}>;
@compute @workgroup_size(${SUM_WG})
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  let i = wg_lin;
  if (i >= pu(0u)) { return; }
  let base = kept_off(i);
  var acc = 0.0;
  for (var r = lid; r < pu(1u); r += ${SUM_WG}u) { acc += ld_a(base + red_off(r)); }
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
