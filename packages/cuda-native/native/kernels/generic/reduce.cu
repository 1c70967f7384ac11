// sum over axes: one block per output element, the reduced elements split over threads in a fixed
// pattern and combined by a fixed tree (deterministic), f32 accumulation. Counterpart of the reference
// backend's cpu/generic sum.
#include "../common.cuh"

namespace lmhc {
namespace {

template <typename T>
__global__ __launch_bounds__(256) void sumKernel(const T* __restrict__ x, T* __restrict__ out, Dims kept,
                                                 Strides keptSt, Dims red, Strides redSt, int64_t redN) {
  __shared__ float smem[8];
  const int64_t base = offsetOf(blockIdx.x, kept, keptSt);
  float v[1] = {0.f};
  for (int64_t r = threadIdx.x; r < redN; r += blockDim.x) v[0] += ld(x + base + offsetOf(r, red, redSt));
  blockSum<1>(v, smem);
  if (threadIdx.x == 0) out[blockIdx.x] = Io<T>::store(v[0]);
}

/** Few reduced elements per output: one thread per output, serial in index order. */
template <typename T>
__global__ void sumSmallKernel(const T* __restrict__ x, T* __restrict__ out, int64_t outN, Dims kept,
                               Strides keptSt, Dims red, Strides redSt, int64_t redN) {
  for (int64_t o = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; o < outN;
       o += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t base = offsetOf(o, kept, keptSt);
    float s = 0.f;
    for (int64_t r = 0; r < redN; r++) s += ld(x + base + offsetOf(r, red, redSt));
    out[o] = Io<T>::store(s);
  }
}

}  // namespace

// bufs: x, out; params: SumLaunch, then the tail: kept dims, kept strides, reduced dims, reduced strides
LMHC_OP(sum) {
  const auto p = SumLaunch::read(a);
  const int dt = p.dtype;
  Dims kept, red;
  Strides ks, rs;
  size_t k = readDims(a, SumLaunch::kTail, kept);
  k = readStrides(a, k, kept.nd, ks);
  k = readDims(a, k, red);
  k = readStrides(a, k, red.nd, rs);
  const int64_t outN = numel(kept), redN = numel(red);
  if (outN == 0) return;
  if (outN > 2147483647LL) throw ArgError("sum: too many outputs");
  dispatchFloat(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* x = a.buf<const T>(0);
    T* out = a.buf<T>(1, outN * sizeof(T));
    if (redN <= 64)
      sumSmallKernel<T><<<gridFor(a.dev, outN, 256), 256, 0, a.dev.stream>>>(x, out, outN, kept, ks, red, rs, redN);
    else
      sumKernel<T><<<static_cast<unsigned>(outN), 256, 0, a.dev.stream>>>(x, out, kept, ks, red, rs, redN);
  });
  CK_LAUNCH("sum");
}

}  // namespace lmhc
