import type { DType } from '@liger-mhc/core';
import type { KernelDef } from '../../backend.js';
import { kernelParams } from '../../kernel-params.js';
import { ENTRY_ARGS, LINEAR_WG } from '../wgsl-lib.js';

export const EMBEDDING_PARAMS = kernelParams({ n: 'u32', D: 'u32', vocab: 'u32' });
export const EMBEDDING_BACKWARD_PARAMS = kernelParams({ n: 'u32', D: 'u32', T: 'u32' });

/**
 * embedding: out[t, d] = weight[ids[t], d], moving raw bits (16-bit halves or 32-bit words).
 * n = T·D elements. An id outside [0, vocab) gives a zero row (the host checks
 * nothing, as the ids live on the GPU).
 */
export function embeddingKernel(wd: DType): KernelDef<typeof EMBEDDING_PARAMS.schema> {
  const half = wd === 'bf16' || wd === 'f16';
  const bufs = [
    { name: 'w', dtype: half ? ('bf16' as const) : ('i32' as const), access: 'read' as const },
    { name: 'ids', dtype: 'i32' as const, access: 'read' as const },
    { name: 'o', dtype: half ? ('bf16' as const) : ('i32' as const), access: 'rw' as const },
  ];
  const fetch = `
fn src_of(e: u32) -> i32 {
  let D = params.D;
  let t = e / D;
  let id = ids[t];
  if (id < 0 || u32(id) >= params.vocab) { return -1; }
  return i32(u32(id) * D + (e - t * D));
}`;
  const body = half
    ? `
  let i0 = 2u * g;
  if (i0 >= n) { return; }
  var bits = 0u;
  let s0 = src_of(i0);
  if (s0 >= 0) { bits = (w[u32(s0) >> 1u] >> ((u32(s0) & 1u) * 16u)) & 0xffffu; }
  if (i0 + 1u < n) {
    let s1 = src_of(i0 + 1u);
    if (s1 >= 0) { bits = bits | (((w[u32(s1) >> 1u] >> ((u32(s1) & 1u) * 16u)) & 0xffffu) << 16u); }
  }
  o[g] = bits;`
    : `
  if (g >= n) { return; }
  let s = src_of(g);
  o[g] = select(0, w[u32(max(s, 0))], s >= 0);`;
  return {
    params: EMBEDDING_PARAMS,
    key: `embedding:${half}`,
    bufs,
    body: `${fetch}
@compute @workgroup_size(256)
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  let g = wg_lin * 256u + lid;
  let n = params.n;
  ${body}
}
`,
  };
}

/**
 * embeddingBackward into f32 [vocab, D]: one thread per output element walks the tokens in order
 * and adds the rows whose id matches: deterministic without atomics, O(vocab·D·T), which suits the
 * small vocabularies of the reference models. n = vocab·D outputs.
 */
export function embeddingBackwardKernel(gd: DType): KernelDef<typeof EMBEDDING_BACKWARD_PARAMS.schema> {
  return {
    params: EMBEDDING_BACKWARD_PARAMS,
    key: `embedding_bwd:${gd}`,
    bufs: [
      { name: 'g', dtype: gd, access: 'read' },
      { name: 'ids', dtype: 'i32', access: 'read' },
      { name: 'o', dtype: 'f32', access: 'rw' },
    ],
    body: `
@compute @workgroup_size(256)
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  let e = wg_lin * 256u + lid;
  if (e >= params.n) { return; }
  let D = params.D;
  let v = i32(e / D);
  let d = e % D;
  var acc = 0.0;
  for (var t = 0u; t < params.T; t++) {
    if (ids[t] == v) { acc += ld_g(t * D + d); }
  }
  o[e] = acc;
}
`,
  };
}
