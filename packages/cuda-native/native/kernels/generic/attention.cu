// Fused scaled dot-product attention (flash-style) and its backward. A block owns 64 rows of one
// (batch, head): query rows for the forward and dq, key rows for dk/dv. A row's D-vectors live in
// registers (capacity CAP >= D, a template parameter so the arrays stay in registers), split over
// a few lanes for wide heads, and the block streams the other side through shared memory in tiles
// of KT rows. Scores never reach global memory: the forward writes the output and a per-row
// log-sum-exp (natural log), and the backward recomputes P = exp(s - lse). Math and accumulation
// are f32 for every storage dtype.
#include <cmath>

#include "../common.cuh"

namespace lmhc {
namespace {

constexpr int kRows = 64;

/** Key (or query) rows per shared-memory tile: two tiles of KT x CAP floats stay within 32 KiB. */
template <int CAP>
constexpr int tileRows() {
  return 4096 / CAP < kRows ? 4096 / CAP : kRows;
}

/** Rows [r0, r0 + n) of a [*, D] tensor into a [KT][CAP] float tile, zero past D. */
template <typename T, int CAP>
__device__ __forceinline__ void loadTile(float* tile, const T* src, int64_t r0, int n, int D) {
  for (int x = threadIdx.x; x < n * CAP; x += blockDim.x) {
    const int r = x / CAP, c = x % CAP;
    tile[x] = c < D ? ld(src + (r0 + r) * D + c) : 0.f;
  }
}

/**
 * Threads per row for a register capacity: a row's vectors are split over S neighbouring lanes of
 * one warp (each holding CAP / S columns, at most W) so that wide heads do not spill registers; the
 * lanes sum their partial dot products with shuffles.
 */
template <int CAP, int W>
constexpr int splitFor() {
  return CAP > W ? CAP / W : 1;
}

/** Sum over the S lanes of a row (S a power of two <= 32, lanes aligned to S). */
template <int S>
__device__ __forceinline__ float rowSum(float x) {
  if constexpr (S > 1) {
    const unsigned lane = threadIdx.x & 31u;
    const unsigned mask = ((S == 32 ? 0xffffffffu : ((1u << S) - 1u)) << (lane & ~(S - 1u)));
#pragma unroll
    for (int o = 1; o < S; o <<= 1) x += __shfl_xor_sync(mask, x, o);
  }
  return x;
}

template <typename T, int CAP>
__global__ __launch_bounds__(kRows * splitFor<CAP, 64>()) void attnFwdKernel(
    const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v, T* __restrict__ o,
    float* __restrict__ lse, int tq, int tk, int D, bool causal, float scale) {
  constexpr int S = splitFor<CAP, 64>(), W = CAP / S, KT = tileRows<CAP>();
  __shared__ float ks[KT * CAP];
  __shared__ float vs[KT * CAP];
  const int64_t b = blockIdx.x;
  const int first = blockIdx.y * kRows;
  const int i = first + static_cast<int>(threadIdx.x) / S;
  const int c0 = (threadIdx.x % S) * W;
  const bool active = i < tq;
  const int64_t row = b * tq + i;
  float qr[W], acc[W];
#pragma unroll
  for (int c = 0; c < W; c++) {
    qr[c] = active && c0 + c < D ? ld(q + row * D + c0 + c) * scale : 0.f;
    acc[c] = 0.f;
  }
  const int len = causal ? min(tk, i + 1) : tk;
  // Keys past the block's last query are masked for every thread of the block.
  const int kEnd = causal ? min(tk, min(tq, first + kRows)) : tk;
  float m = -INFINITY, l = 0.f;
  for (int j0 = 0; j0 < kEnd; j0 += KT) {
    const int n = min(KT, kEnd - j0);
    __syncthreads();
    loadTile<T, CAP>(ks, k, b * tk + j0, n, D);
    loadTile<T, CAP>(vs, v, b * tk + j0, n, D);
    __syncthreads();
    if (!active) continue;
    const int nj = min(n, len - j0);
    for (int jj = 0; jj < nj; jj++) {
      const float* kt = ks + jj * CAP + c0;
      float s = 0.f;
#pragma unroll
      for (int c = 0; c < W; c++) s += qr[c] * kt[c];
      s = rowSum<S>(s);
      // Online softmax: a new running max rescales what has been summed so far.
      if (s > m) {
        const float corr = expf(m - s);
        l *= corr;
#pragma unroll
        for (int c = 0; c < W; c++) acc[c] *= corr;
        m = s;
      }
      const float p = expf(s - m);
      l += p;
      const float* vt = vs + jj * CAP + c0;
#pragma unroll
      for (int c = 0; c < W; c++) acc[c] += p * vt[c];
    }
  }
  if (!active) return;
  const float inv = 1.f / l;
#pragma unroll
  for (int c = 0; c < W; c++)
    if (c0 + c < D) o[row * D + c0 + c] = Io<T>::store(acc[c] * inv);
  if (c0 == 0) lse[row] = m + logf(l);
}

// dq_i = scale * sum_j P_ij (dP_ij - delta_i) k_j, with dP_ij = dO_i . v_j and delta_i = dO_i . O_i
// (also written out for the key pass). Three vectors a thread: split at 32 columns.
template <typename T, int CAP>
__global__ __launch_bounds__(kRows * splitFor<CAP, 32>()) void attnBwdQKernel(
    const T* __restrict__ g, const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
    const T* __restrict__ o, const float* __restrict__ lse, T* __restrict__ dq, float* __restrict__ delta, int tq,
    int tk, int D, bool causal, float scale) {
  constexpr int S = splitFor<CAP, 32>(), W = CAP / S, KT = tileRows<CAP>();
  __shared__ float ks[KT * CAP];
  __shared__ float vs[KT * CAP];
  const int64_t b = blockIdx.x;
  const int first = blockIdx.y * kRows;
  const int i = first + static_cast<int>(threadIdx.x) / S;
  const int c0 = (threadIdx.x % S) * W;
  const bool active = i < tq;
  const int64_t row = b * tq + i;
  float qr[W], gr[W], acc[W];
  float dlt = 0.f;
#pragma unroll
  for (int c = 0; c < W; c++) {
    const bool in = active && c0 + c < D;
    qr[c] = in ? ld(q + row * D + c0 + c) * scale : 0.f;
    gr[c] = in ? ld(g + row * D + c0 + c) : 0.f;
    if (in) dlt += gr[c] * ld(o + row * D + c0 + c);
    acc[c] = 0.f;
  }
  if (active) dlt = rowSum<S>(dlt);
  const float li = active ? lse[row] : 0.f;
  const int len = causal ? min(tk, i + 1) : tk;
  const int kEnd = causal ? min(tk, min(tq, first + kRows)) : tk;
  for (int j0 = 0; j0 < kEnd; j0 += KT) {
    const int n = min(KT, kEnd - j0);
    __syncthreads();
    loadTile<T, CAP>(ks, k, b * tk + j0, n, D);
    loadTile<T, CAP>(vs, v, b * tk + j0, n, D);
    __syncthreads();
    if (!active) continue;
    const int nj = min(n, len - j0);
    for (int jj = 0; jj < nj; jj++) {
      const float* kt = ks + jj * CAP + c0;
      const float* vt = vs + jj * CAP + c0;
      float s = 0.f, dp = 0.f;
#pragma unroll
      for (int c = 0; c < W; c++) {
        s += qr[c] * kt[c];
        dp += gr[c] * vt[c];
      }
      s = rowSum<S>(s);
      dp = rowSum<S>(dp);
      const float ds = expf(s - li) * (dp - dlt);
#pragma unroll
      for (int c = 0; c < W; c++) acc[c] += ds * kt[c];
    }
  }
  if (!active) return;
#pragma unroll
  for (int c = 0; c < W; c++)
    if (c0 + c < D) dq[row * D + c0 + c] = Io<T>::store(acc[c] * scale);
  if (c0 == 0) delta[row] = dlt;
}

// dk_j = scale * sum_i P_ij (dP_ij - delta_i) q_i and dv_j = sum_i P_ij dO_i over the queries that
// see key j (i >= j when causal). Four vectors a thread: split at 32 columns.
template <typename T, int CAP>
__global__ __launch_bounds__(kRows * splitFor<CAP, 32>()) void attnBwdKvKernel(
    const T* __restrict__ g, const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
    const float* __restrict__ lse, const float* __restrict__ delta, T* __restrict__ dk, T* __restrict__ dv, int tq,
    int tk, int D, bool causal, float scale) {
  constexpr int S = splitFor<CAP, 32>(), W = CAP / S, KT = tileRows<CAP>();
  __shared__ float qs[KT * CAP];
  __shared__ float gs[KT * CAP];
  __shared__ float ls[KT];
  __shared__ float ds_[KT];
  const int64_t b = blockIdx.x;
  const int first = blockIdx.y * kRows;
  const int j = first + static_cast<int>(threadIdx.x) / S;
  const int c0 = (threadIdx.x % S) * W;
  const bool active = j < tk;
  const int64_t row = b * tk + j;
  float kr[W], vr[W], dka[W], dva[W];
#pragma unroll
  for (int c = 0; c < W; c++) {
    const bool in = active && c0 + c < D;
    kr[c] = in ? ld(k + row * D + c0 + c) * scale : 0.f;
    vr[c] = in ? ld(v + row * D + c0 + c) : 0.f;
    dka[c] = 0.f;
    dva[c] = 0.f;
  }
  // Queries before the block's first key see none of its keys when causal.
  const int qStart = causal ? min(first, tq) : 0;
  for (int i0 = qStart; i0 < tq; i0 += KT) {
    const int n = min(KT, tq - i0);
    __syncthreads();
    loadTile<T, CAP>(qs, q, b * tq + i0, n, D);
    loadTile<T, CAP>(gs, g, b * tq + i0, n, D);
    for (int x = threadIdx.x; x < n; x += blockDim.x) {
      ls[x] = lse[b * tq + i0 + x];
      ds_[x] = delta[b * tq + i0 + x];
    }
    __syncthreads();
    if (!active) continue;
    for (int ii = causal ? max(0, j - i0) : 0; ii < n; ii++) {
      const float* qt = qs + ii * CAP + c0;
      const float* gt = gs + ii * CAP + c0;
      float s = 0.f, dp = 0.f;
#pragma unroll
      for (int c = 0; c < W; c++) {
        s += kr[c] * qt[c];
        dp += vr[c] * gt[c];
      }
      s = rowSum<S>(s);
      dp = rowSum<S>(dp);
      const float p = expf(s - ls[ii]);
      const float dsv = p * (dp - ds_[ii]);
#pragma unroll
      for (int c = 0; c < W; c++) {
        dka[c] += dsv * qt[c];
        dva[c] += p * gt[c];
      }
    }
  }
  if (!active) return;
#pragma unroll
  for (int c = 0; c < W; c++)
    if (c0 + c < D) {
      dk[row * D + c0 + c] = Io<T>::store(dka[c] * scale);
      dv[row * D + c0 + c] = Io<T>::store(dva[c]);
    }
}

/** Call f with the register capacity (a power of two in [16, 256]) for head dim D. */
template <typename F>
void dispatchCap(int D, F&& f) {
  if (D <= 16) f(std::integral_constant<int, 16>{});
  else if (D <= 32) f(std::integral_constant<int, 32>{});
  else if (D <= 64) f(std::integral_constant<int, 64>{});
  else if (D <= 128) f(std::integral_constant<int, 128>{});
  else if (D <= 256) f(std::integral_constant<int, 256>{});
  else throw ArgError("attention: head dim " + std::to_string(D) + " exceeds 256");
}

dim3 attnGrid(int64_t batch, int rows) {
  return dim3(static_cast<unsigned>(batch), static_cast<unsigned>((rows + kRows - 1) / kRows));
}

}  // namespace

// bufs: q, k, v, out, lse; params: AttentionLaunch
LMHC_OP(attention) {
  const auto p = AttentionLaunch::read(a);
  const int dt = p.dtype, tq = p.tq, tk = p.tk, D = p.d;
  const int64_t batch = p.batch;
  const bool causal = p.causal;
  const float scale = p.scale;
  if (batch == 0 || tq == 0 || D == 0) return;
  dispatchFloat(dt, [&](auto tag) {
    using T = decltype(tag);
    const size_t qb = batch * tq * D * sizeof(T), kb = batch * tk * D * sizeof(T);
    dispatchCap(D, [&](auto cap) {
      constexpr int CAP = decltype(cap)::value;
      attnFwdKernel<T, CAP><<<attnGrid(batch, tq), kRows * splitFor<CAP, 64>(), 0, a.dev.stream>>>(
          a.buf<const T>(0, qb), a.buf<const T>(1, kb), a.buf<const T>(2, kb), a.buf<T>(3, qb),
          a.buf<float>(4, batch * tq * 4), tq, tk, D, causal, scale);
    });
  });
  CK_LAUNCH("attention");
}

// bufs: grad, q, k, v, out, lse, gradQ, gradK, gradV, delta (f32 scratch [batch * Tq]);
// params: AttentionBwdLaunch
LMHC_OP(attention_bwd) {
  const auto p = AttentionBwdLaunch::read(a);
  const int dt = p.dtype, tq = p.tq, tk = p.tk, D = p.d;
  const int64_t batch = p.batch;
  const bool causal = p.causal;
  const float scale = p.scale;
  if (batch == 0 || D == 0) return;
  dispatchFloat(dt, [&](auto tag) {
    using T = decltype(tag);
    const size_t qb = batch * tq * D * sizeof(T), kb = batch * tk * D * sizeof(T);
    const T* g = a.buf<const T>(0, qb);
    const T* q = a.buf<const T>(1, qb);
    const T* k = a.buf<const T>(2, kb);
    const T* v = a.buf<const T>(3, kb);
    const T* o = a.buf<const T>(4, qb);
    const float* lse = a.buf<const float>(5, batch * tq * 4);
    T* dq = a.buf<T>(6, qb);
    T* dk = a.buf<T>(7, kb);
    T* dv = a.buf<T>(8, kb);
    float* delta = a.buf<float>(9, batch * tq * 4);
    dispatchCap(D, [&](auto cap) {
      constexpr int CAP = decltype(cap)::value;
      constexpr int threads = kRows * splitFor<CAP, 32>();
      if (tq > 0)
        attnBwdQKernel<T, CAP><<<attnGrid(batch, tq), threads, 0, a.dev.stream>>>(g, q, k, v, o, lse, dq, delta, tq,
                                                                                   tk, D, causal, scale);
      if (tk > 0)
        attnBwdKvKernel<T, CAP><<<attnGrid(batch, tk), threads, 0, a.dev.stream>>>(g, q, k, v, lse, delta, dk, dv,
                                                                                    tq, tk, D, causal, scale);
    });
  });
  CK_LAUNCH("attention_bwd");
}

}  // namespace lmhc
