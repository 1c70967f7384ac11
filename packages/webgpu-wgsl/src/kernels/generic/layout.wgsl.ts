import type { KernelDef } from '../../backend.js';
import { kernelParams } from '../../kernel-params.js';
import { ENTRY_ARGS, LINEAR_WG } from '../wgsl-lib.js';
import { MAX_RANK } from './elementwise.wgsl.js';

/**
 * Layout kernels move raw bits (no float round trip, so NaN payloads and i32 > 2^24 survive).
 * One strided walk serves transpose, slice, broadcastTo and concat: element i of an iteration shape
 * reads src[srcOff + Σ c_d·srcStride_d] (and writes dst[dstOff + Σ c_d·dstStride_d]).
 * n is the element count, the walk's axes are the first `rank` entries of shape and the strides.
 */
export const LAYOUT_PARAMS = kernelParams({
  n: 'u32',
  rank: 'u32',
  srcOffset: 'u32',
  dstOffset: 'u32',
  shape: { array: 'u32', length: MAX_RANK },
  srcStrides: { array: 'u32', length: MAX_RANK },
  dstStrides: { array: 'u32', length: MAX_RANK },
});

const WALK = `
fn src_of(i: u32) -> u32 {
  var rem = i;
  var o = params.srcOffset;
  for (var d = params.rank; d > 0u; d--) {
    let s = params_shape(d - 1u);
    o += (rem % s) * params_srcStrides(d - 1u);
    rem = rem / s;
  }
  return o;
}
fn dst_of(i: u32) -> u32 {
  var rem = i;
  var o = params.dstOffset;
  for (var d = params.rank; d > 0u; d--) {
    let s = params_shape(d - 1u);
    o += (rem % s) * params_dstStrides(d - 1u);
    rem = rem / s;
  }
  return o;
}
`;

/** 32-bit elements, strided source and destination: one thread per element. */
export function copy32Kernel(): KernelDef<typeof LAYOUT_PARAMS.schema> {
  return {
    key: 'copy32',
    params: LAYOUT_PARAMS,
    bufs: [
      { name: 'a', dtype: 'i32', access: 'read' },
      { name: 'o', dtype: 'i32', access: 'rw' },
    ],
    body: `${WALK}
@compute @workgroup_size(256)
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  let i = wg_lin * 256u + lid;
  if (i >= params.n) { return; }
  o[dst_of(i)] = a[src_of(i)];
}
`,
  };
}

/**
 * 16-bit elements, strided source, contiguous destination: one thread per destination word (two
 * elements), each half fetched from its own source word.
 */
export function gather16Kernel(): KernelDef<typeof LAYOUT_PARAMS.schema> {
  return {
    key: 'gather16',
    params: LAYOUT_PARAMS,
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
  let n = params.n;
  let i0 = 2u * w;
  if (i0 >= n) { return; }
  var bits = half_at(src_of(i0));
  if (i0 + 1u < n) { bits = bits | (half_at(src_of(i0 + 1u)) << 16u); }
  o[w] = bits;
}
`,
  };
}
