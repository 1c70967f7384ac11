// matmul: cuBLAS (GemmStridedBatchedEx, f32 compute) where it could be loaded, else a tiled kernel
// of our own. Row-major C = A.B is column-major C^T = B^T.A^T, so cuBLAS gets the operands swapped.
#include "../common.cuh"

namespace lmhc {
namespace {

constexpr int TS = 16;

template <typename T>
__global__ void gemmTiled(const T* __restrict__ A, const T* __restrict__ B, T* __restrict__ C, int M, int N,
                          int K, bool tA, bool tB, int64_t sA, int64_t sB) {
  __shared__ float As[TS][TS + 1], Bs[TS][TS + 1];
  const int bz = blockIdx.z;
  A += bz * sA;
  B += bz * sB;
  C += static_cast<int64_t>(bz) * M * N;
  const int row = blockIdx.y * TS + threadIdx.y, col = blockIdx.x * TS + threadIdx.x;
  float acc = 0.f;
  for (int k0 = 0; k0 < K; k0 += TS) {
    const int ka = k0 + threadIdx.x, kb = k0 + threadIdx.y;
    As[threadIdx.y][threadIdx.x] =
        (row < M && ka < K) ? ld(A + (tA ? static_cast<int64_t>(ka) * M + row : static_cast<int64_t>(row) * K + ka))
                            : 0.f;
    Bs[threadIdx.y][threadIdx.x] =
        (kb < K && col < N) ? ld(B + (tB ? static_cast<int64_t>(col) * K + kb : static_cast<int64_t>(kb) * N + col))
                            : 0.f;
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < TS; kk++) acc = fmaf(As[threadIdx.y][kk], Bs[kk][threadIdx.x], acc);
    __syncthreads();
  }
  if (row < M && col < N) C[static_cast<int64_t>(row) * N + col] = Io<T>::store(acc);
}

int cudaTypeOf(int dt) { return dt == kF32 ? 0 : dt == kF16 ? 2 : 14; }

}  // namespace

// bufs: A, B, C; params: MatmulLaunch (strides in elements; 0 = shared across the batch)
LMHC_OP(matmul) {
  const auto p = MatmulLaunch::read(a);
  const int dt = p.dtype, batch = p.batch, M = p.m, N = p.n, K = p.k;
  const bool tA = p.transA, tB = p.transB;
  const int64_t sA = p.strideA, sB = p.strideB;
  const size_t eb = dtypeBytes(dt);
  void* C = a.buf(2, static_cast<size_t>(batch) * M * N * eb);
  if (batch == 0 || M == 0 || N == 0) return;
  const void* A = a.buf(0);
  const void* B = a.buf(1);
  if (K == 0) {
    CK(cudaMemsetAsync(C, 0, static_cast<size_t>(batch) * M * N * eb, a.dev.stream));
    return;
  }
  Blas& bl = a.dev.blas;
  if (bl.ok()) {
    const float one = 1.f, zero = 0.f;
    const int ty = cudaTypeOf(dt);
    const int opA = tA ? 1 : 0, opB = tB ? 1 : 0;
    const int lda = tA ? M : K, ldb = tB ? K : N;
    // CUBLAS_COMPUTE_32F = 68, CUBLAS_GEMM_DEFAULT = -1; f32 stays f32 (no TF32: default math mode).
    const int st = bl.gemmStridedBatchedEx(bl.handle, opB, opA, N, M, K, &one, B, ty, ldb, sB, A, ty, lda, sA,
                                           &zero, C, ty, N, static_cast<long long>(M) * N, batch, 68, -1);
    if (st != 0) throw CudaError("cuBLAS GemmStridedBatchedEx failed with status " + std::to_string(st), cudaErrorUnknown);
    return;
  }
  dispatchFloat(dt, [&](auto tag) {
    using T = decltype(tag);
    dim3 grid((N + TS - 1) / TS, (M + TS - 1) / TS, batch), block(TS, TS);
    gemmTiled<T><<<grid, block, 0, a.dev.stream>>>(static_cast<const T*>(A), static_cast<const T*>(B),
                                                   static_cast<T*>(C), M, N, K, tA, tB, sA, sB);
  });
  CK_LAUNCH("gemmTiled");
}

}  // namespace lmhc
