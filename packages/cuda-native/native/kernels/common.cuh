// Device helpers shared by the kernel files: storage <-> f32 conversion, 16-byte packs, deterministic
// block reductions, and the dtype dispatch used by the host entry points.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "launch_params.h"
#include "runtime/ops.h"

namespace lmhc {

using bf16 = __nv_bfloat16;
using f16 = __half;

template <typename T>
struct Io;
template <>
struct Io<float> {
  static __device__ __forceinline__ float load(float v) { return v; }
  static __device__ __forceinline__ float store(float v) { return v; }
};
template <>
struct Io<f16> {
  static __device__ __forceinline__ float load(f16 v) { return __half2float(v); }
  static __device__ __forceinline__ f16 store(float v) { return __float2half_rn(v); }
};
template <>
struct Io<bf16> {
  static __device__ __forceinline__ float load(bf16 v) { return __bfloat162float(v); }
  static __device__ __forceinline__ bf16 store(float v) { return __float2bfloat16_rn(v); }
};

template <typename T>
__device__ __forceinline__ float ld(const T* p) {
  return Io<T>::load(*p);
}
template <typename T>
__device__ __forceinline__ void st(T* p, float v) {
  *p = Io<T>::store(v);
}

/** N storage elements moved as one access: 16 bytes when N * sizeof(T) == 16. */
template <typename T, int N>
struct alignas(sizeof(T) * N) Pack {
  T v[N];
};

/** Elements per 16-byte access. */
template <typename T>
constexpr int kVec = 16 / sizeof(T);

template <typename T, int N>
__device__ __forceinline__ void loadN(const T* p, float (&o)[N]) {
  Pack<T, N> pk = *reinterpret_cast<const Pack<T, N>*>(p);
#pragma unroll
  for (int i = 0; i < N; i++) o[i] = Io<T>::load(pk.v[i]);
}
template <typename T, int N>
__device__ __forceinline__ void storeN(T* p, const float (&v)[N]) {
  Pack<T, N> pk;
#pragma unroll
  for (int i = 0; i < N; i++) pk.v[i] = Io<T>::store(v[i]);
  *reinterpret_cast<Pack<T, N>*>(p) = pk;
}

/**
 * Sum NV values over the block; every thread gets the totals. Fixed shape (xor butterfly within a
 * warp, then warps in index order), so results are bit-identical run to run. `smem` holds
 * (blockDim/32) * NV floats. Ends with a barrier, so smem can be reused at once.
 */
template <int NV>
__device__ __forceinline__ void blockSum(float (&v)[NV], float* smem) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
#pragma unroll
  for (int j = 0; j < NV; j++) {
    float s = v[j];
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    v[j] = s;
  }
  if (lane == 0) {
#pragma unroll
    for (int j = 0; j < NV; j++) smem[warp * NV + j] = v[j];
  }
  __syncthreads();
#pragma unroll
  for (int j = 0; j < NV; j++) {
    float s = smem[j];
    for (int w = 1; w < warps; w++) s += smem[w * NV + j];
    v[j] = s;
  }
  __syncthreads();
}

__device__ __forceinline__ float sigmoidf(float z) { return 1.0f / (1.0f + expf(-z)); }

/** Call f.template operator()<T>() with T the storage type of a float dtype code. */
template <typename F>
void dispatchFloat(int dt, F&& f) {
  switch (dt) {
    case kF32:
      f(float{});
      return;
    case kF16:
      f(f16{});
      return;
    case kBF16:
      f(bf16{});
      return;
    default:
      throw ArgError("expected a float dtype (f32, f16, bf16), got code " + std::to_string(dt));
  }
}

}  // namespace lmhc

namespace lmhc {

/** Up to 8 dims of strides for the generic kernels (row-major element strides; 0 = broadcast). */
constexpr int kMaxDims = 8;
struct Dims {
  int nd;
  int64_t shape[kMaxDims];
};
struct Strides {
  int64_t s[kMaxDims];
};

/** Offset of linear index i of a row-major `shape` under `st`. */
__device__ __forceinline__ int64_t offsetOf(int64_t i, const Dims& d, const Strides& st) {
  int64_t off = 0;
  for (int k = d.nd - 1; k >= 0; k--) {
    const int64_t c = i % d.shape[k];
    i /= d.shape[k];
    off += c * st.s[k];
  }
  return off;
}

/** Read `nd`, then nd shape values, from params starting at k; returns the next index. */
inline size_t readDims(const OpArgs& a, size_t k, Dims& d) {
  d.nd = a.i32(k++);
  if (d.nd < 0 || d.nd > kMaxDims) throw ArgError("at most 8 dimensions are supported");
  for (int i = 0; i < d.nd; i++) d.shape[i] = a.i64(k++);
  return k;
}
inline size_t readStrides(const OpArgs& a, size_t k, int nd, Strides& s) {
  for (int i = 0; i < nd; i++) s.s[i] = a.i64(k++);
  return k;
}
inline int64_t numel(const Dims& d) {
  int64_t n = 1;
  for (int i = 0; i < d.nd; i++) n *= d.shape[i];
  return n;
}

/** Like dispatchFloat, with i32 (int32_t) as well. */
template <typename F>
void dispatchAny(int dt, F&& f) {
  if (dt == kI32) f(int32_t{});
  else dispatchFloat(dt, f);
}

/** Value conversion between storage types: float->int truncates toward zero. */
template <typename TS, typename TD>
__device__ __forceinline__ TD convert(TS v) {
  if constexpr (std::is_same_v<TS, int32_t> && std::is_same_v<TD, int32_t>) return v;
  else if constexpr (std::is_same_v<TS, int32_t>) return Io<TD>::store(static_cast<float>(v));
  else if constexpr (std::is_same_v<TD, int32_t>) return static_cast<int32_t>(truncf(Io<TS>::load(v)));
  else return Io<TD>::store(Io<TS>::load(v));
}

__device__ __forceinline__ float warpMax(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

/** Block-wide max; every thread gets it. smem: 32 floats. */
__device__ __forceinline__ float blockMax(float v, float* smem) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  v = warpMax(v);
  if (lane == 0) smem[warp] = v;
  __syncthreads();
  float m = smem[0];
  for (int w = 1; w < warps; w++) m = fmaxf(m, smem[w]);
  __syncthreads();
  return m;
}

namespace {
/** out[e] = sum_r part[r * n + e] with r in order: the second stage of a deterministic reduction. */
__global__ void sumPartialRows(const float* __restrict__ part, float* __restrict__ out, int64_t n, int R) {
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float s = part[e];
    for (int r = 1; r < R; r++) s += part[static_cast<int64_t>(r) * n + e];
    out[e] = s;
  }
}
}  // namespace

}  // namespace lmhc
