// Per-token coefficient math shared by the coeffs forward kernels and the backward: split, sigmoid,
// 2*sigmoid and Sinkhorn-Knopp on an hc x hc matrix held by one thread (hc <= 8).
#pragma once
#include "../common.cuh"

namespace lmhc {

constexpr int kMaxHc = 8;

struct CoeffsFwdParams {
  int N, K, hc, M, tmax;
  float rmsEps, preEps, skEps, postMult;
  const float *b, *aPre, *aPost, *aRes;
  float *hPre, *hPost, *hRes;
  // Saved for the backward (null when the forward saves nothing): mix [N, M], invr [N], and in
  // 'history' mode the Sinkhorn normalisers [N, 2*tmax-1, hc].
  float *mix, *invr, *hist;
};

/**
 * The arguments the coeffs forward ops share (coeffs_fwd, coeffs_pre_fwd), checked against their
 * sizes. bufs: x, phi, b, aPre, aPost, aRes, hPre, hPost, hRes, mix?, invr?, hist?; params:
 * CoeffsFwdLaunch (coeffs_pre_fwd shares it). x and phi come back untyped.
 */
struct CoeffsFwdArgs {
  CoeffsFwdParams p;
  const void* x;
  const void* phi;
  int xdt, phidt;
};
inline CoeffsFwdArgs readCoeffsFwdArgs(const OpArgs& a, const char* op) {
  CoeffsFwdArgs r{};
  CoeffsFwdParams& p = r.p;
  const auto lp = CoeffsFwdLaunch::read(a);
  p.N = lp.tokens;
  p.K = lp.k;
  p.hc = lp.hc;
  p.tmax = lp.tmax;
  p.M = p.hc * p.hc + 2 * p.hc;
  if (p.N <= 0 || p.K <= 0 || p.tmax < 1 || p.hc < 1) throw ArgError(std::string(op) + ": bad sizes");
  p.rmsEps = lp.rmsEps;
  p.preEps = lp.preEps;
  p.skEps = lp.sinkhornEps;
  p.postMult = lp.postMult;
  r.xdt = lp.xDtype;
  r.phidt = lp.phiDtype;
  const size_t N = static_cast<size_t>(p.N), K = static_cast<size_t>(p.K), hc = static_cast<size_t>(p.hc);
  r.x = a.buf(0, N * K * dtypeBytes(r.xdt));
  r.phi = a.buf(1, K * p.M * dtypeBytes(r.phidt));
  p.b = a.buf<float>(2, p.M * 4);
  p.aPre = a.buf<float>(3, 4);
  p.aPost = a.buf<float>(4, 4);
  p.aRes = a.buf<float>(5, 4);
  p.hPre = a.buf<float>(6, N * hc * 4);
  p.hPost = a.buf<float>(7, N * hc * 4);
  p.hRes = a.buf<float>(8, N * hc * hc * 4);
  p.mix = a.opt<float>(9, N * p.M * 4);
  p.invr = a.opt<float>(10, N * 4);
  p.hist = a.opt<float>(11, N * (2 * p.tmax - 1) * hc * 4);
  return r;
}

/**
 * The per-token matrices are hc x hc with hc a template parameter: every loop below unrolls and the
 * matrices stay in registers (a run-time hc would put them in local memory, which made the per-token
 * kernels latency-bound).
 */

/** Column normalisation P /= (colsum + eps); records the divisors (the backward's history). */
template <int HC>
__device__ __forceinline__ void skCol(float (&P)[HC * HC], float eps, float* d) {
#pragma unroll
  for (int j = 0; j < HC; j++) {
    float s = 0.f;
#pragma unroll
    for (int i = 0; i < HC; i++) s += P[i * HC + j];
    const float dj = s + eps;
    if (d) d[j] = dj;
#pragma unroll
    for (int i = 0; i < HC; i++) P[i * HC + j] = P[i * HC + j] / dj;
  }
}

template <int HC>
__device__ __forceinline__ void skRow(float (&P)[HC * HC], float eps, float* d) {
#pragma unroll
  for (int i = 0; i < HC; i++) {
    float s = 0.f;
#pragma unroll
    for (int j = 0; j < HC; j++) s += P[i * HC + j];
    const float di = s + eps;
    if (d) d[i] = di;
#pragma unroll
    for (int j = 0; j < HC; j++) P[i * HC + j] = P[i * HC + j] / di;
  }
}

/** Row softmax of the logits (max-shifted). */
template <int HC>
__device__ __forceinline__ void rowSoftmax(float (&P)[HC * HC]) {
#pragma unroll
  for (int i = 0; i < HC; i++) {
    float mx = P[i * HC];
#pragma unroll
    for (int j = 1; j < HC; j++) mx = fmaxf(mx, P[i * HC + j]);
    float s = 0.f;
#pragma unroll
    for (int j = 0; j < HC; j++) {
      const float e = expf(P[i * HC + j] - mx);
      P[i * HC + j] = e;
      s += e;
    }
#pragma unroll
    for (int j = 0; j < HC; j++) P[i * HC + j] = P[i * HC + j] / s;
  }
}

/**
 * Sinkhorn forward in place: P = softmax(L) + eps, then a column step, then (tmax-1) x (row, column).
 * Step t (0-based; even = column, odd = row) writes its divisors to norms[t*hc .. t*hc+hc) when
 * norms is not null: 2*tmax-1 steps in all.
 */
template <int HC>
__device__ __forceinline__ void sinkhornFwd(float (&P)[HC * HC], int tmax, float eps, float* norms) {
  rowSoftmax<HC>(P);
#pragma unroll
  for (int i = 0; i < HC * HC; i++) P[i] = P[i] + eps;
  int step = 0;
  skCol<HC>(P, eps, norms ? norms + step * HC : nullptr);
  step++;
  for (int it = 1; it < tmax; it++) {
    skRow<HC>(P, eps, norms ? norms + step * HC : nullptr);
    step++;
    skCol<HC>(P, eps, norms ? norms + step * HC : nullptr);
    step++;
  }
}

/** From the raw dot products y = x.phi [M] and the sum of squares of x: every output of coeffs. */
template <int HC>
__device__ __forceinline__ void coeffsEpilogue(const CoeffsFwdParams& p, int n, const float* y, float ss) {
  constexpr int M = HC * HC + 2 * HC;
  const float invr = 1.0f / sqrtf(ss / static_cast<float>(p.K) + p.rmsEps);
  const float ap = *p.aPre, aq = *p.aPost, ar = *p.aRes;
  float P[HC * HC];
#pragma unroll
  for (int m = 0; m < M; m++) {
    const float mix = y[m] * invr;
    if (p.mix) p.mix[static_cast<size_t>(n) * M + m] = mix;
    if (m < HC)
      p.hPre[static_cast<size_t>(n) * HC + m] = sigmoidf(mix * ap + p.b[m]) + p.preEps;
    else if (m < 2 * HC)
      p.hPost[static_cast<size_t>(n) * HC + (m - HC)] = sigmoidf(mix * aq + p.b[m]) * p.postMult;
    else
      P[m - 2 * HC] = mix * ar + p.b[m];
  }
  if (p.invr) p.invr[n] = invr;
  const int steps = 2 * p.tmax - 1;
  sinkhornFwd<HC>(P, p.tmax, p.skEps, p.hist ? p.hist + static_cast<size_t>(n) * steps * HC : nullptr);
#pragma unroll
  for (int i = 0; i < HC * HC; i++) p.hRes[static_cast<size_t>(n) * HC * HC + i] = P[i];
}

/** Call f(std::integral_constant<int, hc>) for hc in 1..8. */
template <typename F>
void withHc(int hc, F&& f) {
  switch (hc) {
    case 1: f(std::integral_constant<int, 1>{}); return;
    case 2: f(std::integral_constant<int, 2>{}); return;
    case 3: f(std::integral_constant<int, 3>{}); return;
    case 4: f(std::integral_constant<int, 4>{}); return;
    case 5: f(std::integral_constant<int, 5>{}); return;
    case 6: f(std::integral_constant<int, 6>{}); return;
    case 7: f(std::integral_constant<int, 7>{}); return;
    case 8: f(std::integral_constant<int, 8>{}); return;
    default: throw ArgError("hc must be between 1 and 8 on the CUDA backend, got " + std::to_string(hc));
  }
}

/**
 * sinkhornFwd for hc = 4 on 16 lanes (lane e = 4i + j owns entry (i, j)); every sum gathers its
 * terms with shuffles and adds them in sinkhornFwd's order, so the results are the same. L: the
 * token's 16 logits (shared memory). The 16 lanes must be an aligned half warp, all taking part.
 */
__device__ __forceinline__ void sinkhorn4Lanes(const CoeffsFwdParams& p, int n, const float* L) {
  constexpr int HC = 4;
  const int lane = threadIdx.x & 31, e = lane & 15, i = e >> 2, j = e & 3;
  const unsigned mask = 0xffffu << (lane & 16);
  float lr[HC];
#pragma unroll
  for (int k = 0; k < HC; k++) lr[k] = L[i * HC + k];
  float mx = lr[0];
#pragma unroll
  for (int k = 1; k < HC; k++) mx = fmaxf(mx, lr[k]);
  float ex[HC], sum = 0.f;
#pragma unroll
  for (int k = 0; k < HC; k++) {
    ex[k] = expf(lr[k] - mx);
    sum += ex[k];
  }
  float P = ex[j] / sum;
  P = P + p.skEps;
  const int steps = 2 * p.tmax - 1;
  float* hist = p.hist ? p.hist + static_cast<size_t>(n) * steps * HC : nullptr;
  for (int step = 0; step < steps; step++) {
    const bool col = (step & 1) == 0;
    float sm = 0.f;
#pragma unroll
    for (int k = 0; k < HC; k++) sm += __shfl_sync(mask, P, col ? k * HC + j : i * HC + k, 16);
    const float d = sm + p.skEps;
    if (hist && (col ? i == 0 : j == 0)) hist[step * HC + (col ? j : i)] = d;
    P = P / d;
  }
  p.hRes[static_cast<size_t>(n) * HC * HC + e] = P;
}

}  // namespace lmhc
