// coeffs forward: mix = (x.phi) * rsqrt(mean(x^2) + eps), then split / sigmoid / Sinkhorn per
// token. Counterpart of the reference backend's cpu/mhc coeffs kernel; the backward is in
// coeffs_bwd.cu.
//
// Forward, two paths (both one pass over x, matrix product and sum of squares together):
//  - tensor cores (x and phi both bf16 or both f16, K % 32 == 0): mma.sync m16n8k16 with f32
//    accumulation. A block owns 32 tokens; its 8 warps split K and meet in shared memory, where 32
//    threads finish the tokens (sigmoid; for hc = 4 the Sinkhorn steps then run on all 256 threads,
//    16 lanes a token). Products of 16-bit inputs are exact in f32, so this matches the CUDA-core
//    path up to summation order.
//  - CUDA cores otherwise (f32 storage, mixed dtypes, odd K).
#include "coeffs_common.cuh"

namespace lmhc {
namespace {

// ---------------------------------------------------------------- forward, CUDA cores

template <typename TX, int HC, int TOK>
__global__ __launch_bounds__(256) void coeffsFwdGeneric(const TX* __restrict__ x, const float* __restrict__ phi,
                                                        CoeffsFwdParams p) {
  constexpr int M = HC * HC + 2 * HC;
  constexpr int NV = TOK * (M + 1);
  __shared__ float red[8 * NV];
  __shared__ float y[TOK][M + 1];
  const int n0 = blockIdx.x * TOK;
  float v[NV];
#pragma unroll
  for (int i = 0; i < NV; i++) v[i] = 0.f;
  for (int k = threadIdx.x; k < p.K; k += blockDim.x) {
    float ph[M];
#pragma unroll
    for (int m = 0; m < M; m++) ph[m] = phi[static_cast<size_t>(k) * M + m];
#pragma unroll
    for (int t = 0; t < TOK; t++) {
      if (n0 + t < p.N) {
        const float xv = ld(x + static_cast<size_t>(n0 + t) * p.K + k);
        v[t * (M + 1) + M] += xv * xv;
#pragma unroll
        for (int m = 0; m < M; m++) v[t * (M + 1) + m] += xv * ph[m];
      }
    }
  }
  blockSum<NV>(v, red);
  if (threadIdx.x == 0) {
#pragma unroll
    for (int t = 0; t < TOK; t++)
#pragma unroll
      for (int m = 0; m <= M; m++) y[t][m] = v[t * (M + 1) + m];
  }
  __syncthreads();
  const int t = threadIdx.x;
  if (t < TOK && n0 + t < p.N) coeffsEpilogue<HC>(p, n0 + t, y[t], y[t][M]);
}

// ---------------------------------------------------------------- forward, tensor cores


/**
 * The first half of coeffsEpilogue for hc = 4: mix, hPre, hPost and invr of token n, and the Sinkhorn
 * logits written over y[2 hc ..] for sinkhorn4Lanes.
 */
__device__ __forceinline__ void coeffsEpilogueHead4(const CoeffsFwdParams& p, int n, float* y, float ss) {
  constexpr int HC = 4, M = HC * HC + 2 * HC;
  const float invr = 1.0f / sqrtf(ss / static_cast<float>(p.K) + p.rmsEps);
  const float ap = *p.aPre, aq = *p.aPost, ar = *p.aRes;
#pragma unroll
  for (int m = 0; m < M; m++) {
    const float mix = y[m] * invr;
    if (p.mix) p.mix[static_cast<size_t>(n) * M + m] = mix;
    if (m < HC)
      p.hPre[static_cast<size_t>(n) * HC + m] = sigmoidf(mix * ap + p.b[m]) + p.preEps;
    else if (m < 2 * HC)
      p.hPost[static_cast<size_t>(n) * HC + (m - HC)] = sigmoidf(mix * aq + p.b[m]) * p.postMult;
    else
      y[m] = mix * ar + p.b[m];
  }
  if (p.invr) p.invr[n] = invr;
}

/**
 * Tensor-core forward tile: 2 m16 tiles, 32 tokens a block, two blocks an SM. Every block reads all
 * of packed phi from L2, as many bytes as its 32 tokens of x; 64-token tiles halve that traffic but
 * fit one block an SM and measured slower.
 */
constexpr int kFwdMmaTiles = 2;

template <typename T, int HC>
__global__ __launch_bounds__(256) void coeffsFwdMma(const T* __restrict__ x, const uint4* __restrict__ phiP,
                                                    CoeffsFwdParams p) {
  constexpr int NT = (HC * HC + 2 * HC + 7) / 8;
  constexpr int MT = kFwdMmaTiles, WARPS = 8, TOK = MT * 16, LD = NT * 8 + 1;
  extern __shared__ __align__(16) float sm[];  // [WARPS][TOK][LD]: per-warp partial dot products, sum of squares last
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, q = lane & 3;
  const int n0 = blockIdx.x * TOK, N = p.N, K = p.K, KC = K >> 5;

  float acc[MT][NT][4];
  float ss[MT][2];
  const T* rp[MT][2];
  bool ok[MT][2];
#pragma unroll
  for (int mt = 0; mt < MT; mt++) {
#pragma unroll
    for (int nt = 0; nt < NT; nt++) acc[mt][nt][0] = acc[mt][nt][1] = acc[mt][nt][2] = acc[mt][nt][3] = 0.f;
#pragma unroll
    for (int h = 0; h < 2; h++) {
      const int r = n0 + mt * 16 + h * 8 + g;
      ok[mt][h] = r < N;
      rp[mt][h] = x + static_cast<size_t>(ok[mt][h] ? r : 0) * K + q * 8;
      ss[mt][h] = 0.f;
    }
  }
  // Warps interleave over 32-wide k blocks, so a block's 8 warps read one contiguous 512-byte run of
  // each row per step. The next step's loads are issued before this step's math (registers double
  // buffered), so every warp keeps 2 x (2*MT + NT) 16-byte loads in flight.
  auto load = [&](int kc, uint4 (&aa)[MT][2], uint4 (&bb)[NT]) {
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
      for (int h = 0; h < 2; h++)
        aa[mt][h] = ok[mt][h] ? __ldg(reinterpret_cast<const uint4*>(rp[mt][h] + static_cast<size_t>(kc) * 32))
                              : make_uint4(0, 0, 0, 0);
#pragma unroll
    for (int nt = 0; nt < NT; nt++) bb[nt] = __ldg(phiP + (static_cast<size_t>(kc) * NT + nt) * 32 + lane);
  };
  uint4 a[MT][2], bq[NT];
  if (warp < KC) load(warp, a, bq);
#pragma unroll 2
  for (int kc = warp; kc < KC; kc += WARPS) {
    uint4 an[MT][2], bn[NT];
    if (kc + WARPS < KC) load(kc + WARPS, an, bn);
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
      for (int h = 0; h < 2; h++) {
        float s = ss[mt][h];
        s = sq2<T>(a[mt][h].x, s);
        s = sq2<T>(a[mt][h].y, s);
        s = sq2<T>(a[mt][h].z, s);
        s = sq2<T>(a[mt][h].w, s);
        ss[mt][h] = s;
      }
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
      for (int nt = 0; nt < NT; nt++) {
        // A fragment: regs {row g, row g+8, row g (+8 cols), row g+8 (+8 cols)}; our logical columns
        // (2q, 2q+1) and (2q+8, 2q+9) are the lane's x elements (0,1),(2,3), then (4,5),(6,7).
        mma16816<T>(acc[mt][nt], a[mt][0].x, a[mt][1].x, a[mt][0].y, a[mt][1].y, bq[nt].x, bq[nt].y);
        mma16816<T>(acc[mt][nt], a[mt][0].z, a[mt][1].z, a[mt][0].w, a[mt][1].w, bq[nt].z, bq[nt].w);
      }
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
      for (int h = 0; h < 2; h++) a[mt][h] = an[mt][h];
#pragma unroll
    for (int nt = 0; nt < NT; nt++) bq[nt] = bn[nt];
  }
  // C fragment: c0,c1 at (row g, cols 2q, 2q+1), c2,c3 at (row g+8, same cols).
#pragma unroll
  for (int mt = 0; mt < MT; mt++) {
#pragma unroll
    for (int nt = 0; nt < NT; nt++) {
      const int row = mt * 16 + g, col = nt * 8 + 2 * q;
      float* s0 = sm + (warp * TOK + row) * LD + col;
      float* s1 = sm + (warp * TOK + row + 8) * LD + col;
      s0[0] = acc[mt][nt][0];
      s0[1] = acc[mt][nt][1];
      s1[0] = acc[mt][nt][2];
      s1[1] = acc[mt][nt][3];
    }
#pragma unroll
    for (int h = 0; h < 2; h++) {
      float s = ss[mt][h];
      s += __shfl_xor_sync(0xffffffffu, s, 1);
      s += __shfl_xor_sync(0xffffffffu, s, 2);
      if (q == 0) sm[(warp * TOK + mt * 16 + h * 8 + g) * LD + NT * 8] = s;
    }
  }
  __syncthreads();
  const int t = threadIdx.x;
  if (t < TOK && n0 + t < N) {
    float* y = sm + t * LD;  // warp 0's row becomes the total, summed over warps in index order
    for (int m = 0; m < p.M; m++) {
      float s = y[m];
      for (int w = 1; w < WARPS; w++) s += sm[(w * TOK + t) * LD + m];
      y[m] = s;
    }
    float sst = y[NT * 8];
    for (int w = 1; w < WARPS; w++) sst += sm[(w * TOK + t) * LD + NT * 8];
    if constexpr (HC == 4) coeffsEpilogueHead4(p, n0 + t, y, sst);
    else coeffsEpilogue<HC>(p, n0 + t, y, sst);
  }
  if constexpr (HC == 4) {
    // The Sinkhorn steps on all 256 threads, 16 lanes a token, 16 tokens at a time (one thread a
    // token left the block's other warps idle through the serial steps).
    __syncthreads();
#pragma unroll 1
    for (int r = 0; r < TOK / 16; r++) {
      const int tt = r * 16 + (t >> 4);
      if (n0 + tt < N) sinkhorn4Lanes(p, n0 + tt, sm + tt * LD + 2 * HC);
    }
  }
}

}  // namespace

// bufs: x, phi, b, aPre, aPost, aRes, hPre, hPost, hRes, mix?, invr?, hist?
// params: N, K, hc, tmax, rmsEps, preEps, sinkhornEps, postMult, xDtype, phiDtype
LMHC_OP(coeffs_fwd) {
  const CoeffsFwdArgs args = readCoeffsFwdArgs(a, "coeffs_fwd");
  CoeffsFwdParams p = args.p;
  const int N = p.N, K = p.K, hc = p.hc, M = p.M, xdt = args.xdt, phidt = args.phidt;
  const void* x = args.x;
  const void* phi = args.phi;
  cudaStream_t s = a.dev.stream;

  OpTimer timer(a.dev, "coeffs_fwd");
  const bool mma = !a.dev.noMma && xdt == phidt && (xdt == kBF16 || xdt == kF16) && K % 32 == 0;
  withHc(hc, [&](auto hcTag) {
    constexpr int HC = decltype(hcTag)::value;
    constexpr int MM = HC * HC + 2 * HC;
    if (mma) {
      constexpr int NT = (MM + 7) / 8;
      const int64_t packed = static_cast<int64_t>(K) * NT * 8;
      // phi packed into the B-fragment order first: reading phi's [K, M] layout in the kernel
      // (staged through shared memory) measured slower than this extra launch.
      Temp phiP(a.dev, packed * 2);
      auto run = [&](auto tag) {
        using T = decltype(tag);
        packPhi<T, NT><<<gridFor(a.dev, packed / 8, 256), 256, 0, s>>>(static_cast<const T*>(phi), phiP.as<T>(), K, M);
        CK_LAUNCH("packPhi");
        timer.mark("pack phi");
        constexpr int TOK = kFwdMmaTiles * 16;
        const size_t smem = static_cast<size_t>(8) * TOK * (NT * 8 + 1) * sizeof(float);
        if (smem > 48 * 1024)
          CK(cudaFuncSetAttribute(coeffsFwdMma<T, HC>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  static_cast<int>(smem)));
        coeffsFwdMma<T, HC><<<(N + TOK - 1) / TOK, 256, smem, s>>>(static_cast<const T*>(x), phiP.as<uint4>(), p);
        CK_LAUNCH("coeffsFwdMma");
        timer.mark("mma pass");
      };
      if (xdt == kBF16) run(bf16{});
      else run(f16{});
    } else {
      constexpr int TOK = MM <= 24 ? 4 : 1;
      std::unique_ptr<Temp> tmp;
      const float* phi32 = phiF32(a, phi, phidt, static_cast<int64_t>(K) * M, tmp);
      dispatchFloat(xdt, [&](auto tag) {
        using T = decltype(tag);
        coeffsFwdGeneric<T, HC, TOK><<<(N + TOK - 1) / TOK, 256, 0, s>>>(static_cast<const T*>(x), phi32, p);
      });
      CK_LAUNCH("coeffsFwdGeneric");
    }
  });
}

}  // namespace lmhc
