// Shared by the coeffs forward and backward (coeffs_fwd.cu, coeffs_bwd.cu): the includes both
// need and the host helper that hands the CUDA-core kernels phi as f32.
#pragma once

#include <algorithm>
#include <memory>

#include "coeffs_mma.cuh"
#include "sinkhorn.cuh"

namespace lmhc {
namespace {

template <typename T>
__global__ void toF32(const T* __restrict__ in, float* __restrict__ out, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = ld(in + i);
}

/** phi as f32 [K, M]: the stored buffer when it is f32 already, else a converted temporary. */
const float* phiF32(OpArgs& a, const void* phi, int phidt, int64_t n, std::unique_ptr<Temp>& tmp) {
  if (phidt == kF32) return static_cast<const float*>(phi);
  tmp = std::make_unique<Temp>(a.dev, n * sizeof(float));
  float* out = tmp->as<float>();
  dispatchFloat(phidt, [&](auto tag) {
    using T = decltype(tag);
    toF32<T><<<gridFor(a.dev, n, 256), 256, 0, a.dev.stream>>>(static_cast<const T*>(phi), out, n);
  });
  CK_LAUNCH("toF32");
  return out;
}

}  // namespace
}  // namespace lmhc
