// post_res_coeffs_pre: the boundary between two consecutive mHC sublayers in one pass over the
// streams. Sublayer l's post_res (xOut = Σ_i W[o, i]·x[i] + hPost[o]·f), then sublayer l+1's
// coefficients of xOut (x·phi and the sum of squares, split, sigmoid, Sinkhorn) and its pre
// (xIn = Σ_s hPre[s]·xOut[s]). Counterpart of the reference backend's cpu/mhc/post_res_coeffs_pre.ts.
//
// Why it is shaped this way: pre cannot start on a token before that token's whole x·phi reduction
// is done, so the new streams of a token must still be on chip when its hPre is known. Run per layer
// the boundary moves (3n+2)·C elements a token through DRAM (post_res reads x and f and writes xOut,
// coeffs reads xOut, pre reads it again and writes xIn); here a block owns one token: it reads x and
// f once, writes xOut once, and pre re-reads the xOut values each thread itself stored a moment
// before (the same addresses, still in L1/L2; no barrier needed, a thread sees its own writes), so
// DRAM sees the floor, (2n+2)·C. xOut is rounded to the storage dtype before the projection and pre
// read it, exactly as the separate ops read the stored xOut, so both paths agree.
// The projection reduces over the block with blockSum (fixed order, no atomics: deterministic).
// What this version does not do yet: phi (K·M values) is re-read from L2 by every token; the
// tensor-core tile path of coeffs_pre.cu (16-token tiles, phi fragments held in shared memory) is
// the model for removing that traffic, to be measured on the device.
// Saved tensors are those of coeffs_fwd (mix [N, M], invr [N], Sinkhorn divisors), so the backward
// reuses pre_bwd, coeffs_bwd and post_res_bwd unchanged.
#include "sinkhorn.cuh"

