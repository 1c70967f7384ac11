// In-place optimizer steps (AdamW with decoupled weight decay, SGD with optional momentum/Nesterov),
// PyTorch's update rules; moments in f32 whatever the parameter's dtype.
#include "../common.cuh"

namespace lmhc {
namespace {

template <typename T>
__global__ void adamwKernel(T* __restrict__ p, const T* __restrict__ g, float* __restrict__ m, float* __restrict__ v,
                            int64_t n, float lr, float b1, float b2, float eps, float wd, float bc1, float bc2) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float pv = ld(p + i);
    const float gv = ld(g + i);
    pv = pv * (1.f - lr * wd);
    const float mv = b1 * m[i] + (1.f - b1) * gv;
    const float vv = b2 * v[i] + (1.f - b2) * gv * gv;
    m[i] = mv;
    v[i] = vv;
    pv = pv - lr * (mv / bc1) / (sqrtf(vv / bc2) + eps);
    p[i] = Io<T>::store(pv);
  }
}

template <typename T>
__global__ void sgdKernel(T* __restrict__ p, const T* __restrict__ g, float* __restrict__ buf, int64_t n, float lr,
                          float mom, float wd, bool nesterov) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float pv = ld(p + i);
    float d = ld(g + i) + wd * pv;
    if (buf) {
      const float b = mom * buf[i] + d;
      buf[i] = b;
      d = nesterov ? d + mom * b : b;
    }
    p[i] = Io<T>::store(pv - lr * d);
  }
}

}  // namespace

// bufs: param, grad, m, v; params: AdamwLaunch
LMHC_OP(adamw) {
  const auto p = AdamwLaunch::read(a);
  const int dt = p.dtype;
  const int64_t n = p.n;
  if (n == 0) return;
  dispatchFloat(dt, [&](auto tag) {
    using T = decltype(tag);
    adamwKernel<T><<<gridFor(a.dev, n, 256), 256, 0, a.dev.stream>>>(
        a.buf<T>(0, n * sizeof(T)), a.buf<const T>(1, n * sizeof(T)), a.buf<float>(2, n * 4), a.buf<float>(3, n * 4),
        n, p.lr, p.beta1, p.beta2, p.eps, p.weightDecay, p.biasCorrection1, p.biasCorrection2);
  });
  CK_LAUNCH("adamw");
}

// bufs: param, grad, momentumBuf?; params: SgdLaunch
LMHC_OP(sgd) {
  const auto p = SgdLaunch::read(a);
  const int dt = p.dtype;
  const int64_t n = p.n;
  if (n == 0) return;
  dispatchFloat(dt, [&](auto tag) {
    using T = decltype(tag);
    sgdKernel<T><<<gridFor(a.dev, n, 256), 256, 0, a.dev.stream>>>(a.buf<T>(0, n * sizeof(T)),
                                                                   a.buf<const T>(1, n * sizeof(T)),
                                                                   a.opt<float>(2, n * 4), n, p.lr, p.momentum,
                                                                   p.weightDecay, p.nesterov);
  });
  CK_LAUNCH("sgd");
}

}  // namespace lmhc
