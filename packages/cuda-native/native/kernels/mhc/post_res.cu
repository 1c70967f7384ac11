// post_res: x_out[n, o, :] = sum_i R[o, i] * x[n, i, :] + hPost[n, o] * f[n, :], with R = hRes[n]
// ('liger') or its transpose ('deepseek'), and its backward. Counterpart of the reference backend's
// cpu/mhc post_res kernel. 16-byte accesses, f32 math, outputs written in the storage dtype.
#include "../common.cuh"
#include "sinkhorn.cuh"

namespace lmhc {
namespace {

template <typename T, int HC, int V, bool DS>
__global__ __launch_bounds__(256) void postResFwd(const T* __restrict__ x, const T* __restrict__ f,
                                                  const float* __restrict__ hPost,
                                                  const float* __restrict__ hRes, T* __restrict__ out, int N,
                                                  int C) {
  const int CV = C / V;
  const int64_t total = static_cast<int64_t>(N) * CV;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t n = i / CV;
    const int cv = static_cast<int>(i - n * CV);
    float xs[HC][V], fv[V];
#pragma unroll
    for (int s = 0; s < HC; s++) loadN<T, V>(x + (n * HC + s) * C + cv * V, xs[s]);
    loadN<T, V>(f + n * C + cv * V, fv);
    const float* R = hRes + n * HC * HC;
#pragma unroll
    for (int o = 0; o < HC; o++) {
      float acc[V];
#pragma unroll
      for (int v = 0; v < V; v++) acc[v] = 0.f;
#pragma unroll
      for (int s = 0; s < HC; s++) {
        const float r = DS ? R[s * HC + o] : R[o * HC + s];
#pragma unroll
        for (int v = 0; v < V; v++) acc[v] = fmaf(r, xs[s][v], acc[v]);
      }
      const float hp = hPost[n * HC + o];
#pragma unroll
      for (int v = 0; v < V; v++) acc[v] = fmaf(hp, fv[v], acc[v]);
      storeN<T, V>(out + (n * HC + o) * C + cv * V, acc);
    }
  }
}

/**
 * TPT threads a token (128: one block; 32: one warp, four tokens a block): grad_x[i] = sum_o R[o, i]
 * g[o] (+ acc[i], the running x gradient, when given), grad_f = sum_o hPost[o] g[o], and the
 * per-token reductions grad_hPost[o] = <g[o], f>, grad_R[o, i] = <g[o], x[i]> (fixed-order
 * butterflies, then warps in order for a block). A warp a token is for short rows (c / V <= 256):
 * there a block's reduction and its barriers cost more than the token's loads.
 */
template <typename T, int HC, int V, bool DS, int TPT>
__global__ __launch_bounds__(128) void postResBwd(const T* __restrict__ g, const T* __restrict__ x,
                                                  const T* __restrict__ f, const float* __restrict__ hPost,
                                                  const float* __restrict__ hRes, const T* __restrict__ acc,
                                                  T* __restrict__ gx, T* __restrict__ gf, float* __restrict__ gHPost,
                                                  float* __restrict__ gHRes, int N, int C) {
  constexpr int NV = HC + HC * HC;
  __shared__ float red[4 * NV];
  // (A block a token: n stays block-uniform, so the coefficients below can live in uniform registers.)
  const int64_t n = TPT == 128 ? static_cast<int64_t>(blockIdx.x)
                               : static_cast<int64_t>(blockIdx.x) * (128 / TPT) + threadIdx.x / TPT;
  const int lane = TPT == 128 ? static_cast<int>(threadIdx.x) : static_cast<int>(threadIdx.x % TPT);
  if (TPT == 32 && n >= N) return;  // a whole warp (no block barrier in that variant)
  float R[HC][HC], hp[HC], part[NV];
#pragma unroll
  for (int o = 0; o < HC; o++) {
    hp[o] = hPost[n * HC + o];
#pragma unroll
    for (int i = 0; i < HC; i++) R[o][i] = DS ? hRes[n * HC * HC + i * HC + o] : hRes[n * HC * HC + o * HC + i];
  }
#pragma unroll
  for (int j = 0; j < NV; j++) part[j] = 0.f;
  // (For a block a token the stride stays blockDim.x as an unsigned run-time value: other spellings
  // made ptxas spill ~770 bytes at hc = 8 instead of 88.)
  for (int cv = lane; cv < C / V; cv += (TPT == 128 ? blockDim.x : TPT)) {
    float gs[HC][V], xs[HC][V], fv[V];
#pragma unroll
    for (int o = 0; o < HC; o++) loadN<T, V>(g + (n * HC + o) * C + cv * V, gs[o]);
#pragma unroll
    for (int i = 0; i < HC; i++) loadN<T, V>(x + (n * HC + i) * C + cv * V, xs[i]);
    loadN<T, V>(f + n * C + cv * V, fv);
#pragma unroll
    for (int i = 0; i < HC; i++) {
      float o_[V];
#pragma unroll
      for (int v = 0; v < V; v++) o_[v] = 0.f;
#pragma unroll
      for (int o = 0; o < HC; o++)
#pragma unroll
        for (int v = 0; v < V; v++) o_[v] = fmaf(R[o][i], gs[o][v], o_[v]);
      if (acc) {  // the running x gradient, summed in f32
        float av[V];
        loadN<T, V>(acc + (n * HC + i) * C + cv * V, av);
#pragma unroll
        for (int v = 0; v < V; v++) o_[v] += av[v];
      }
      storeN<T, V>(gx + (n * HC + i) * C + cv * V, o_);
    }
    float fo[V];
#pragma unroll
    for (int v = 0; v < V; v++) fo[v] = 0.f;
#pragma unroll
    for (int o = 0; o < HC; o++) {
#pragma unroll
      for (int v = 0; v < V; v++) {
        fo[v] = fmaf(hp[o], gs[o][v], fo[v]);
        part[o] = fmaf(gs[o][v], fv[v], part[o]);
      }
#pragma unroll
      for (int i = 0; i < HC; i++)
#pragma unroll
        for (int v = 0; v < V; v++) part[HC + o * HC + i] = fmaf(gs[o][v], xs[i][v], part[HC + o * HC + i]);
    }
    storeN<T, V>(gf + n * C + cv * V, fo);
  }
  if constexpr (TPT == 32) {
#pragma unroll
    for (int j = 0; j < NV; j++) {
      float v = part[j];
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
      part[j] = v;
    }
  } else {
    blockSum<NV>(part, red);
  }
  if (lane == 0) {
#pragma unroll
    for (int o = 0; o < HC; o++) {
      gHPost[n * HC + o] = part[o];
#pragma unroll
      for (int i = 0; i < HC; i++) {
        // part holds d/dR[o, i]; R[o, i] is hRes[o, i] ('liger') or hRes[i, o] ('deepseek').
        if (DS) gHRes[n * HC * HC + i * HC + o] = part[HC + o * HC + i];
        else gHRes[n * HC * HC + o * HC + i] = part[HC + o * HC + i];
      }
    }
  }
}

}  // namespace

