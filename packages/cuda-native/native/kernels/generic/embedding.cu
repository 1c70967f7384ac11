// Embedding gather and its backward. The backward is a scatter-add done as a gather: one block per
// vocabulary row walks all ids in order and sums the matching gradient rows, so the result does not
// depend on scheduling (no atomics).
#include "../common.cuh"

namespace lmhc {
namespace {

template <typename T>
__global__ void embeddingKernel(const T* __restrict__ w, const int32_t* __restrict__ ids, T* __restrict__ out,
                                int64_t n, int D, int V) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t t = i / D;
    const int d = static_cast<int>(i - t * D);
    const int id = ids[t];
    // Out-of-range ids read as zero rows (the host cannot check device-resident ids without a sync).
    out[i] = (id >= 0 && id < V) ? w[static_cast<int64_t>(id) * D + d] : Io<T>::store(0.f);
  }
}

template <typename T>
__global__ __launch_bounds__(128) void embeddingBwdKernel(const T* __restrict__ g, const int32_t* __restrict__ ids,
                                                          T* __restrict__ out, int64_t Tn, int D) {
  constexpr int CH = 1024;
  __shared__ int32_t sid[CH];
  const int v = blockIdx.x;
  for (int d0 = 0; d0 < D; d0 += blockDim.x) {
    const int d = d0 + threadIdx.x;
    float acc = 0.f;
    for (int64_t t0 = 0; t0 < Tn; t0 += CH) {
      const int cnt = static_cast<int>(Tn - t0 < CH ? Tn - t0 : CH);
      __syncthreads();
      for (int i = threadIdx.x; i < cnt; i += blockDim.x) sid[i] = ids[t0 + i];
      __syncthreads();
      if (d < D)
        for (int i = 0; i < cnt; i++)
          if (sid[i] == v) acc += ld(g + (t0 + i) * D + d);
    }
    if (d < D) out[static_cast<int64_t>(v) * D + d] = Io<T>::store(acc);
  }
}

}  // namespace

// bufs: weight, ids, out; params: EmbeddingLaunch (tokens: the number of ids)
LMHC_OP(embedding) {
  const auto p = EmbeddingLaunch::read(a);
  const int dt = p.dtype, D = p.d, V = p.vocab;
  const int64_t Tn = p.tokens, n = Tn * D;
  if (n == 0) return;
  dispatchFloat(dt, [&](auto tag) {
    using T = decltype(tag);
    embeddingKernel<T><<<gridFor(a.dev, n, 256), 256, 0, a.dev.stream>>>(
        a.buf<const T>(0, static_cast<size_t>(V) * D * sizeof(T)), a.buf<const int32_t>(1, Tn * 4),
        a.buf<T>(2, n * sizeof(T)), n, D, V);
  });
  CK_LAUNCH("embedding");
}

// bufs: grad, ids, out; params: EmbeddingBwdLaunch
LMHC_OP(embedding_bwd) {
  const auto p = EmbeddingBwdLaunch::read(a);
  const int dt = p.dtype, D = p.d, V = p.vocab;
  const int64_t Tn = p.tokens;
  if (V == 0 || D == 0) return;
  dispatchFloat(dt, [&](auto tag) {
    using T = decltype(tag);
    embeddingBwdKernel<T><<<V, 128, 0, a.dev.stream>>>(a.buf<const T>(0, Tn * D * sizeof(T)),
                                                       a.buf<const int32_t>(1, Tn * 4),
                                                       a.buf<T>(2, static_cast<size_t>(V) * D * sizeof(T)), Tn, D);
  });
  CK_LAUNCH("embedding_bwd");
}

}  // namespace lmhc
