// Mean cross-entropy over rows (labels equal to ignoreIndex excluded) and its backward. Row losses
// are summed by one block in a fixed order: deterministic.
#include "../common.cuh"

namespace lmhc {
namespace {

template <typename T>
__global__ __launch_bounds__(128) void ceRowKernel(const T* __restrict__ logits, const int32_t* __restrict__ labels,
                                                   float* __restrict__ lse, float* __restrict__ rowLoss,
                                                   float* __restrict__ valid, int V, int ignore) {
  __shared__ float smem[32];
  const int64_t r = blockIdx.x;
  const T* lr = logits + r * V;
  float mx = -INFINITY;
  for (int j = threadIdx.x; j < V; j += blockDim.x) mx = fmaxf(mx, ld(lr + j));
  mx = blockMax(mx, smem);
  float s[1] = {0.f};
  for (int j = threadIdx.x; j < V; j += blockDim.x) s[0] += expf(ld(lr + j) - mx);
  blockSum<1>(s, smem);
  if (threadIdx.x == 0) {
    const float l = mx + logf(s[0]);
    lse[r] = l;
    const int lab = labels[r];
    const bool ok = lab != ignore && lab >= 0 && lab < V;
    rowLoss[r] = ok ? l - ld(lr + lab) : 0.f;
    valid[r] = ok ? 1.f : 0.f;
  }
}

/** loss = sum(rowLoss) / count; count also kept for the backward. One block. */
__global__ __launch_bounds__(256) void ceMeanKernel(const float* __restrict__ rowLoss, const float* __restrict__ valid,
                                                    float* __restrict__ loss, float* __restrict__ count, int64_t N) {
  __shared__ float smem[16];
  float v[2] = {0.f, 0.f};
  for (int64_t r = threadIdx.x; r < N; r += blockDim.x) {
    v[0] += rowLoss[r];
    v[1] += valid[r];
  }
  blockSum<2>(v, smem);
  if (threadIdx.x == 0) {
    loss[0] = v[0] / v[1];
    if (count) count[0] = v[1];
  }
}

__global__ __launch_bounds__(256) void ceCountKernel(const int32_t* __restrict__ labels, float* __restrict__ count,
                                                     int64_t N, int V, int ignore) {
  __shared__ float smem[8];
  float v[1] = {0.f};
  for (int64_t r = threadIdx.x; r < N; r += blockDim.x) {
    const int lab = labels[r];
    v[0] += (lab != ignore && lab >= 0 && lab < V) ? 1.f : 0.f;
  }
  blockSum<1>(v, smem);
  if (threadIdx.x == 0) count[0] = v[0];
}

template <typename T>
__global__ void ceBwdKernel(const float* __restrict__ gLoss, const T* __restrict__ logits,
                            const int32_t* __restrict__ labels, const float* __restrict__ lse,
                            const float* __restrict__ count, T* __restrict__ out, int64_t n, int V, int ignore) {
  const float scale = gLoss[0] / count[0];
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / V;
    const int j = static_cast<int>(i - r * V);
    const int lab = labels[r];
    float g = 0.f;
    if (lab != ignore && lab >= 0 && lab < V) g = scale * (expf(ld(logits + i) - lse[r]) - (j == lab ? 1.f : 0.f));
    out[i] = Io<T>::store(g);
  }
}

}  // namespace

// bufs: logits, labels, loss, lse; params: CrossEntropyLaunch
LMHC_OP(cross_entropy) {
  const auto p = CrossEntropyLaunch::read(a);
  const int dt = p.dtype, V = p.vocab, ignore = p.ignoreIndex;
  const int64_t N = p.rows;
  const int32_t* labels = a.buf<const int32_t>(1, N * 4);
  float* loss = a.buf<float>(2, 4);
  float* lse = a.buf<float>(3, N * 4);
  Temp rowLoss(a.dev, N * 4), valid(a.dev, N * 4);
  if (N > 0) {
    dispatchFloat(dt, [&](auto tag) {
      using T = decltype(tag);
      ceRowKernel<T><<<static_cast<unsigned>(N), 128, 0, a.dev.stream>>>(
          a.buf<const T>(0, N * V * sizeof(T)), labels, lse, rowLoss.as<float>(), valid.as<float>(), V, ignore);
    });
    CK_LAUNCH("cross_entropy_rows");
  }
  ceMeanKernel<<<1, 256, 0, a.dev.stream>>>(rowLoss.as<float>(), valid.as<float>(), loss, nullptr, N);
  CK_LAUNCH("cross_entropy_mean");
}

// bufs: gradLoss, logits, labels, lse, out; params: CrossEntropyBwdLaunch
LMHC_OP(cross_entropy_bwd) {
  const auto p = CrossEntropyBwdLaunch::read(a);
  const int dt = p.dtype, V = p.vocab, ignore = p.ignoreIndex;
  const int64_t N = p.rows, n = N * V;
  if (n == 0) return;
  const int32_t* labels = a.buf<const int32_t>(2, N * 4);
  Temp count(a.dev, 4);
  ceCountKernel<<<1, 256, 0, a.dev.stream>>>(labels, count.as<float>(), N, V, ignore);
  CK_LAUNCH("cross_entropy_count");
  dispatchFloat(dt, [&](auto tag) {
    using T = decltype(tag);
    ceBwdKernel<T><<<gridFor(a.dev, n, 256), 256, 0, a.dev.stream>>>(
        a.buf<const float>(0, 4), a.buf<const T>(1, n * sizeof(T)), labels, a.buf<const float>(3, N * 4),
        count.as<float>(), a.buf<T>(4, n * sizeof(T)), n, V, ignore);
  });
  CK_LAUNCH("cross_entropy_bwd");
}

}  // namespace lmhc