// bufs: x, f, hPost, hRes, out; params: PostResFwdLaunch
LMHC_OP(post_res_fwd) {
  const auto p = PostResFwdLaunch::read(a);
  const int N = p.tokens, hc = p.hc, C = p.c, dt = p.dtype;
  const bool ds = p.deepseek;
  const size_t eb = dtypeBytes(dt);
  const void* x = a.buf(0, static_cast<size_t>(N) * hc * C * eb);
  const void* f = a.buf(1, static_cast<size_t>(N) * C * eb);
  const float* hPost = a.buf<float>(2, static_cast<size_t>(N) * hc * 4);
  const float* hRes = a.buf<float>(3, static_cast<size_t>(N) * hc * hc * 4);
  void* out = a.buf(4, static_cast<size_t>(N) * hc * C * eb);
  withHc(hc, [&](auto hcTag) {
    constexpr int HC = decltype(hcTag)::value;
    dispatchFloat(dt, [&](auto tag) {
      using T = decltype(tag);
      constexpr int V = kVec<T>;
      auto go = [&](auto vTag, auto dsTag) {
        constexpr int VV = decltype(vTag)::value;
        constexpr bool DS = decltype(dsTag)::value;
        postResFwd<T, HC, VV, DS><<<gridFor(a.dev, static_cast<int64_t>(N) * (C / VV), 256), 256, 0, a.dev.stream>>>(
            static_cast<const T*>(x), static_cast<const T*>(f), hPost, hRes, static_cast<T*>(out), N, C);
      };
      if (C % V == 0) {
        if (ds) go(std::integral_constant<int, V>{}, std::true_type{});
        else go(std::integral_constant<int, V>{}, std::false_type{});
      } else {
        if (ds) go(std::integral_constant<int, 1>{}, std::true_type{});
        else go(std::integral_constant<int, 1>{}, std::false_type{});
      }
    });
  });
  CK_LAUNCH("postResFwd");
}

