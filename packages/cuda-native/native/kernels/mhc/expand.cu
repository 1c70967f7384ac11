// expand (DeepSeek-V4's embedding to streams): y[n, s, :] = x[n, :]; backward: the sum over streams.
// Counterpart of the reference backend's cpu/mhc expand kernel. The forward copies raw storage, so
// every dtype keeps its bits.
#include "../common.cuh"

namespace lmhc {
namespace {

template <typename T>
__global__ void expandFwd(const T* __restrict__ x, T* __restrict__ y, int64_t total, int hc, int C) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t row = i / C;
    y[i] = x[(row / hc) * C + (i - row * C)];
  }
}

/** One thread per output element; streams summed in index order in f32, rounded once. */
template <typename TG, typename TO>
__global__ void expandBwd(const TG* __restrict__ g, TO* __restrict__ o, int64_t total, int hc, int C) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t n = i / C;
    const int64_t ch = i - n * C;
    float acc = 0.f;
    for (int s = 0; s < hc; s++) acc += ld(g + (n * hc + s) * C + ch);
    st(o + i, acc);
  }
}

}  // namespace

// bufs: x, y; params: ExpandFwdLaunch
LMHC_OP(expand_fwd) {
  const auto p = ExpandFwdLaunch::read(a);
  const int64_t N = p.tokens;
  const int hc = p.hc, C = p.c, dt = p.dtype;
  if (hc < 1 || C < 1) throw ArgError("expand_fwd: hc and C must be >= 1");
  const size_t eb = dtypeBytes(dt);
  const void* x = a.buf(0, static_cast<size_t>(N) * C * eb);
  void* y = a.buf(1, static_cast<size_t>(N) * hc * C * eb);
  const int64_t total = N * hc * C;
  if (total == 0) return;
  const unsigned grid = gridFor(a.dev, total, 256);
  if (eb == 2)
    expandFwd<uint16_t><<<grid, 256, 0, a.dev.stream>>>(static_cast<const uint16_t*>(x), static_cast<uint16_t*>(y),
                                                        total, hc, C);
  else
    expandFwd<uint32_t><<<grid, 256, 0, a.dev.stream>>>(static_cast<const uint32_t*>(x), static_cast<uint32_t*>(y),
                                                        total, hc, C);
  CK_LAUNCH("expandFwd");
}

// bufs: grad, out; params: ExpandBwdLaunch
LMHC_OP(expand_bwd) {
  const auto p = ExpandBwdLaunch::read(a);
  const int64_t N = p.tokens;
  const int hc = p.hc, C = p.c, gdt = p.gradDtype, odt = p.outDtype;
  const void* g = a.buf(0, static_cast<size_t>(N) * hc * C * dtypeBytes(gdt));
  void* o = a.buf(1, static_cast<size_t>(N) * C * dtypeBytes(odt));
  const int64_t total = N * C;
  if (total == 0) return;
  dispatchFloat(gdt, [&](auto gtag) {
    using TG = decltype(gtag);
    dispatchFloat(odt, [&](auto otag) {
      using TO = decltype(otag);
      expandBwd<TG, TO><<<gridFor(a.dev, total, 256), 256, 0, a.dev.stream>>>(static_cast<const TG*>(g),
                                                                             static_cast<TO*>(o), total, hc, C);
    });
  });
  CK_LAUNCH("expandBwd");
}

}  // namespace lmhc
