// head (DeepSeek-V4's hc_head): the streams of the last layer reduced to one hidden state,
//   invr = rsqrt(mean(x^2) + rmsEps) over K = hc*C, mix[s] = (x . phi[s]) * invr,
//   w[s] = sigmoid(mix[s]*scale + base[s]) + eps,  y = sum_s w[s] * x[s];
// and its backward. Counterpart of the reference backend's cpu/mhc head kernel. One block per token
// reads x once for the projection and the RMS (block sums in a fixed order), once for y.
#include "../common.cuh"
#include "sinkhorn.cuh"

namespace lmhc {
namespace {

constexpr int kHeadThreads = 256;

template <typename T, typename TP, int HC>
__global__ __launch_bounds__(kHeadThreads) void headFwd(const T* __restrict__ x, const TP* __restrict__ phi,
                                                        const float* __restrict__ base,
                                                        const float* __restrict__ scale, T* __restrict__ y,
                                                        float* __restrict__ wt, float* __restrict__ sv, int C,
                                                        float rmsEps, float eps) {
  __shared__ float red[(kHeadThreads / 32) * (HC + 1)];
  const int64_t n = blockIdx.x;
  const int64_t K = static_cast<int64_t>(HC) * C;
  const T* xr = x + n * K;
  float acc[HC + 1];
#pragma unroll
  for (int j = 0; j <= HC; j++) acc[j] = 0.f;
  for (int64_t k = threadIdx.x; k < K; k += blockDim.x) {
    const float v = ld(xr + k);
    acc[HC] = fmaf(v, v, acc[HC]);
#pragma unroll
    for (int s = 0; s < HC; s++) acc[s] = fmaf(v, ld(phi + s * K + k), acc[s]);
  }
  blockSum<HC + 1>(acc, red);
  const float invr = rsqrtf(acc[HC] / static_cast<float>(K) + rmsEps);
  const float sc = scale[0];
  float w[HC];
#pragma unroll
  for (int s = 0; s < HC; s++) w[s] = sigmoidf(acc[s] * invr * sc + base[s]) + eps;
  if (threadIdx.x == 0) {
#pragma unroll
    for (int s = 0; s < HC; s++) wt[n * HC + s] = w[s];
    if (sv) {
#pragma unroll
      for (int s = 0; s < HC; s++) sv[n * (HC + 1) + s] = acc[s] * invr;
      sv[n * (HC + 1) + HC] = invr;
    }
  }
  for (int ch = threadIdx.x; ch < C; ch += blockDim.x) {
    float o = 0.f;
#pragma unroll
    for (int s = 0; s < HC; s++) o = fmaf(w[s], ld(xr + s * C + ch), o);
    st(y + n * C + ch, o);
  }
}

/**
 * Per token: gw[s] = <gy, x[s]>, dz = gw * sigmoid'(z), dmix = dz * scale, then
 * gx[s, ch] = w[s]*gy[ch] + factor*x[s, ch] + invr * sum_t dmix[t]*phi[t, s*C + ch] with
 * factor = -(dmix . mix) * invr^2 / K. Rows for the token reductions: tr [N, HC+1] = (dz, dz . mix),
 * gm [N, HC] = dmix * invr.
 */
template <typename T, typename TP, int HC>
__global__ __launch_bounds__(kHeadThreads) void headBwd(const T* __restrict__ gy, const T* __restrict__ x,
                                                        const TP* __restrict__ phi,
                                                        const float* __restrict__ base,
                                                        const float* __restrict__ scale,
                                                        const float* __restrict__ sv, T* __restrict__ gx,
                                                        float* __restrict__ tr, float* __restrict__ gm, int C,
                                                        float eps) {
  __shared__ float red[(kHeadThreads / 32) * HC];
  const int64_t n = blockIdx.x;
  const int64_t K = static_cast<int64_t>(HC) * C;
  const T* xr = x + n * K;
  float gw[HC];
#pragma unroll
  for (int s = 0; s < HC; s++) gw[s] = 0.f;
  for (int ch = threadIdx.x; ch < C; ch += blockDim.x) {
    const float g = ld(gy + n * C + ch);
#pragma unroll
    for (int s = 0; s < HC; s++) gw[s] = fmaf(g, ld(xr + s * C + ch), gw[s]);
  }
  blockSum<HC>(gw, red);
  const float sc = scale[0];
  const float invr = sv[n * (HC + 1) + HC];
  float w[HC], dm[HC];
  float dd = 0.f, gs = 0.f;
#pragma unroll
  for (int s = 0; s < HC; s++) {
    const float m = sv[n * (HC + 1) + s];
    const float sg = sigmoidf(m * sc + base[s]);
    w[s] = sg + eps;
    const float dz = gw[s] * sg * (1.f - sg);
    dm[s] = dz * sc;
    dd = fmaf(dm[s], m, dd);
    gs = fmaf(dz, m, gs);
    if (threadIdx.x == 0) {
      tr[n * (HC + 1) + s] = dz;
      gm[n * HC + s] = dm[s] * invr;
    }
  }
  if (threadIdx.x == 0) tr[n * (HC + 1) + HC] = gs;
  if (!gx) return;
  const float factor = -dd * invr * invr / static_cast<float>(K);
  for (int ch = threadIdx.x; ch < C; ch += blockDim.x) {
    const float g = ld(gy + n * C + ch);
#pragma unroll
    for (int s = 0; s < HC; s++) {
      const int64_t k = static_cast<int64_t>(s) * C + ch;
      float v = fmaf(w[s], g, factor * ld(xr + k));
#pragma unroll
      for (int t = 0; t < HC; t++) v = fmaf(dm[t] * invr, ld(phi + t * K + k), v);
      st(gx + n * K + k, v);
    }
  }
}

/** gp[s, k] = sum_n gm[n, s] * x[n, k], tokens ascending (one thread per k: a fixed order). */
template <typename T, int HC>
__global__ void headPhiGrad(const float* __restrict__ gm, const T* __restrict__ x, float* __restrict__ gp, int N,
                            int64_t K) {
  for (int64_t k = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; k < K;
       k += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float acc[HC];
#pragma unroll
    for (int s = 0; s < HC; s++) acc[s] = 0.f;
    for (int n = 0; n < N; n++) {
      const float v = ld(x + n * K + k);
#pragma unroll
      for (int s = 0; s < HC; s++) acc[s] = fmaf(gm[static_cast<int64_t>(n) * HC + s], v, acc[s]);
    }
#pragma unroll
    for (int s = 0; s < HC; s++) gp[s * K + k] = acc[s];
  }
}

/** out[j] = sum_n tr[n, j], tokens ascending. */
__global__ void headColumnSum(const float* __restrict__ tr, float* __restrict__ out, int N, int cols) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= cols) return;
  float s = 0.f;
  for (int n = 0; n < N; n++) s += tr[static_cast<int64_t>(n) * cols + j];
  out[j] = s;
}

}  // namespace