// bufs: gradOut, x, f, hPost, hRes, gradX, gradF, gradHPost, gradHRes, accumulate?; params: PostResBwdLaunch
LMHC_OP(post_res_bwd) {
  const auto p = PostResBwdLaunch::read(a);
  const int N = p.tokens, hc = p.hc, C = p.c, dt = p.dtype;
  const bool ds = p.deepseek;
  const size_t eb = dtypeBytes(dt);
  const void* g = a.buf(0, static_cast<size_t>(N) * hc * C * eb);
  const void* x = a.buf(1, static_cast<size_t>(N) * hc * C * eb);
  const void* f = a.buf(2, static_cast<size_t>(N) * C * eb);
  const float* hPost = a.buf<float>(3, static_cast<size_t>(N) * hc * 4);
  const float* hRes = a.buf<float>(4, static_cast<size_t>(N) * hc * hc * 4);
  void* gx = a.buf(5, static_cast<size_t>(N) * hc * C * eb);
  void* gf = a.buf(6, static_cast<size_t>(N) * C * eb);
  float* gHPost = a.buf<float>(7, static_cast<size_t>(N) * hc * 4);
  float* gHRes = a.buf<float>(8, static_cast<size_t>(N) * hc * hc * 4);
  const void* acc = a.opt(9, static_cast<size_t>(N) * hc * C * eb);
  withHc(hc, [&](auto hcTag) {
    constexpr int HC = decltype(hcTag)::value;
    dispatchFloat(dt, [&](auto tag) {
      using T = decltype(tag);
      constexpr int V = kVec<T>;
      auto go = [&](auto vTag, auto dsTag) {
        constexpr int VV = decltype(vTag)::value;
        constexpr bool DS = decltype(dsTag)::value;
        auto launch = [&](auto kern, int tokensPerBlock) {
          kern<<<(N + tokensPerBlock - 1) / tokensPerBlock, 128, 0, a.dev.stream>>>(
              static_cast<const T*>(g), static_cast<const T*>(x), static_cast<const T*>(f), hPost, hRes,
              static_cast<const T*>(acc), static_cast<T*>(gx), static_cast<T*>(gf), gHPost, gHRes, N, C);
        };
        // A warp a token for short rows (hc <= 4 keeps its registers in bounds); else a block.
        if constexpr (HC <= 4 && VV > 1) {
          if (C / VV <= 256) return launch(postResBwd<T, HC, VV, DS, 32>, 4);
        }
        launch(postResBwd<T, HC, VV, DS, 128>, 1);
      };
      if (C % V == 0) {
        if (ds) go(std::integral_constant<int, V>{}, std::true_type{});
        else go(std::integral_constant<int, V>{}, std::false_type{});
      } else {
        if (ds) go(std::integral_constant<int, 1>{}, std::true_type{});
        else go(std::integral_constant<int, 1>{}, std::false_type{});
      }
    });
  });
  CK_LAUNCH("postResBwd");
}

}  // namespace lmhc
