import type { KernelDef } from '../../backend.js';
import { ENTRY_ARGS, LINEAR_WG } from '../wgsl-lib.js';

/**
 * Layout kernels move raw bits (no float round trip, so NaN payloads and i32 > 2^24 survive).
 * One strided walk serves transpose, slice, broadcastTo and concat: element i of an iteration shape
 * reads src[srcOff + Σ c_d·srcStride_d] (and writes dst[dstOff + Σ c_d·dstStride_d]).
 * Params: 0 n, 1 rank, 2..9 shape, 10..17 src strides, 18 src offset, 19..26 dst strides, 27 dst offset.
 */
const WALK = `
fn src_of(i: u32) -> u32 {
  var rem = i;
  var o = pu(18u);
  for (var d = pu(1u); d > 0u; d--) {
    let s = pu(1u + d);
    o += (rem % s) * pu(9u + d);
    rem = rem / s;
  }
  return o;
}
fn dst_of(i: u32) -> u32 {
  var rem = i;
  var o = pu(27u);
  for (var d = pu(1u); d > 0u; d--) {
    let s = pu(1u + d);
    o += (rem % s) * pu(18u + d);
    rem = rem / s;
  }
  return o;
}
`;

/** 32-bit elements, strided source and destination: one thread per element. */
export function copy32Kernel(): KernelDef {
  return {
    key: 'copy32',
    bufs: [
      { name: 'a', dtype: 'i32', access: 'read' },
      { name: 'o', dtype: 'i32', access: 'rw' },
    ],
    body: `${WALK}
@compute @workgroup_size(256)
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  let i = wg_lin * 256u + lid;
  if (i >= pu(0u)) { return; }
  o[dst_of(i)] = a[src_of(i)];
}
`,
  };
}

/**
 * 16-bit elements, strided source, contiguous destination: one thread per destination word (two
 * elements), each half fetched from its own source word.
 */
export function gather16Kernel(): KernelDef {
  return {
    key: 'gather16',
    bufs: [
      { name: 'a', dtype: 'bf16', access: 'read' },
      { name: 'o', dtype: 'bf16', access: 'rw' },
    ],
    body: `${WALK}
fn half_at(e: u32) -> u32 { return (a[e >> 1u] >> ((e & 1u) * 16u)) & 0xffffu; }
@compute @workgroup_size(256)
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  let w = wg_lin * 256u + lid;
  let n = pu(0u);
  let i0 = 2u * w;
  if (i0 >= n) { return; }
  var bits = half_at(src_of(i0));
  if (i0 + 1u < n) { bits = bits | (half_at(src_of(i0 + 1u)) << 16u); }
  o[w] = bits;
}
`,
  };
}
