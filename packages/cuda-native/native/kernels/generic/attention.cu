// Fused scaled dot-product attention (flash-style) and its backward. A block owns 64 rows of one
// (batch, head): query rows for the forward and dq, key rows for dk/dv. Each thread keeps its row's
// D-vectors in registers (capacity CAP >= D, a template parameter so the arrays stay in registers)
// and the block streams the other side through shared memory in tiles of KT rows. Scores never
// reach global memory: the forward writes the output and a per-row log-sum-exp (natural log), and
// the backward recomputes P = exp(s - lse). Math and accumulation are f32 for every storage dtype.
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

template <typename T, int CAP>
__global__ __launch_bounds__(kRows) void attnFwdKernel(const T* __restrict__ q, const T* __restrict__ k,
                                                       const T* __restrict__ v, T* __restrict__ o,
                                                       float* __restrict__ lse, int tq, int tk, int D, bool causal,
                                                       float scale) {
  constexpr int KT = tileRows<CAP>();
  __shared__ float ks[KT * CAP];
  __shared__ float vs[KT * CAP];
  const int64_t b = blockIdx.x;
  const int first = blockIdx.y * kRows;
  const int i = first + threadIdx.x;
  const bool active = i < tq;
  const int64_t row = b * tq + i;
  float qr[CAP], acc[CAP];
#pragma unroll
  for (int c = 0; c < CAP; c++) {
    qr[c] = active && c < D ? ld(q + row * D + c) * scale : 0.f;
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
      float s = 0.f;
#pragma unroll
      for (int c = 0; c < CAP; c++) s += qr[c] * ks[jj * CAP + c];
      // Online softmax: a new running max rescales what has been summed so far.
      if (s > m) {
        const float corr = expf(m - s);
        l *= corr;
#pragma unroll
        for (int c = 0; c < CAP; c++) acc[c] *= corr;
        m = s;
      }
      const float p = expf(s - m);
      l += p;
#pragma unroll
      for (int c = 0; c < CAP; c++) acc[c] += p * vs[jj * CAP + c];
    }
  }
  if (!active) return;
  const float inv = 1.f / l;
#pragma unroll
  for (int c = 0; c < CAP; c++)
    if (c < D) o[row * D + c] = Io<T>::store(acc[c] * inv);
  lse[row] = m + logf(l);
}

// dq_i = scale * sum_j P_ij (dP_ij - delta_i) k_j, with dP_ij = dO_i . v_j and delta_i = dO_i . O_i
// (also written out for the key pass).
template <typename T, int CAP>
__global__ __launch_bounds__(kRows) void attnBwdQKernel(const T* __restrict__ g, const T* __restrict__ q,
                                                        const T* __restrict__ k, const T* __restrict__ v,
                                                        const T* __restrict__ o, const float* __restrict__ lse,
                                                        T* __restrict__ dq, float* __restrict__ delta, int tq, int tk,
                                                        int D, bool causal, float scale) {
  constexpr int KT = tileRows<CAP>();
  __shared__ float ks[KT * CAP];
  __shared__ float vs[KT * CAP];
  const int64_t b = blockIdx.x;
  const int first = blockIdx.y * kRows;
  const int i = first + threadIdx.x;
  const bool active = i < tq;
  const int64_t row = b * tq + i;
  float qr[CAP], gr[CAP], acc[CAP];
  float dlt = 0.f;
#pragma unroll
  for (int c = 0; c < CAP; c++) {
    qr[c] = active && c < D ? ld(q + row * D + c) * scale : 0.f;
    gr[c] = active && c < D ? ld(g + row * D + c) : 0.f;
    if (active && c < D) dlt += gr[c] * ld(o + row * D + c);
    acc[c] = 0.f;
  }
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
      float s = 0.f, dp = 0.f;
#pragma unroll
      for (int c = 0; c < CAP; c++) {
        s += qr[c] * ks[jj * CAP + c];
        dp += gr[c] * vs[jj * CAP + c];
      }
      const float ds = expf(s - li) * (dp - dlt);
#pragma unroll
      for (int c = 0; c < CAP; c++) acc[c] += ds * ks[jj * CAP + c];
    }
  }
  if (!active) return;
#pragma unroll
  for (int c = 0; c < CAP; c++)
    if (c < D) dq[row * D + c] = Io<T>::store(acc[c] * scale);
  delta[row] = dlt;
}

