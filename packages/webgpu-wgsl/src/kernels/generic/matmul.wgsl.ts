import type { DType } from '@liger-mhc/core';
import type { KernelDef } from '../../backend.js';
import { kernelParams } from '../../kernel-params.js';
import { ENTRY_ARGS } from '../wgsl-lib.js';

export const MATMUL_PARAMS = kernelParams({
  M: 'u32',
  N: 'u32',
  K: 'u32',
  aRowStride: 'u32',
  aKStride: 'u32',
  bKStride: 'u32',
  bColStride: 'u32',
  aBatchStride: 'u32',
  bBatchStride: 'u32',
});

/**
 * Batched matmul C[b] = A[b]·B[b] with arbitrary element strides (so transA/transB are free): a 32×32
 * output tile per workgroup of 16×16 threads, 32-deep K tiles staged in workgroup memory, each
 * thread computing rows (ty, ty+16) × columns (2tx, 2tx+1): a column pair is one word of half
 * output. K is walked in order, so results are deterministic.
 * Strides are in elements; a batch stride of 0 shares one matrix across the batch.
 * Grid: (ceil(N/32), ceil(M/32), batch).
 */
export function matmulKernel(ad: DType, bd: DType, od: DType): KernelDef<typeof MATMUL_PARAMS.schema> {
  return {
    key: `matmul:${ad}:${bd}:${od}`,
    params: MATMUL_PARAMS,
    bufs: [
      { name: 'a', dtype: ad, access: 'read' },
      { name: 'b', dtype: bd, access: 'read' },
      { name: 'o', dtype: od, access: 'rw' },
    ],
    body: `
var<workgroup> As: array<f32, ${32 * 33}>;
var<workgroup> Bs: array<f32, ${32 * 33}>;
@compute @workgroup_size(16, 16)
fn main(${ENTRY_ARGS}) {
  let M = params.M;
  let N = params.N;
  let K = params.K;
  let tx = lid % 16u;
  let ty = lid / 16u;
  let row0 = wid.y * 32u;
  let col0 = wid.x * 32u;
  let aBase = wid.z * params.aBatchStride;
  let bBase = wid.z * params.bBatchStride;
  var acc: array<f32, 4>;
  for (var k0 = 0u; k0 < K; k0 += 32u) {
    // 1024 values per tile, 4 per thread; out-of-range entries are 0.
    for (var e = 0u; e < 4u; e++) {
      let idx = lid + e * 256u;
      let r = idx / 32u;
      let c = idx % 32u;
      var av = 0.0;
      if (row0 + r < M && k0 + c < K) { av = ld_a(aBase + (row0 + r) * params.aRowStride + (k0 + c) * params.aKStride); }
      As[r * 33u + c] = av;
      var bv = 0.0;
      if (k0 + r < K && col0 + c < N) { bv = ld_b(bBase + (k0 + r) * params.bKStride + (col0 + c) * params.bColStride); }
      Bs[r * 33u + c] = bv;
    }
    workgroupBarrier();
    for (var k = 0u; k < 32u; k++) {
      let a0 = As[ty * 33u + k];
      let a1 = As[(ty + 16u) * 33u + k];
      let b0 = Bs[k * 33u + 2u * tx];
      let b1 = Bs[k * 33u + 2u * tx + 1u];
      acc[0] += a0 * b0;
      acc[1] += a0 * b1;
      acc[2] += a1 * b0;
      acc[3] += a1 * b1;
    }
    workgroupBarrier();
  }
  let col = col0 + 2u * tx;
  if (col >= N) { return; }
  let second = col + 1u < N;
  let obase = wid.z * M * N;
  if (row0 + ty < M) { st2_o(obase + (row0 + ty) * N + col, vec2<f32>(acc[0], acc[1]), second); }
  if (row0 + ty + 16u < M) { st2_o(obase + (row0 + ty + 16u) * N + col, vec2<f32>(acc[2], acc[3]), second); }
}
`,
  };
}
