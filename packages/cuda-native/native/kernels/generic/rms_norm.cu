// rmsNorm over the last axis and its backward. grad_weight is reduced over rows in two deterministic
// stages (per row-range partials, then a fixed-order sum), no atomics.
#include <algorithm>

#include "../common.cuh"

namespace lmhc {
namespace {

template <typename T>
__global__ __launch_bounds__(128) void rmsNormKernel(const T* __restrict__ x, const T* __restrict__ w,
                                                     T* __restrict__ y, float* __restrict__ invr, int D,
                                                     float eps) {
  __shared__ float smem[32];
  const int64_t r = blockIdx.x;
  float s[1] = {0.f};
  for (int j = threadIdx.x; j < D; j += blockDim.x) {
    const float v = ld(x + r * D + j);
    s[0] += v * v;
  }
  blockSum<1>(s, smem);
  const float iv = 1.f / sqrtf(s[0] / static_cast<float>(D) + eps);
  if (threadIdx.x == 0) invr[r] = iv;
  for (int j = threadIdx.x; j < D; j += blockDim.x) y[r * D + j] = Io<T>::store(ld(x + r * D + j) * iv * ld(w + j));
}

template <typename T>
__global__ __launch_bounds__(128) void rmsNormBwdKernel(const T* __restrict__ g, const T* __restrict__ x,
                                                        const T* __restrict__ w, const float* __restrict__ invr,
                                                        T* __restrict__ gx, int D) {
  __shared__ float smem[32];
  const int64_t r = blockIdx.x;
  const float iv = invr[r];
  float s[1] = {0.f};
  for (int j = threadIdx.x; j < D; j += blockDim.x) s[0] += ld(g + r * D + j) * ld(w + j) * ld(x + r * D + j);
  blockSum<1>(s, smem);
  const float c = iv * iv * iv * s[0] / static_cast<float>(D);
  for (int j = threadIdx.x; j < D; j += blockDim.x)
    gx[r * D + j] = Io<T>::store(iv * ld(g + r * D + j) * ld(w + j) - c * ld(x + r * D + j));
}

/** Partials of grad_weight[d] = sum_r g[r, d] x[r, d] invr[r] over a range of rows. */
template <typename T>
__global__ void rmsNormGradWKernel(const T* __restrict__ g, const T* __restrict__ x, const float* __restrict__ invr,
                                   float* __restrict__ part, int64_t rows, int D, int64_t rowsPer) {
  const int d = blockIdx.x * blockDim.x + threadIdx.x;
  if (d >= D) return;
  const int64_t r0 = blockIdx.y * rowsPer, r1 = min(rows, r0 + rowsPer);
  float s = 0.f;
  for (int64_t r = r0; r < r1; r++) s += ld(g + r * D + d) * ld(x + r * D + d) * invr[r];
  part[static_cast<int64_t>(blockIdx.y) * D + d] = s;
}

template <typename T>
__global__ void castF32To(const float* __restrict__ in, T* __restrict__ out, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = Io<T>::store(in[i]);
}

}  // namespace

// bufs: x, weight, y, invr; params: RmsNormLaunch
LMHC_OP(rms_norm) {
  const auto p = RmsNormLaunch::read(a);
  const int dt = p.dtype, D = p.d;
  const int64_t rows = p.rows;
  if (rows == 0) return;
  dispatchFloat(dt, [&](auto tag) {
    using T = decltype(tag);
    rmsNormKernel<T><<<static_cast<unsigned>(rows), 128, 0, a.dev.stream>>>(
        a.buf<const T>(0, rows * D * sizeof(T)), a.buf<const T>(1, D * sizeof(T)), a.buf<T>(2, rows * D * sizeof(T)),
        a.buf<float>(3, rows * 4), D, p.eps);
  });
  CK_LAUNCH("rms_norm");
}

// bufs: grad, x, weight, invr, gradX, gradWeight; params: RmsNormBwdLaunch
LMHC_OP(rms_norm_bwd) {
  const auto p = RmsNormBwdLaunch::read(a);
  const int dt = p.dtype, D = p.d;
  const int64_t rows = p.rows;
  dispatchFloat(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* g = a.buf<const T>(0, rows * D * sizeof(T));
    const T* x = a.buf<const T>(1, rows * D * sizeof(T));
    const T* w = a.buf<const T>(2, D * sizeof(T));
    const float* iv = a.buf<const float>(3, rows * 4);
    T* gx = a.buf<T>(4, rows * D * sizeof(T));
    T* gw = a.buf<T>(5, D * sizeof(T));
    if (rows > 0) {
      rmsNormBwdKernel<T><<<static_cast<unsigned>(rows), 128, 0, a.dev.stream>>>(g, x, w, iv, gx, D);
      CK_LAUNCH("rms_norm_bwd");
    }
    const int R = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(64, (rows + 255) / 256)));
    const int64_t rowsPer = (rows + R - 1) / R;
    Temp part(a.dev, static_cast<size_t>(R) * D * 4), sum(a.dev, static_cast<size_t>(D) * 4);
    rmsNormGradWKernel<T><<<dim3((D + 127) / 128, R), 128, 0, a.dev.stream>>>(g, x, iv, part.as<float>(), rows, D,
                                                                             rowsPer);
    CK_LAUNCH("rms_norm_grad_w");
    sumPartialRows<<<gridFor(a.dev, D, 256), 256, 0, a.dev.stream>>>(part.as<float>(), sum.as<float>(), D, R);
    castF32To<T><<<gridFor(a.dev, D, 256), 256, 0, a.dev.stream>>>(sum.as<float>(), gw, D);
    CK_LAUNCH("rms_norm_grad_w_sum");
  });
}

}  // namespace lmhc