// bufs: x, phi, base, scale, y, weights, saved?; params: HeadFwdLaunch
LMHC_OP(head_fwd) {
  const auto p = HeadFwdLaunch::read(a);
  const int N = p.tokens, hc = p.hc, C = p.c, xdt = p.xDtype, pdt = p.paramDtype;
  const float rmsEps = p.rmsEps, eps = p.eps;
  const size_t K = static_cast<size_t>(hc) * C;
  const void* x = a.buf(0, N * K * dtypeBytes(xdt));
  const void* phi = a.buf(1, hc * K * dtypeBytes(pdt));
  const float* base = a.buf<float>(2, hc * 4);
  const float* scale = a.buf<float>(3, 4);
  void* y = a.buf(4, static_cast<size_t>(N) * C * dtypeBytes(xdt));
  float* wt = a.buf<float>(5, static_cast<size_t>(N) * hc * 4);
  float* sv = a.opt<float>(6, static_cast<size_t>(N) * (hc + 1) * 4);
  if (N == 0) return;
  withHc(hc, [&](auto hcTag) {
    constexpr int HC = decltype(hcTag)::value;
    dispatchFloat(xdt, [&](auto tag) {
      using T = decltype(tag);
      dispatchFloat(pdt, [&](auto ptag) {
        using TP = decltype(ptag);
        headFwd<T, TP, HC><<<N, kHeadThreads, 0, a.dev.stream>>>(static_cast<const T*>(x),
                                                                  static_cast<const TP*>(phi), base, scale,
                                                                  static_cast<T*>(y), wt, sv, C, rmsEps, eps);
      });
    });
  });
  CK_LAUNCH("headFwd");
}

