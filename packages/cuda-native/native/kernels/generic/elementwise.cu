// Elementwise generic kernels: fill, strided copy (cast / transpose / slice / broadcastTo / concat all
// reduce to it), binary with broadcasting, unary and its backward, affine. Counterpart of the
// reference backend's cpu/generic kernels. f32 math whatever the storage dtype.
#include "../common.cuh"

namespace lmhc {
namespace {

template <typename T>
__global__ void fillKernel(T* __restrict__ out, int64_t n, float value) {
  T v;
  if constexpr (std::is_same_v<T, int32_t>) v = static_cast<int32_t>(value);
  else v = Io<T>::store(value);
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = v;
}

template <typename TS, typename TD>
__global__ void copyStrided(const TS* __restrict__ src, TD* __restrict__ dst, int64_t n, Dims d, Strides ss,
                            Strides ds) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    dst[offsetOf(i, d, ds)] = convert<TS, TD>(src[offsetOf(i, d, ss)]);
}

__device__ __forceinline__ float binaryOp(int op, float x, float y) {
  switch (op) {
    case 0: return x + y;
    case 1: return x - y;
    case 2: return x * y;
    default: return x / y;
  }
}

template <typename T>
__global__ void binaryKernel(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ out, int64_t n,
                             Dims d, Strides sa, Strides sb, int op, bool contiguous) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t ia = contiguous ? i : offsetOf(i, d, sa), ib = contiguous ? i : offsetOf(i, d, sb);
    out[i] = Io<T>::store(binaryOp(op, ld(a + ia), ld(b + ib)));
  }
}

/** Same-shape operands: 16-byte accesses (the gradient sums of the mHC layer run through here). */
template <typename T, int V>
__global__ void binaryVec(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ out, int64_t nv, int op) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < nv;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float x[V], y[V];
    loadN<T, V>(a + i * V, x);
    loadN<T, V>(b + i * V, y);
#pragma unroll
    for (int v = 0; v < V; v++) x[v] = binaryOp(op, x[v], y[v]);
    storeN<T, V>(out + i * V, x);
  }
}

// Unary op codes, in the order of UnaryOp in core's generic-kernels.ts (see src/generic/).
// GELU is the tanh form, like the reference backend (GPT-2's activation; every backend has tanh).
constexpr float kGeluC = 0.7978845608028654f;  // sqrt(2 / pi)
constexpr float kGeluK = 0.044715f;
__device__ __forceinline__ float geluF(float x) {
  return 0.5f * x * (1.f + tanhf(kGeluC * (x + kGeluK * x * x * x)));
}

__device__ __forceinline__ float unaryOp(int op, float x) {
  switch (op) {
    case 0: return -x;
    case 1: return expf(x);
    case 2: return logf(x);
    case 3: return sqrtf(x);
    case 4: return 1.f / sqrtf(x);
    case 5: return x * x;
    case 6: return fabsf(x);
    case 7: return x > 0.f ? x : 0.f;
    case 8: return sigmoidf(x);
    case 9: return tanhf(x);
    case 10: return geluF(x);
    default: return x * sigmoidf(x);
  }
}

__device__ __forceinline__ float unaryGrad(int op, float x, float g) {
  switch (op) {
    case 0: return -g;
    case 1: return g * expf(x);
    case 2: return g / x;
    case 3: return g * 0.5f / sqrtf(x);
    case 4: return g * -0.5f / (x * sqrtf(x));
    case 5: return g * 2.f * x;
    case 6: return x > 0.f ? g : (x < 0.f ? -g : 0.f);
    case 7: return x > 0.f ? g : 0.f;
    case 8: {
      const float s = sigmoidf(x);
      return g * s * (1.f - s);
    }
    case 9: {
      const float t = tanhf(x);
      return g * (1.f - t * t);
    }
    case 10: {
      const float t = tanhf(kGeluC * (x + kGeluK * x * x * x));
      return g * (0.5f * (1.f + t) + 0.5f * x * (1.f - t * t) * kGeluC * (1.f + 3.f * kGeluK * x * x));
    }
    default: {
      const float s = sigmoidf(x);
      return g * (s + x * s * (1.f - s));
    }
  }
}

template <typename T>
__global__ void unaryKernel(const T* __restrict__ x, T* __restrict__ out, int64_t n, int op) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = Io<T>::store(unaryOp(op, ld(x + i)));
}

template <typename T>
__global__ void unaryGradKernel(const T* __restrict__ x, const T* __restrict__ g, T* __restrict__ out, int64_t n,
                                int op) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = Io<T>::store(unaryGrad(op, ld(x + i), ld(g + i)));
}

template <typename T>
__global__ void affineKernel(const T* __restrict__ x, T* __restrict__ out, int64_t n, float s, float b) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = Io<T>::store(s * ld(x + i) + b);
}

}  // namespace

