// pre: x_in[n, :] = sum_s hPre[n, s] * x[n, s, :], and its backward. Counterpart of the reference
// backend's cpu/mhc pre kernel. Memory-bound: 16-byte loads and stores of the storage dtype, f32 math,
// results written straight in the storage dtype.
#include "../common.cuh"
#include "sinkhorn.cuh"

namespace lmhc {
namespace {

/** One thread per (token, V-wide channel group). */
template <typename T, int HC, int V>
__global__ __launch_bounds__(256) void preFwd(const T* __restrict__ x, const float* __restrict__ h,
                                              T* __restrict__ out, int N, int C) {
  const int CV = C / V;
  const int64_t total = static_cast<int64_t>(N) * CV;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t n = i / CV;
    const int cv = static_cast<int>(i - n * CV);
    float xs[HC][V];
#pragma unroll
    for (int s = 0; s < HC; s++) loadN<T, V>(x + (n * HC + s) * C + cv * V, xs[s]);
    float acc[V];
#pragma unroll
    for (int v = 0; v < V; v++) acc[v] = 0.f;
#pragma unroll
    for (int s = 0; s < HC; s++) {
      const float hs = h[n * HC + s];
#pragma unroll
      for (int v = 0; v < V; v++) acc[v] = fmaf(hs, xs[s][v], acc[v]);
    }
    storeN<T, V>(out + n * C + cv * V, acc);
  }
}

/**
 * One block per token: grad_x = hPre[s] * g (+ acc, the running x gradient, when given; summed in f32
 * and rounded once), grad_hPre[s] = <g, x[s]> reduced over the block.
 */
template <typename T, int HC, int V>
__global__ __launch_bounds__(128) void preBwd(const T* __restrict__ g, const T* __restrict__ x,
                                              const float* __restrict__ h, const T* __restrict__ acc,
                                              T* __restrict__ gx, float* __restrict__ gh, int C) {
  __shared__ float red[4 * HC];
  const int64_t n = blockIdx.x;
  float hs[HC], part[HC];
#pragma unroll
  for (int s = 0; s < HC; s++) {
    hs[s] = h[n * HC + s];
    part[s] = 0.f;
  }
  for (int cv = threadIdx.x; cv < C / V; cv += blockDim.x) {
    float gv[V];
    loadN<T, V>(g + n * C + cv * V, gv);
#pragma unroll
    for (int s = 0; s < HC; s++) {
      float xv[V], o[V];
      loadN<T, V>(x + (n * HC + s) * C + cv * V, xv);
#pragma unroll
      for (int v = 0; v < V; v++) {
        part[s] = fmaf(gv[v], xv[v], part[s]);
        o[v] = hs[s] * gv[v];
      }
      if (acc) {
        float av[V];
        loadN<T, V>(acc + (n * HC + s) * C + cv * V, av);
#pragma unroll
        for (int v = 0; v < V; v++) o[v] += av[v];
      }
      storeN<T, V>(gx + (n * HC + s) * C + cv * V, o);
    }
  }
  blockSum<HC>(part, red);
  if (threadIdx.x == 0) {
#pragma unroll
    for (int s = 0; s < HC; s++) gh[n * HC + s] = part[s];
  }
}

}  // namespace

// bufs: x, hPre, out; params: PreFwdLaunch
LMHC_OP(pre_fwd) {
  const auto p = PreFwdLaunch::read(a);
  const int N = p.tokens, hc = p.hc, C = p.c, dt = p.dtype;
  const size_t eb = dtypeBytes(dt);
  const void* x = a.buf(0, static_cast<size_t>(N) * hc * C * eb);
  const float* h = a.buf<float>(1, static_cast<size_t>(N) * hc * 4);
  void* out = a.buf(2, static_cast<size_t>(N) * C * eb);
  withHc(hc, [&](auto hcTag) {
    constexpr int HC = decltype(hcTag)::value;
    dispatchFloat(dt, [&](auto tag) {
      using T = decltype(tag);
      constexpr int V = kVec<T>;
      if (C % V == 0)
        preFwd<T, HC, V><<<gridFor(a.dev, static_cast<int64_t>(N) * (C / V), 256), 256, 0, a.dev.stream>>>(
            static_cast<const T*>(x), h, static_cast<T*>(out), N, C);
      else
        preFwd<T, HC, 1><<<gridFor(a.dev, static_cast<int64_t>(N) * C, 256), 256, 0, a.dev.stream>>>(
            static_cast<const T*>(x), h, static_cast<T*>(out), N, C);
    });
  });
  CK_LAUNCH("preFwd");
}

// bufs: gradXIn, x, hPre, gradX, gradHPre, accumulate?; params: PreBwdLaunch
LMHC_OP(pre_bwd) {
  const auto p = PreBwdLaunch::read(a);
  const int N = p.tokens, hc = p.hc, C = p.c, dt = p.dtype;
  const size_t eb = dtypeBytes(dt);
  const void* g = a.buf(0, static_cast<size_t>(N) * C * eb);
  const void* x = a.buf(1, static_cast<size_t>(N) * hc * C * eb);
  const float* h = a.buf<float>(2, static_cast<size_t>(N) * hc * 4);
  void* gx = a.buf(3, static_cast<size_t>(N) * hc * C * eb);
  float* gh = a.buf<float>(4, static_cast<size_t>(N) * hc * 4);
  const void* acc = a.opt(5, static_cast<size_t>(N) * hc * C * eb);
  withHc(hc, [&](auto hcTag) {
    constexpr int HC = decltype(hcTag)::value;
    dispatchFloat(dt, [&](auto tag) {
      using T = decltype(tag);
      constexpr int V = kVec<T>;
      if (C % V == 0)
        preBwd<T, HC, V><<<N, 128, 0, a.dev.stream>>>(static_cast<const T*>(g), static_cast<const T*>(x), h,
                                                      static_cast<const T*>(acc), static_cast<T*>(gx), gh, C);
      else
        preBwd<T, HC, 1><<<N, 128, 0, a.dev.stream>>>(static_cast<const T*>(g), static_cast<const T*>(x), h,
                                                      static_cast<const T*>(acc), static_cast<T*>(gx), gh, C);
    });
  });
  CK_LAUNCH("preBwd");
}

}  // namespace lmhc