namespace lmhc {
namespace {

constexpr int kThreads = 256;

/** phi[i] as f32 from its storage dtype (a uniform branch: one kernel for every phi dtype). */
__device__ __forceinline__ float phiAt(const void* phi, int dt, size_t i) {
  if (dt == kF32) return static_cast<const float*>(phi)[i];
  if (dt == kBF16) return __bfloat162float(static_cast<const bf16*>(phi)[i]);
  return __half2float(static_cast<const f16*>(phi)[i]);
}

// The orientation and phi's dtype are run-time arguments (they only change indices and a load), so
// the template set stays at hc x x-dtype: fewer instantiations, the same inner loop.
template <typename T, int HC>
__global__ __launch_bounds__(kThreads) void postResCoeffsPreFwd(const T* __restrict__ x, const T* __restrict__ f,
                                                                const float* __restrict__ hPostIn,
                                                                const float* __restrict__ hResIn,
                                                                const void* __restrict__ phi, int phidt, bool ds,
                                                                CoeffsFwdParams p, T* __restrict__ xOut,
                                                                T* __restrict__ xIn, int C) {
  constexpr int M = HC * HC + 2 * HC;
  __shared__ float red[(kThreads / 32) * (M + 1)];
  const int n = blockIdx.x;
  const size_t base = static_cast<size_t>(n) * HC * C;
  // Sublayer l's coefficients of this token (every thread reads the same few words: broadcast).
  float W[HC * HC], hp[HC];
#pragma unroll
  for (int o = 0; o < HC; o++) {
    hp[o] = hPostIn[static_cast<size_t>(n) * HC + o];
#pragma unroll
    for (int i = 0; i < HC; i++)
      W[o * HC + i] = hResIn[static_cast<size_t>(n) * HC * HC + (ds ? i * HC + o : o * HC + i)];
  }
  // post_res, stored, then the stored values into the projection: acc[0..M) = xOut·phi, acc[M] = Σ xOut².
  float acc[M + 1];
#pragma unroll
  for (int m = 0; m <= M; m++) acc[m] = 0.f;
  for (int c = threadIdx.x; c < C; c += kThreads) {
    float xv[HC];
#pragma unroll
    for (int i = 0; i < HC; i++) xv[i] = ld(x + base + static_cast<size_t>(i) * C + c);
    const float fv = ld(f + static_cast<size_t>(n) * C + c);
#pragma unroll
    for (int o = 0; o < HC; o++) {
      float s = hp[o] * fv;
#pragma unroll
      for (int i = 0; i < HC; i++) s = fmaf(W[o * HC + i], xv[i], s);
      T* dst = xOut + base + static_cast<size_t>(o) * C + c;
      st(dst, s);
      const float v = ld(dst);  // the rounded value, as the separate coeffs and pre would read it
      acc[M] = fmaf(v, v, acc[M]);
      const size_t row = (static_cast<size_t>(o) * C + c) * M;
#pragma unroll
      for (int m = 0; m < M; m++) acc[m] = fmaf(v, phiAt(phi, phidt, row + m), acc[m]);
    }
  }
  blockSum<M + 1>(acc, red);
  // Every thread has the token's sums; thread 0 writes the coefficients and what the backward needs.
  if (threadIdx.x == 0) coeffsEpilogue<HC>(p, n, acc, acc[M]);
  // hPre again in every thread, with coeffsEpilogue's expressions (same bits), for pre.
  const float invr = 1.0f / sqrtf(acc[M] / static_cast<float>(p.K) + p.rmsEps);
  const float ap = *p.aPre;
  float hPre[HC];
#pragma unroll
  for (int s = 0; s < HC; s++) hPre[s] = sigmoidf(acc[s] * invr * ap + p.b[s]) + p.preEps;
  for (int c = threadIdx.x; c < C; c += kThreads) {
    float s = 0.f;
#pragma unroll
    for (int i = 0; i < HC; i++) s = fmaf(hPre[i], ld(xOut + base + static_cast<size_t>(i) * C + c), s);
    st(xIn + static_cast<size_t>(n) * C + c, s);
  }
}

}  // namespace

// bufs: x, f, hPostIn, hResIn, phi, b, aPre, aPost, aRes, xOut, hPre, hPost, hRes, mix?, invr?, hist?, xIn
// params: PostResCoeffsPreFwdLaunch
LMHC_OP(post_res_coeffs_pre_fwd) {
  const auto lp = PostResCoeffsPreFwdLaunch::read(a);
  CoeffsFwdParams p{};
  p.N = lp.tokens;
  p.hc = lp.hc;
  const int C = lp.c;
  p.tmax = lp.tmax;
  p.rmsEps = lp.rmsEps;
  p.preEps = lp.preEps;
  p.skEps = lp.sinkhornEps;
  p.postMult = lp.postMult;
  const int xdt = lp.xDtype, phidt = lp.phiDtype;
  const bool ds = lp.deepseek;
  if (p.N <= 0 || C <= 0 || p.hc < 1 || p.tmax < 1) throw ArgError("post_res_coeffs_pre_fwd: bad sizes");
  if (xdt != kF32 && xdt != kF16 && xdt != kBF16) throw ArgError("post_res_coeffs_pre_fwd: x must be a float dtype");
  if (phidt != kF32 && phidt != kF16 && phidt != kBF16)
    throw ArgError("post_res_coeffs_pre_fwd: phi must be a float dtype");
  p.K = p.hc * C;
  p.M = p.hc * p.hc + 2 * p.hc;
  const size_t N = static_cast<size_t>(p.N), hc = static_cast<size_t>(p.hc), Cs = static_cast<size_t>(C);
  const size_t eb = dtypeBytes(xdt);
  const void* x = a.buf(0, N * hc * Cs * eb);
  const void* f = a.buf(1, N * Cs * eb);
  const float* hPostIn = a.buf<float>(2, N * hc * 4);
  const float* hResIn = a.buf<float>(3, N * hc * hc * 4);
  const void* phi = a.buf(4, static_cast<size_t>(p.K) * p.M * dtypeBytes(phidt));
  p.b = a.buf<float>(5, p.M * 4);
  p.aPre = a.buf<float>(6, 4);
  p.aPost = a.buf<float>(7, 4);
  p.aRes = a.buf<float>(8, 4);
  void* xOut = a.buf(9, N * hc * Cs * eb);
  p.hPre = a.buf<float>(10, N * hc * 4);
  p.hPost = a.buf<float>(11, N * hc * 4);
  p.hRes = a.buf<float>(12, N * hc * hc * 4);
  p.mix = a.opt<float>(13, N * p.M * 4);
  p.invr = a.opt<float>(14, N * 4);
  p.hist = a.opt<float>(15, N * (2 * p.tmax - 1) * hc * 4);
  void* xIn = a.buf(16, N * Cs * eb);
  withHc(p.hc, [&](auto hcTag) {
    constexpr int HC = decltype(hcTag)::value;
    dispatchFloat(xdt, [&](auto xTag) {
      using T = decltype(xTag);
      postResCoeffsPreFwd<T, HC><<<p.N, kThreads, 0, a.dev.stream>>>(
          static_cast<const T*>(x), static_cast<const T*>(f), hPostIn, hResIn, phi, phidt, ds, p,
          static_cast<T*>(xOut), static_cast<T*>(xIn), C);
    });
  });
  CK_LAUNCH("postResCoeffsPreFwd");
}

}  // namespace lmhc