// bufs: out; params: FillLaunch
LMHC_OP(fill) {
  const auto p = FillLaunch::read(a);
  const int64_t n = p.n;
  const int dt = p.dtype;
  void* out = a.buf(0, n * dtypeBytes(dt));
  dispatchAny(dt, [&](auto tag) {
    using T = decltype(tag);
    fillKernel<T><<<gridFor(a.dev, n, 256), 256, 0, a.dev.stream>>>(static_cast<T*>(out), n, p.value);
  });
  CK_LAUNCH("fill");
}

// bufs: src, dst; params: CopyStridedLaunch, then the tail: dims(nd, shape...), srcStrides, dstStrides
// Iterates over `shape`; element i reads src[srcOffset + off(i, srcStrides)] and writes
// dst[dstOffset + off(i, dstStrides)].
LMHC_OP(copy_strided) {
  const auto p = CopyStridedLaunch::read(a);
  const int sdt = p.srcDtype, ddt = p.dstDtype;
  Dims d;
  size_t k = readDims(a, CopyStridedLaunch::kTail, d);
  Strides ss, ds;
  k = readStrides(a, k, d.nd, ss);
  readStrides(a, k, d.nd, ds);
  const int64_t soff = p.srcOffset, doff = p.dstOffset;
  const int64_t n = numel(d);
  if (n == 0) return;
  const char* src = a.buf<const char>(0);
  char* dst = a.buf<char>(1);
  dispatchAny(sdt, [&](auto stag) {
    using TS = decltype(stag);
    dispatchAny(ddt, [&](auto dtag) {
      using TD = decltype(dtag);
      copyStrided<TS, TD><<<gridFor(a.dev, n, 256), 256, 0, a.dev.stream>>>(
          reinterpret_cast<const TS*>(src) + soff, reinterpret_cast<TD*>(dst) + doff, n, d, ss, ds);
    });
  });
  CK_LAUNCH("copy_strided");
}

// bufs: a, b, out; params: BinaryLaunch, then the tail: dims(out), stridesA, stridesB
LMHC_OP(binary) {
  const auto p = BinaryLaunch::read(a);
  const int op = p.op, dt = p.dtype;
  Dims d;
  size_t k = readDims(a, BinaryLaunch::kTail, d);
  Strides sa, sb;
  k = readStrides(a, k, d.nd, sa);
  readStrides(a, k, d.nd, sb);
  const bool contig = p.contiguous;
  const int64_t n = numel(d);
  if (n == 0) return;
  dispatchFloat(dt, [&](auto tag) {
    using T = decltype(tag);
    constexpr int V = kVec<T>;
    if (contig && n % V == 0) {
      const int64_t nv = n / V;
      binaryVec<T, V><<<gridFor(a.dev, nv, 256), 256, 0, a.dev.stream>>>(
          a.buf<const T>(0, n * sizeof(T)), a.buf<const T>(1, n * sizeof(T)), a.buf<T>(2, n * sizeof(T)), nv, op);
      return;
    }
    binaryKernel<T><<<gridFor(a.dev, n, 256), 256, 0, a.dev.stream>>>(a.buf<const T>(0), a.buf<const T>(1),
                                                                      a.buf<T>(2, n * sizeof(T)), n, d, sa, sb,
                                                                      op, contig);
  });
  CK_LAUNCH("binary");
}

// bufs: x, out; params: UnaryLaunch
LMHC_OP(unary) {
  const auto p = UnaryLaunch::read(a);
  const int op = p.op, dt = p.dtype;
  const int64_t n = p.n;
  if (n == 0) return;
  dispatchFloat(dt, [&](auto tag) {
    using T = decltype(tag);
    unaryKernel<T><<<gridFor(a.dev, n, 256), 256, 0, a.dev.stream>>>(a.buf<const T>(0, n * sizeof(T)),
                                                                     a.buf<T>(1, n * sizeof(T)), n, op);
  });
  CK_LAUNCH("unary");
}

// bufs: x, grad, out; params: UnaryBwdLaunch
LMHC_OP(unary_bwd) {
  const auto p = UnaryBwdLaunch::read(a);
  const int op = p.op, dt = p.dtype;
  const int64_t n = p.n;
  if (n == 0) return;
  dispatchFloat(dt, [&](auto tag) {
    using T = decltype(tag);
    unaryGradKernel<T><<<gridFor(a.dev, n, 256), 256, 0, a.dev.stream>>>(
        a.buf<const T>(0, n * sizeof(T)), a.buf<const T>(1, n * sizeof(T)), a.buf<T>(2, n * sizeof(T)), n, op);
  });
  CK_LAUNCH("unary_bwd");
}

// bufs: x, out; params: AffineLaunch (y = scale * x + shift)
LMHC_OP(affine) {
  const auto p = AffineLaunch::read(a);
  const int dt = p.dtype;
  const int64_t n = p.n;
  if (n == 0) return;
  dispatchFloat(dt, [&](auto tag) {
    using T = decltype(tag);
    affineKernel<T><<<gridFor(a.dev, n, 256), 256, 0, a.dev.stream>>>(
        a.buf<const T>(0, n * sizeof(T)), a.buf<T>(1, n * sizeof(T)), n, p.scale, p.shift);
  });
  CK_LAUNCH("affine");
}

}  // namespace lmhc