// dk_j = scale * sum_i P_ij (dP_ij - delta_i) q_i and dv_j = sum_i P_ij dO_i over the queries that
// see key j (i >= j when causal).
template <typename T, int CAP>
__global__ __launch_bounds__(kRows) void attnBwdKvKernel(const T* __restrict__ g, const T* __restrict__ q,
                                                         const T* __restrict__ k, const T* __restrict__ v,
                                                         const float* __restrict__ lse,
                                                         const float* __restrict__ delta, T* __restrict__ dk,
                                                         T* __restrict__ dv, int tq, int tk, int D, bool causal,
                                                         float scale) {
  constexpr int KT = tileRows<CAP>();
  __shared__ float qs[KT * CAP];
  __shared__ float gs[KT * CAP];
  __shared__ float ls[KT];
  __shared__ float ds_[KT];
  const int64_t b = blockIdx.x;
  const int first = blockIdx.y * kRows;
  const int j = first + threadIdx.x;
  const bool active = j < tk;
  const int64_t row = b * tk + j;
  float kr[CAP], vr[CAP], dka[CAP], dva[CAP];
#pragma unroll
  for (int c = 0; c < CAP; c++) {
    kr[c] = active && c < D ? ld(k + row * D + c) * scale : 0.f;
    vr[c] = active && c < D ? ld(v + row * D + c) : 0.f;
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
      float s = 0.f, dp = 0.f;
#pragma unroll
      for (int c = 0; c < CAP; c++) {
        s += kr[c] * qs[ii * CAP + c];
        dp += vr[c] * gs[ii * CAP + c];
      }
      const float p = expf(s - ls[ii]);
      const float dsv = p * (dp - ds_[ii]);
#pragma unroll
      for (int c = 0; c < CAP; c++) {
        dka[c] += dsv * qs[ii * CAP + c];
        dva[c] += p * gs[ii * CAP + c];
      }
    }
  }
  if (!active) return;
#pragma unroll
  for (int c = 0; c < CAP; c++)
    if (c < D) {
      dk[row * D + c] = Io<T>::store(dka[c] * scale);
      dv[row * D + c] = Io<T>::store(dva[c]);
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

// bufs: q, k, v, out, lse; params: dtype, batch, Tq, Tk, D, causal, scale
LMHC_OP(attention) {
  const int dt = a.i32(0), tq = a.i32(2), tk = a.i32(3), D = a.i32(4);
  const int64_t batch = a.i64(1);
  const bool causal = a.i32(5) != 0;
  const float scale = a.f32(6);
  if (batch == 0 || tq == 0 || D == 0) return;
  dispatchFloat(dt, [&](auto tag) {
    using T = decltype(tag);
    const size_t qb = batch * tq * D * sizeof(T), kb = batch * tk * D * sizeof(T);
    dispatchCap(D, [&](auto cap) {
      attnFwdKernel<T, decltype(cap)::value><<<attnGrid(batch, tq), kRows, 0, a.dev.stream>>>(
          a.buf<const T>(0, qb), a.buf<const T>(1, kb), a.buf<const T>(2, kb), a.buf<T>(3, qb),
          a.buf<float>(4, batch * tq * 4), tq, tk, D, causal, scale);
    });
  });
  CK_LAUNCH("attention");
}

// bufs: grad, q, k, v, out, lse, gradQ, gradK, gradV, delta (f32 scratch [batch * Tq]);
// params: dtype, batch, Tq, Tk, D, causal, scale
LMHC_OP(attention_bwd) {
  const int dt = a.i32(0), tq = a.i32(2), tk = a.i32(3), D = a.i32(4);
  const int64_t batch = a.i64(1);
  const bool causal = a.i32(5) != 0;
  const float scale = a.f32(6);
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
      if (tq > 0)
        attnBwdQKernel<T, CAP><<<attnGrid(batch, tq), kRows, 0, a.dev.stream>>>(g, q, k, v, o, lse, dq, delta, tq,
                                                                              tk, D, causal, scale);
      if (tk > 0)
        attnBwdKvKernel<T, CAP><<<attnGrid(batch, tk), kRows, 0, a.dev.stream>>>(g, q, k, v, lse, delta, dk, dv,
                                                                               tq, tk, D, causal, scale);
    });
  });
  CK_LAUNCH("attention_bwd");
}

}  // namespace lmhc