// bufs: gradY, x, phi, base, scale, saved, gradX?, tr, gm; params: HeadBwdLaunch
LMHC_OP(head_bwd) {
  const auto p = HeadBwdLaunch::read(a);
  const int N = p.tokens, hc = p.hc, C = p.c, xdt = p.xDtype, pdt = p.paramDtype;
  const float eps = p.eps;
  const size_t K = static_cast<size_t>(hc) * C;
  const size_t eb = dtypeBytes(xdt);
  const void* gy = a.buf(0, static_cast<size_t>(N) * C * eb);
  const void* x = a.buf(1, N * K * eb);
  const void* phi = a.buf(2, hc * K * dtypeBytes(pdt));
  const float* base = a.buf<float>(3, hc * 4);
  const float* scale = a.buf<float>(4, 4);
  const float* sv = a.buf<float>(5, static_cast<size_t>(N) * (hc + 1) * 4);
  void* gx = a.opt(6, N * K * eb);
  float* tr = a.buf<float>(7, static_cast<size_t>(N) * (hc + 1) * 4);
  float* gm = a.buf<float>(8, static_cast<size_t>(N) * hc * 4);
  if (N == 0) return;
  withHc(hc, [&](auto hcTag) {
    constexpr int HC = decltype(hcTag)::value;
    dispatchFloat(xdt, [&](auto tag) {
      using T = decltype(tag);
      dispatchFloat(pdt, [&](auto ptag) {
        using TP = decltype(ptag);
        headBwd<T, TP, HC><<<N, kHeadThreads, 0, a.dev.stream>>>(
            static_cast<const T*>(gy), static_cast<const T*>(x), static_cast<const TP*>(phi), base, scale, sv,
            static_cast<T*>(gx), tr, gm, C, eps);
      });
    });
  });
  CK_LAUNCH("headBwd");
}

// bufs: gm, x, gradPhi; params: HeadPhiGradLaunch
LMHC_OP(head_phi_grad) {
  const auto p = HeadPhiGradLaunch::read(a);
  const int N = p.tokens, hc = p.hc, C = p.c, xdt = p.xDtype;
  const int64_t K = static_cast<int64_t>(hc) * C;
  const float* gm = a.buf<float>(0, static_cast<size_t>(N) * hc * 4);
  const void* x = a.buf(1, static_cast<size_t>(N) * K * dtypeBytes(xdt));
  float* gp = a.buf<float>(2, static_cast<size_t>(hc) * K * 4);
  withHc(hc, [&](auto hcTag) {
    constexpr int HC = decltype(hcTag)::value;
    dispatchFloat(xdt, [&](auto tag) {
      using T = decltype(tag);
      headPhiGrad<T, HC><<<gridFor(a.dev, K, 256), 256, 0, a.dev.stream>>>(gm, static_cast<const T*>(x), gp, N, K);
    });
  });
  CK_LAUNCH("headPhiGrad");
}

// bufs: tr, out; params: HeadColumnSumLaunch
LMHC_OP(head_column_sum) {
  const auto p = HeadColumnSumLaunch::read(a);
  const int N = p.rows, cols = p.cols;
  const float* tr = a.buf<float>(0, static_cast<size_t>(N) * cols * 4);
  float* out = a.buf<float>(1, static_cast<size_t>(cols) * 4);
  headColumnSum<<<(cols + 63) / 64, 64, 0, a.dev.stream>>>(tr, out, N, cols);
  CK_LAUNCH("headColumnSum");
}

}  // namespace lmhc
