// Tensor-core pieces shared by the coeffs forward kernels (coeffs_fwd.cu, coeffs_pre.cu): the bf16/f16
// mma.sync m16n8k16 wrapper, the sum of squares of packed 16-bit pairs, and packPhi, which lays phi out
// as the B fragments those kernels load.
#pragma once
#include "../common.cuh"

namespace lmhc {

template <typename T>
__device__ __forceinline__ void mma16816(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                         uint32_t b0, uint32_t b1);
template <>
__device__ __forceinline__ void mma16816<bf16>(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2,
                                               uint32_t a3, uint32_t b0, uint32_t b1) {
  asm(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}
template <>
__device__ __forceinline__ void mma16816<f16>(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2,
                                              uint32_t a3, uint32_t b0, uint32_t b1) {
  asm(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

/** Adds the squares of the two 16-bit values packed in w. */
template <typename T>
__device__ __forceinline__ float sq2(uint32_t w, float s);
template <>
__device__ __forceinline__ float sq2<bf16>(uint32_t w, float s) {
  const float lo = __uint_as_float(w << 16), hi = __uint_as_float(w & 0xffff0000u);
  return fmaf(hi, hi, fmaf(lo, lo, s));
}
template <>
__device__ __forceinline__ float sq2<f16>(uint32_t w, float s) {
  const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&w));
  return fmaf(f.y, f.y, fmaf(f.x, f.x, s));
}

/**
 * phi [K, M] -> the B fragments of mma.m16n8k16, one 16-byte load per lane per (32-k block, n tile).
 * The reduction over k may visit k in any order as long as A and B agree: lane (g = lane/4,
 * q = lane%4) holds phi[kb + 8q + e][8nt + g] for e = 0..7, matching the 8 consecutive x values it
 * loads from its rows (see coeffsFwdMma).
 */
template <typename T, int NT>
__global__ void packPhi(const T* __restrict__ phi, T* __restrict__ out, int K, int M) {
  const int64_t total = static_cast<int64_t>(K / 32) * NT * 32;  // one 16-byte pack per thread
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int lane = static_cast<int>(i & 31);
    const int64_t rest = i >> 5;
    const int nt = static_cast<int>(rest % NT);
    const int64_t kc = rest / NT;
    const int m = nt * 8 + (lane >> 2);
    const int64_t k0 = kc * 32 + (lane & 3) * 8;
    Pack<T, 8> pk;
#pragma unroll
    for (int e = 0; e < 8; e++) pk.v[e] = m < M ? phi[(k0 + e) * M + m] : Io<T>::store(0.f);
    reinterpret_cast<Pack<T, 8>*>(out)[i] = pk;
  }
}

}  // namespace lmhc
