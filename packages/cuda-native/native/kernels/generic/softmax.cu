// softmax over the last axis (optionally causal) and its backward; one block per row.
#include "../common.cuh"

namespace lmhc {
namespace {

template <typename T>
__global__ __launch_bounds__(128) void softmaxKernel(const T* __restrict__ x, T* __restrict__ y, int D, int Q,
                                                     bool causal) {
  __shared__ float smem[32];
  const int64_t r = blockIdx.x;
  const int lim = causal ? min(D, static_cast<int>(r % Q) + 1) : D;  // keys <= query index
  const T* xr = x + r * D;
  float mx = -INFINITY;
  for (int j = threadIdx.x; j < lim; j += blockDim.x) mx = fmaxf(mx, ld(xr + j));
  mx = blockMax(mx, smem);
  float s[1] = {0.f};
  for (int j = threadIdx.x; j < lim; j += blockDim.x) s[0] += expf(ld(xr + j) - mx);
  blockSum<1>(s, smem);
  for (int j = threadIdx.x; j < D; j += blockDim.x)
    y[r * D + j] = Io<T>::store(j < lim ? expf(ld(xr + j) - mx) / s[0] : 0.f);
}

template <typename T>
__global__ __launch_bounds__(128) void softmaxBwdKernel(const T* __restrict__ y, const T* __restrict__ g,
                                                        T* __restrict__ gx, int D) {
  __shared__ float smem[32];
  const int64_t r = blockIdx.x;
  float s[1] = {0.f};
  for (int j = threadIdx.x; j < D; j += blockDim.x) s[0] += ld(g + r * D + j) * ld(y + r * D + j);
  blockSum<1>(s, smem);
  for (int j = threadIdx.x; j < D; j += blockDim.x)
    gx[r * D + j] = Io<T>::store(ld(y + r * D + j) * (ld(g + r * D + j) - s[0]));
}

}  // namespace

// bufs: x, y; params: SoftmaxLaunch (queries: the size of the second-to-last axis)
LMHC_OP(softmax) {
  const auto p = SoftmaxLaunch::read(a);
  const int dt = p.dtype, D = p.d, Q = p.queries;
  const int64_t rows = p.rows;
  const bool causal = p.causal;
  if (rows == 0 || D == 0) return;
  dispatchFloat(dt, [&](auto tag) {
    using T = decltype(tag);
    softmaxKernel<T><<<static_cast<unsigned>(rows), 128, 0, a.dev.stream>>>(
        a.buf<const T>(0, rows * D * sizeof(T)), a.buf<T>(1, rows * D * sizeof(T)), D, Q > 0 ? Q : 1, causal);
  });
  CK_LAUNCH("softmax");
}

// bufs: y, grad, gx; params: SoftmaxBwdLaunch
LMHC_OP(softmax_bwd) {
  const auto p = SoftmaxBwdLaunch::read(a);
  const int dt = p.dtype, D = p.d;
  const int64_t rows = p.rows;
  if (rows == 0 || D == 0) return;
  dispatchFloat(dt, [&](auto tag) {
    using T = decltype(tag);
    softmaxBwdKernel<T><<<static_cast<unsigned>(rows), 128, 0, a.dev.stream>>>(
        a.buf<const T>(0, rows * D * sizeof(T)), a.buf<const T>(1, rows * D * sizeof(T)),
        a.buf<T>(2, rows * D * sizeof(T)), D);
  });
  CK_LAUNCH("softmax_bwd");
}

}  // namespace lmhc
