// pre with the layer's weighted RMSNorm fused in (serving stacks fuse DeepSeek-V4's attn_norm /
// ffn_norm into hc_pre):  s = sum_i hPre[i] * x[i],  rstd = rsqrt(mean(s^2) + eps),  y = s*rstd*w;
// and its backward. Counterpart of the reference backend's cpu/mhc pre_norm kernel. One block per
// token; s stays in f32 (recomputed in the second pass rather than kept: a row may not fit shared
// memory).
#include "../common.cuh"
#include "sinkhorn.cuh"

namespace lmhc {
namespace {

constexpr int kPreNormThreads = 256;

template <typename T, int HC>
__device__ __forceinline__ float preSum(const T* xr, const float (&h)[HC], int C, int ch) {
  float s = 0.f;
#pragma unroll
  for (int i = 0; i < HC; i++) s = fmaf(h[i], ld(xr + i * C + ch), s);
  return s;
}

template <typename T, typename TW, int HC>
__global__ __launch_bounds__(kPreNormThreads) void preNormFwd(const T* __restrict__ x, const float* __restrict__ hp,
                                                              const TW* __restrict__ w, T* __restrict__ y,
                                                              float* __restrict__ rstd, int C, float eps) {
  __shared__ float red[kPreNormThreads / 32];
  const int64_t n = blockIdx.x;
  const T* xr = x + n * HC * static_cast<int64_t>(C);
  float h[HC];
#pragma unroll
  for (int i = 0; i < HC; i++) h[i] = hp[n * HC + i];
  float ss[1] = {0.f};
  for (int ch = threadIdx.x; ch < C; ch += blockDim.x) {
    const float s = preSum<T, HC>(xr, h, C, ch);
    ss[0] = fmaf(s, s, ss[0]);
  }
  blockSum<1>(ss, red);
  const float r = rsqrtf(ss[0] / static_cast<float>(C) + eps);
  if (threadIdx.x == 0) rstd[n] = r;
  for (int ch = threadIdx.x; ch < C; ch += blockDim.x)
    st(y + n * C + ch, preSum<T, HC>(xr, h, C, ch) * r * ld(w + ch));
}

/**
 * With u = s*rstd and gu = gy*w: gs = rstd*(gu - u*mean(gu*u)), gx[i] = hPre[i]*gs,
 * gh[i] = <gs, x[i]>. rstd is recomputed from x as the forward computed it.
 */
template <typename T, typename TW, int HC>
__global__ __launch_bounds__(kPreNormThreads) void preNormBwd(const T* __restrict__ g, const T* __restrict__ x,
                                                              const float* __restrict__ hp, const TW* __restrict__ w,
                                                              T* __restrict__ gx, float* __restrict__ gh, int C,
                                                              float eps) {
  __shared__ float red[(kPreNormThreads / 32) * (HC > 2 ? HC : 2)];
  const int64_t n = blockIdx.x;
  const int64_t base = n * HC * static_cast<int64_t>(C);
  const T* xr = x + base;
  float h[HC];
#pragma unroll
  for (int i = 0; i < HC; i++) h[i] = hp[n * HC + i];
  float acc[2] = {0.f, 0.f};
  for (int ch = threadIdx.x; ch < C; ch += blockDim.x) {
    const float s = preSum<T, HC>(xr, h, C, ch);
    acc[0] = fmaf(s, s, acc[0]);
    acc[1] = fmaf(ld(g + n * C + ch) * ld(w + ch), s, acc[1]);
  }
  blockSum<2>(acc, red);
  const float r = rsqrtf(acc[0] / static_cast<float>(C) + eps);
  const float mean = acc[1] * r / static_cast<float>(C);
  float part[HC];
#pragma unroll
  for (int i = 0; i < HC; i++) part[i] = 0.f;
  for (int ch = threadIdx.x; ch < C; ch += blockDim.x) {
    const float s = preSum<T, HC>(xr, h, C, ch);
    const float gs = r * (ld(g + n * C + ch) * ld(w + ch) - s * r * mean);
#pragma unroll
    for (int i = 0; i < HC; i++) {
      st(gx + base + i * C + ch, h[i] * gs);
      part[i] = fmaf(gs, ld(xr + i * C + ch), part[i]);
    }
  }
  blockSum<HC>(part, red);
  if (threadIdx.x == 0) {
#pragma unroll
    for (int i = 0; i < HC; i++) gh[n * HC + i] = part[i];
  }
}

/** gw[ch] = sum_n g[n, ch] * s[n, ch] * rstd[n], tokens ascending (one thread per channel). */
template <typename T, int HC>
__global__ void preNormWeightGrad(const T* __restrict__ g, const T* __restrict__ x, const float* __restrict__ hp,
                                  const float* __restrict__ rstd, float* __restrict__ gw, int N, int C) {
  for (int ch = blockIdx.x * blockDim.x + threadIdx.x; ch < C; ch += gridDim.x * blockDim.x) {
    float acc = 0.f;
    for (int64_t n = 0; n < N; n++) {
      float h[HC];
#pragma unroll
      for (int i = 0; i < HC; i++) h[i] = hp[n * HC + i];
      acc = fmaf(ld(g + n * C + ch) * preSum<T, HC>(x + n * HC * static_cast<int64_t>(C), h, C, ch), rstd[n], acc);
    }
    gw[ch] = acc;
  }
}

}  // namespace

// bufs: x, hPre, weight, y, rstd; params: PreNormFwdLaunch
LMHC_OP(pre_norm_fwd) {
  const auto p = PreNormFwdLaunch::read(a);
  const int N = p.tokens, hc = p.hc, C = p.c, xdt = p.xDtype, wdt = p.weightDtype;
  const float eps = p.eps;
  const size_t eb = dtypeBytes(xdt);
  const void* x = a.buf(0, static_cast<size_t>(N) * hc * C * eb);
  const float* hp = a.buf<float>(1, static_cast<size_t>(N) * hc * 4);
  const void* w = a.buf(2, static_cast<size_t>(C) * dtypeBytes(wdt));
  void* y = a.buf(3, static_cast<size_t>(N) * C * eb);
  float* rstd = a.buf<float>(4, static_cast<size_t>(N) * 4);
  if (N == 0) return;
  withHc(hc, [&](auto hcTag) {
    constexpr int HC = decltype(hcTag)::value;
    dispatchFloat(xdt, [&](auto tag) {
      using T = decltype(tag);
      dispatchFloat(wdt, [&](auto wtag) {
        using TW = decltype(wtag);
        preNormFwd<T, TW, HC><<<N, kPreNormThreads, 0, a.dev.stream>>>(
            static_cast<const T*>(x), hp, static_cast<const TW*>(w), static_cast<T*>(y), rstd, C, eps);
      });
    });
  });
  CK_LAUNCH("preNormFwd");
}

// bufs: gradY, x, hPre, weight, gradX, gradHPre; params: PreNormBwdLaunch
LMHC_OP(pre_norm_bwd) {
  const auto p = PreNormBwdLaunch::read(a);
  const int N = p.tokens, hc = p.hc, C = p.c, xdt = p.xDtype, wdt = p.weightDtype;
  const float eps = p.eps;
  const size_t eb = dtypeBytes(xdt);
  const void* g = a.buf(0, static_cast<size_t>(N) * C * eb);
  const void* x = a.buf(1, static_cast<size_t>(N) * hc * C * eb);
  const float* hp = a.buf<float>(2, static_cast<size_t>(N) * hc * 4);
  const void* w = a.buf(3, static_cast<size_t>(C) * dtypeBytes(wdt));
  void* gx = a.buf(4, static_cast<size_t>(N) * hc * C * eb);
  float* gh = a.buf<float>(5, static_cast<size_t>(N) * hc * 4);
  if (N == 0) return;
  withHc(hc, [&](auto hcTag) {
    constexpr int HC = decltype(hcTag)::value;
    dispatchFloat(xdt, [&](auto tag) {
      using T = decltype(tag);
      dispatchFloat(wdt, [&](auto wtag) {
        using TW = decltype(wtag);
        preNormBwd<T, TW, HC><<<N, kPreNormThreads, 0, a.dev.stream>>>(static_cast<const T*>(g),
                                                                        static_cast<const T*>(x), hp,
                                                                        static_cast<const TW*>(w),
                                                                        static_cast<T*>(gx), gh, C, eps);
      });
    });
  });
  CK_LAUNCH("preNormBwd");
}

// bufs: gradY, x, hPre, rstd, gradWeight; params: PreNormWeightGradLaunch
LMHC_OP(pre_norm_weight_grad) {
  const auto p = PreNormWeightGradLaunch::read(a);
  const int N = p.tokens, hc = p.hc, C = p.c, xdt = p.xDtype;
  const size_t eb = dtypeBytes(xdt);
  const void* g = a.buf(0, static_cast<size_t>(N) * C * eb);
  const void* x = a.buf(1, static_cast<size_t>(N) * hc * C * eb);
  const float* hp = a.buf<float>(2, static_cast<size_t>(N) * hc * 4);
  const float* rstd = a.buf<float>(3, static_cast<size_t>(N) * 4);
  float* gw = a.buf<float>(4, static_cast<size_t>(C) * 4);
  withHc(hc, [&](auto hcTag) {
    constexpr int HC = decltype(hcTag)::value;
    dispatchFloat(xdt, [&](auto tag) {
      using T = decltype(tag);
      preNormWeightGrad<T, HC><<<gridFor(a.dev, C, 128), 128, 0, a.dev.stream>>>(
          static_cast<const T*>(g), static_cast<const T*>(x), hp, rstd, gw, N, C);
    });
  });
  CK_LAUNCH("preNormWeightGrad");
}

}  // namespace lmhc
