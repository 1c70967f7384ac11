// coeffs_pre: the coeffs forward and the pre step (xIn = Σ_s hPre[s] · x[s]) in one pass over x, for
// hc = 4 with x and phi both bf16 or both f16 (tensor cores). Used by the layer forward: unfused, the
// layer reads x three times (coeffs, pre, post_res), and pre cannot start on a token before the
// token's whole x·phi reduction is done, so the x of a token has to stay on chip until its hPre is
// known. Here a thread-block cluster holds a 16-token tile of x in registers, split by channel range
// over its CL blocks (a block: 16 warps of 32 channels, all 4 streams of them; 8 warps for c = 256).
// The blocks add their partial x·phi and sums of squares (both on the tensor cores) through
// distributed shared memory in rank order (deterministic, no atomics), then each applies hPre to the
// x it still holds and writes its slice of xIn.
// Clusters are persistent: a block loads phi's B fragments for its channels into shared memory once,
// and issues the next tile's x loads before the current tile's reduction, so loads stay in flight
// across the exchange of partial sums. The Sinkhorn steps, a serial chain per token that would stall
// the tile loop, run afterwards in sinkhornFwd4 on the logits this kernel leaves in hRes.
// Performance notes (H200, bench/results/cuda-h200-2026-11-27-fused.md): the layer forward is ~5%
// faster than with separate coeffs and pre kernels at c = 4096 and ~12% at c = 1024. Nsight Compute
// puts the limit in instruction issue (16 warps an SM, about a third of their stalls at the block
// barriers of the per-tile reduction), not in memory: a 3-stage cp.async ring for x (more bytes in
// flight) measured no faster, a cluster barrier a tile instead of the st.async exchange 25% slower.
#include <cooperative_groups.h>

#include <algorithm>
#include <cstdio>

#include "runtime/arch.h"
#include "coeffs_mma.cuh"
#include "sinkhorn.cuh"

// The cluster path exists for sm_90 and newer only (thread-block clusters, distributed shared memory,
// st.async and mbarrier transaction counts are sm_90 features). The fat build also compiles this file
// for sm_80/86/89: there the kernel body is compiled out and the host never launches it
// (coeffsPreKernelBuilt says whether the code loaded for the device has the real body).
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 900
#define LMHC_CLUSTER_CODE 1
#else
#define LMHC_CLUSTER_CODE 0
#endif

namespace lmhc {
namespace {

namespace cg = cooperative_groups;

constexpr int kHc = 4, kM = kHc * kHc + 2 * kHc, kNT = 3;
constexpr int kTileTok = 16;          // tokens a tile: one m16 row block of mma
constexpr int kLd = kM + 1;           // a token's partials: 24 columns of x·phi, then the sum of squares

#if LMHC_CLUSTER_CODE
constexpr int kWarpChannels = 32;  // channels a warp owns (one 32-wide k block a stream)

/** hPre of one stream from the token's summed projection y and invr (coeffsEpilogueHead4's formula). */
__device__ __forceinline__ float preCoef(float y, float invr, float ap, float b, float eps) {
  const float mix = y * invr;
  return sigmoidf(fmaf(mix, ap, b)) + eps;
}

__device__ __forceinline__ float invRms(float ss, int K, float eps) {
  return 1.0f / sqrtf(ss / static_cast<float>(K) + eps);
}

// Distributed-shared-memory exchange: each block pushes its partial sums straight into the shared
// memory of the blocks that need them with st.async, which counts the bytes on the receiver's
// mbarrier; the receiver waits on its own barrier. A cluster barrier a tile instead (arrive.release,
// then the others read this block's shared memory) measured 25% slower on an H200: its release waits
// for the thread's outstanding memory operations, including the next tile's x loads.
__device__ __forceinline__ uint32_t smemAddr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ uint32_t mapaRank(uint32_t addr, int rank) {
  uint32_t r;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(r) : "r"(addr), "r"(rank));
  return r;
}
__device__ __forceinline__ void mbarInit(uint32_t bar, int count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(bar), "r"(count) : "memory");
}
/**
 * Arms the barrier's current phase: one arrival plus `bytes` to come from st.async. Relaxed: the
 * default (release) arrive would first wait for this thread's outstanding loads.
 */
__device__ __forceinline__ void mbarArm(uint32_t bar, uint32_t bytes) {
  asm volatile(
      "{\n .reg .b64 st;\n mbarrier.arrive.expect_tx.relaxed.cta.shared::cta.b64 st, [%0], %1;\n}" ::"r"(bar),
      "r"(bytes)
      : "memory");
}
__device__ __forceinline__ void mbarWait(uint32_t bar, uint32_t parity) {
  uint32_t done = 0;
  while (!done)
    asm volatile(
        "{\n .reg .pred p;\n mbarrier.try_wait.parity.acquire.cluster.shared::cta.b64 p, [%1], %2;\n selp.u32 %0, "
        "1, 0, p;\n}"
        : "=r"(done)
        : "r"(bar), "r"(parity)
        : "memory");
}
__device__ __forceinline__ void stAsync4(uint32_t addr, float a, float b, float c, float d, uint32_t bar) {
  asm volatile(
      "st.async.shared::cluster.mbarrier::complete_tx::bytes.v4.f32 [%0], {%1, %2, %3, %4}, [%5];" ::"r"(addr),
      "f"(a), "f"(b), "f"(c), "f"(d), "r"(bar)
      : "memory");
}

#endif  // LMHC_CLUSTER_CODE

/** The 8 storage values of a 16-byte pack as f32 (element 2i is the low half of word i). */
template <typename T>
__device__ __forceinline__ void unpack8(const uint4& u, float (&o)[8]) {
  const Pack<T, 8> pk = *reinterpret_cast<const Pack<T, 8>*>(&u);
#pragma unroll
  for (int v = 0; v < 8; v++) o[v] = Io<T>::load(pk.v[v]);
}

/** Floats a block sends each rank a tile: columns 0..hc-1 and the sum of squares of all 16
 * tokens (for hPre), then columns hc..M-1 of the rank's own tokens (t % CL == rank). */
template <int CL>
constexpr int pushFloats() {
  return 5 * kTileTok + (kTileTok / CL) * (kM - kHc);
}

template <int W, int CL>
constexpr size_t coeffsPreSmem() {
  return static_cast<size_t>(W) * kHc * kNT * 32 * sizeof(uint4) + 16    // phi fragments, 2 mbarriers
         + (static_cast<size_t>(W) + 2) * kTileTok * kLd * sizeof(float)  // warp and block partials, totals
         + kTileTok * kHc * sizeof(float)                                   // hPre of the tile
         + static_cast<size_t>(2) * CL * pushFloats<CL>() * sizeof(float);  // received partials (x2)
}

/** Position in a [16][kLd] partials block of value i of the payload for rank d (see pushFloats). */
template <int CL>
__device__ __forceinline__ int pushIndex(int i, int d) {
  if (i < 5 * kTileTok) {
    const int t = i / 5, c = i - 5 * t;
    return t * kLd + (c < kHc ? c : kM);
  }
  const int j = i - 5 * kTileTok, tp = j / (kM - kHc), m = kHc + (j - tp * (kM - kHc));
  return (tp * CL + d) * kLd + m;
}

/**
 * W warps a block, CL blocks a cluster; C = CL * W * 32. Block `rank` of a cluster owns channels
 * [rank * W * 32, (rank + 1) * W * 32) of every stream; warp w of it the 32 starting at c0. Lane
 * (g = lane / 4, q = lane % 4) holds, for each stream s, x[row][s][c0 + 8q .. + 7] of rows g and g + 8
 * of the tile: the A fragments of mma.m16n8k16 in coeffsFwdMma's k order (packPhi's layout), and
 * afterwards exactly the 8 channels of xIn it writes.
 */
template <typename T, int W, int CL>
__global__ __launch_bounds__(W * 32, W == 8 ? 2 : 1) void coeffsPreFwd(const T* __restrict__ x,
                                                                       const uint4* __restrict__ phiP,
                                                                       T* __restrict__ xIn, CoeffsFwdParams p,
                                                                       int C, int tiles) {
#if !LMHC_CLUSTER_CODE
  __trap();  // unreachable: the host checks coeffsPreKernelBuilt before launching
#else
  constexpr int P = pushFloats<CL>(), THREADS = W * 32;
  extern __shared__ __align__(16) unsigned char smRaw[];
  uint4* phiS = reinterpret_cast<uint4*>(smRaw);                           // [W][hc][NT][32]
  uint64_t* mbar = reinterpret_cast<uint64_t*>(phiS + W * kHc * kNT * 32);  // [2]
  float* warpPart = reinterpret_cast<float*>(mbar + 2);                    // [W][16][kLd]
  float* bp = warpPart + W * kTileTok * kLd;                               // [16][kLd], the block's sums
  float* tot = bp + kTileTok * kLd;                                        // [16][kLd], the cluster's
  float* hp = tot + kTileTok * kLd;                                        // [16][hc]
  float* recv = hp + kTileTok * kHc;                                       // [2][CL][P]
  cg::cluster_group cluster = cg::this_cluster();
  const int rank = static_cast<int>(cluster.block_rank());
  const int clusterId = blockIdx.x / CL, clusters = gridDim.x / CL;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, q = lane & 3;
  const int N = p.N, K = p.K;
  const int c0 = (rank * W + warp) * kWarpChannels;
  const float ap = *p.aPre, aq = *p.aPost, ar = *p.aRes;

  // phi fragments of the warp's 4 k blocks (k = s * C + c0 ..): every lane reads and later uses only
  // its own slots, so no barrier is needed.
#pragma unroll
  for (int s = 0; s < kHc; s++)
#pragma unroll
    for (int nt = 0; nt < kNT; nt++)
      phiS[((warp * kHc + s) * kNT + nt) * 32 + lane] =
          __ldg(phiP + ((static_cast<size_t>(s) * C + c0) / 32 * kNT + nt) * 32 + lane);
  if (tid == 0) {
    for (int b = 0; b < 2; b++) mbarInit(smemAddr(mbar + b), 1);
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    for (int b = 0; b < 2; b++) mbarArm(smemAddr(mbar + b), CL * P * sizeof(float));
  }
  cluster.sync();  // every block's barriers exist before any block sends

  auto load = [&](int tile, uint4 (&a)[kHc][2]) {
#pragma unroll
    for (int h = 0; h < 2; h++) {
      const int row = tile * kTileTok + h * 8 + g;
      const T* base = x + static_cast<size_t>(row < N ? row : 0) * K + c0 + q * 8;
#pragma unroll
      for (int s = 0; s < kHc; s++)
        a[s][h] = row < N ? __ldg(reinterpret_cast<const uint4*>(base + static_cast<size_t>(s) * C))
                          : make_uint4(0, 0, 0, 0);
    }
  };
  // This rank's tokens of the tile at n0: mix, hPre (the values xIn used), hPost, invr and the
  // Sinkhorn logits. (Deferring it into the next tile's exchange wait needed one more barrier and
  // measured slower.)
  auto finish = [&](int n0) {
    for (int j = tid; j < (kTileTok / CL) * kM; j += THREADS) {
      const int tp = j / kM, m = j - tp * kM, t = tp * CL + rank, n = n0 + t;
      if (n >= N) continue;
      const float invr = invRms(tot[t * kLd + kM], K, p.rmsEps);
      const float mix = tot[t * kLd + m] * invr;
      if (p.mix) p.mix[static_cast<size_t>(n) * kM + m] = mix;
      if (m < kHc)
        p.hPre[static_cast<size_t>(n) * kHc + m] = hp[t * kHc + m];
      else if (m < 2 * kHc)
        p.hPost[static_cast<size_t>(n) * kHc + (m - kHc)] = sigmoidf(fmaf(mix, aq, p.b[m])) * p.postMult;
      else
        p.hRes[static_cast<size_t>(n) * kHc * kHc + (m - 2 * kHc)] = fmaf(mix, ar, p.b[m]);
      if (m == 0 && p.invr) p.invr[n] = invr;
    }
  };
  // Where this thread's first column value lands in tot (the totals loop below).
  const int totIdx0 = tid >= kTileTok && tid < kTileTok + P - 5 * kTileTok
                          ? pushIndex<CL>(5 * kTileTok + (tid - kTileTok), rank)
                          : 0;

  // This thread's piece of the per-tile push (fixed for the kernel): payload floats 4 v4 .. 4 v4 + 3
  // for rank d, read from the block sums at pushSrc (3 indices of 10 bits) and pushSrc2.
  int pushSrc = -1, pushSrc2 = 0;
  uint32_t pushAddr0 = 0, pushAddr1 = 0, pushBar0 = 0, pushBar1 = 0;
  static_assert(CL * (P / 4) <= THREADS, "one push piece a thread");
  if (tid < CL * (P / 4)) {
    const int d = tid / (P / 4), v4 = tid - d * (P / 4);
    pushSrc = pushIndex<CL>(4 * v4, d) | (pushIndex<CL>(4 * v4 + 1, d) << 10) | (pushIndex<CL>(4 * v4 + 2, d) << 20);
    pushSrc2 = pushIndex<CL>(4 * v4 + 3, d);
    pushAddr0 = mapaRank(smemAddr(recv + rank * P + 4 * v4), d);
    pushAddr1 = mapaRank(smemAddr(recv + (CL + rank) * P + 4 * v4), d);
    pushBar0 = mapaRank(smemAddr(mbar), d);
    pushBar1 = mapaRank(smemAddr(mbar + 1), d);
  }

  // One tile: a holds its x, an receives the next tile's (the loop alternates the two arrays, so no
  // register copies).
  auto step = [&](int tile, int it, const uint4 (&a)[kHc][2], uint4 (&an)[kHc][2]) {
    const int buf = it & 1;
    if (tile + clusters < tiles) load(tile + clusters, an);

      // This warp's share: 16 tokens x 24 columns over 4 x 32 k, and the rows' sums of squares.
      float acc[kNT][4], gram[2][4];
#pragma unroll
      for (int nt = 0; nt < kNT; nt++) acc[nt][0] = acc[nt][1] = acc[nt][2] = acc[nt][3] = 0.f;
#pragma unroll
      for (int h = 0; h < 2; h++) gram[h][0] = gram[h][1] = gram[h][2] = gram[h][3] = 0.f;
#pragma unroll
      for (int s = 0; s < kHc; s++) {
        const uint4 a0 = a[s][0], a1 = a[s][1];
#pragma unroll
        for (int nt = 0; nt < kNT; nt++) {
          const uint4 b = phiS[((warp * kHc + s) * kNT + nt) * 32 + lane];
          mma16816<T>(acc[nt], a0.x, a1.x, a0.y, a1.y, b.x, b.y);
          mma16816<T>(acc[nt], a0.z, a1.z, a0.w, a1.w, b.z, b.w);
        }
        // Sums of squares on the tensor cores too: the tile times its own transpose (rows 0..7, then
        // 8..15, as the B operand: the lane's A registers of those rows are exactly its B fragment).
        // The diagonal is what is kept; 16-bit products are exact in f32, as in sq2.
        mma16816<T>(gram[0], a0.x, a1.x, a0.y, a1.y, a0.x, a0.y);
        mma16816<T>(gram[0], a0.z, a1.z, a0.w, a1.w, a0.z, a0.w);
        mma16816<T>(gram[1], a0.x, a1.x, a0.y, a1.y, a1.x, a1.y);
        mma16816<T>(gram[1], a0.z, a1.z, a0.w, a1.w, a1.z, a1.w);
      }
      float* wp = warpPart + warp * kTileTok * kLd;
#pragma unroll
      for (int nt = 0; nt < kNT; nt++) {
        const int col = nt * 8 + 2 * q;
        wp[g * kLd + col] = acc[nt][0];
        wp[g * kLd + col + 1] = acc[nt][1];
        wp[(g + 8) * kLd + col] = acc[nt][2];
        wp[(g + 8) * kLd + col + 1] = acc[nt][3];
      }
      // Diagonal entry (r, r) of the Gram tiles: row g of gram[0] (column g) and row g + 8 of gram[1]
      // (column g) sit in lane q = g / 2, element 0/2 for even g and 1/3 for odd g.
      if (q == (g >> 1)) {
        wp[g * kLd + kM] = (g & 1) ? gram[0][1] : gram[0][0];
        wp[(g + 8) * kLd + kM] = (g & 1) ? gram[1][3] : gram[1][2];
      }
      __syncthreads();
      // The block's sums, warps in index order.
      for (int j = tid; j < kTileTok * kLd; j += THREADS) {
        float v = warpPart[j];
#pragma unroll
        for (int w = 1; w < W; w++) v += warpPart[w * kTileTok * kLd + j];
        bp[j] = v;
      }
      __syncthreads();
      // Push this thread's payload piece (if any) into slot [buf][this rank] of rank pushDst's buffer.
      if (pushSrc >= 0)
        stAsync4(buf ? pushAddr1 : pushAddr0, bp[pushSrc & 0x3ff], bp[(pushSrc >> 10) & 0x3ff],
                 bp[(pushSrc >> 20) & 0x3ff], bp[pushSrc2], buf ? pushBar1 : pushBar0);
      mbarWait(smemAddr(mbar + buf), (it >> 1) & 1);
      // Re-arm this buffer for tile it + 2: that data can only come after every rank has had this
      // block's partials of tile it + 1, which it sends after all its threads are past this point.
      if (tid == 0) mbarArm(smemAddr(mbar + buf), CL * P * sizeof(float));
      // Cluster totals, ranks in order. Threads 0..15: a token's head (its hc projections and sum of
      // squares) and its hPre, once for the block; the others: the columns of this rank's tokens.
      // (Spreading the head over 80 threads and hPre over 64 took one more barrier and measured slower.)
      const float* rv = recv + buf * CL * P;
      for (int j = tid; j < kTileTok + (P - 5 * kTileTok); j += THREADS) {
        if (j < kTileTok) {
          float y[5];
#pragma unroll
          for (int c = 0; c < 5; c++) {
            float v = rv[j * 5 + c];
#pragma unroll
            for (int r = 1; r < CL; r++) v += rv[r * P + j * 5 + c];
            y[c] = v;
          }
          const float invr = invRms(y[4], K, p.rmsEps);
#pragma unroll
          for (int s = 0; s < kHc; s++) {
            hp[j * kHc + s] = preCoef(y[s], invr, ap, p.b[s], p.preEps);
            tot[j * kLd + s] = y[s];
          }
          tot[j * kLd + kM] = y[4];
        } else {
          const int i = 5 * kTileTok + (j - kTileTok);
          float v = rv[i];
#pragma unroll
          for (int r = 1; r < CL; r++) v += rv[r * P + i];
          tot[j == tid ? totIdx0 : pushIndex<CL>(i, rank)] = v;
        }
      }
      __syncthreads();

      const int n0 = tile * kTileTok;
      // xIn for this warp's channels: the x still in registers, weighted by hPre (preFwd's order).
#pragma unroll
      for (int h = 0; h < 2; h++) {
        const int t = h * 8 + g, n = n0 + t;
        if (n >= N) continue;
        float o[8];
#pragma unroll
        for (int v = 0; v < 8; v++) o[v] = 0.f;
#pragma unroll
        for (int s = 0; s < kHc; s++) {
          const float hs = hp[t * kHc + s];
          float xv[8];
          unpack8<T>(a[s][h], xv);
#pragma unroll
          for (int v = 0; v < 8; v++) o[v] = fmaf(hs, xv[v], o[v]);
        }
        storeN<T, 8>(xIn + static_cast<size_t>(n) * C + c0 + q * 8, o);
      }
      finish(n0);
  };
  uint4 xa[kHc][2], xb[kHc][2];
  int tile = clusterId, it = 0;
  if (tile < tiles) load(tile, xa);
  while (tile < tiles) {
    step(tile, it++, xa, xb);
    tile += clusters;
    if (tile >= tiles) break;
    step(tile, it++, xb, xa);
    tile += clusters;
  }
  // No block may leave (taking its shared memory) while another still writes into it.
  cluster.sync();
#endif  // LMHC_CLUSTER_CODE
}

/** Sinkhorn of hc = 4 tokens whose logits are in hRes (coeffsPreFwd's output), 16 lanes a token, in place. */
__global__ __launch_bounds__(256) void sinkhornFwd4(CoeffsFwdParams p) {
  __shared__ float L[16][16];
  const int tok = threadIdx.x >> 4, e = threadIdx.x & 15;
  const int n = blockIdx.x * 16 + tok;
  if (n < p.N) L[tok][e] = p.hRes[static_cast<size_t>(n) * 16 + e];
  __syncthreads();
  if (n < p.N) sinkhorn4Lanes(p, n, L[tok]);
}

/**
 * Launches coeffsPreFwd<T, W, CL> with as many persistent clusters as fit the device at once (never
 * more than there are tiles). Returns false when no cluster of this shape fits (then the caller
 * tries another shape).
 */
template <typename T, int W, int CL>
bool launchCoeffsPre(Device& dev, const T* x, const uint4* phiP, T* xIn, const CoeffsFwdParams& p, int C) {
  auto kern = coeffsPreFwd<T, W, CL>;
  constexpr size_t smem = coeffsPreSmem<W, CL>();
  // Occupancy per device, queried once (it does not change for a kernel).
  static int active[64];
  static bool known[64];
  const int slot = dev.id >= 0 && dev.id < 64 ? dev.id : 0;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeClusterDimension;
  attr[0].val.clusterDim.x = CL;
  attr[0].val.clusterDim.y = 1;
  attr[0].val.clusterDim.z = 1;
  cudaLaunchConfig_t cfg = {};
  cfg.blockDim = dim3(W * 32);
  cfg.dynamicSmemBytes = smem;
  cfg.stream = dev.stream;
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  if (!known[slot]) {
    CK(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
    if (CL > 8) {
      // 16 blocks a cluster is beyond the portable 8; sm_90 allows it when asked.
      if (cudaFuncSetAttribute(kern, cudaFuncAttributeNonPortableClusterSizeAllowed, 1) != cudaSuccess) {
        (void)cudaGetLastError();
        known[slot] = true;
        active[slot] = 0;
        return false;
      }
    }
    cfg.gridDim = dim3(CL);
    int n = 0;
    if (cudaOccupancyMaxActiveClusters(&n, kern, &cfg) != cudaSuccess) {
      (void)cudaGetLastError();
      n = 0;
    }
    active[slot] = n;
    known[slot] = true;
  }
  if (active[slot] < 1) return false;
  if (dev.profile)
    std::fprintf(stderr, "[profile] coeffsPreFwd W=%d CL=%d smem=%zu active clusters=%d\n", W, CL, smem,
                 active[slot]);
  const int tiles = (p.N + kTileTok - 1) / kTileTok;
  cfg.gridDim = dim3(std::min(active[slot], tiles) * CL);
  CK(cudaLaunchKernelEx(&cfg, kern, x, phiP, xIn, p, C, tiles));
  return true;
}

/** c = 256: one block of 8 warps; c = 512 * {1, 2, 4, 8}: clusters of 1..8 blocks of 16 warps. */
template <typename T>
bool launchCoeffsPreFor(Device& dev, const T* x, const uint4* phiP, T* xIn, const CoeffsFwdParams& p, int C) {
  switch (C) {
    case 256: return launchCoeffsPre<T, 8, 1>(dev, x, phiP, xIn, p, C);
    case 512: return launchCoeffsPre<T, 16, 1>(dev, x, phiP, xIn, p, C);
    case 1024: return launchCoeffsPre<T, 16, 2>(dev, x, phiP, xIn, p, C);
    case 2048: return launchCoeffsPre<T, 16, 4>(dev, x, phiP, xIn, p, C);
    case 4096: return launchCoeffsPre<T, 16, 8>(dev, x, phiP, xIn, p, C);
    default: return false;
  }
}

}  // namespace

bool coeffsPreKernelBuilt() {
  // The loaded image's architecture: below 90 the kernel body was compiled out (LMHC_CLUSTER_CODE).
  cudaFuncAttributes attr{};
  if (cudaFuncGetAttributes(&attr, coeffsPreFwd<bf16, 16, 8>) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return attr.binaryVersion >= 90;
}

/** Whether coeffs_pre_fwd takes these sizes (the TS side asks before calling; mirrored there). */
bool coeffsPreSupported(int hc, int C) {
  return hc == kHc && (C == 256 || C == 512 || C == 1024 || C == 2048 || C == 4096);
}

// bufs: x, phi, b, aPre, aPost, aRes, hPre, hPost, hRes, mix?, invr?, hist?, xIn
// params: N, K, hc, tmax, rmsEps, preEps, sinkhornEps, postMult, xDtype, phiDtype
LMHC_OP(coeffs_pre_fwd) {
  const CoeffsFwdArgs args = readCoeffsFwdArgs(a, "coeffs_pre_fwd");
  const CoeffsFwdParams& p = args.p;
  const int N = p.N, K = p.K, hc = p.hc, C = K / hc;
  if (C * hc != K || !coeffsPreSupported(hc, C))
    throw ArgError("coeffs_pre_fwd: needs hc = 4 and c in {256, 512, 1024, 2048, 4096}, got hc = " +
                   std::to_string(hc) + ", K = " + std::to_string(K));
  if (args.xdt != args.phidt || (args.xdt != kBF16 && args.xdt != kF16))
    throw ArgError("coeffs_pre_fwd: x and phi must both be bf16 or both f16");
  if (!a.dev.clusterKernels)
    throw ArgError("coeffs_pre_fwd: needs thread-block clusters (sm_90 or newer); this device is sm_" +
                   std::to_string(a.dev.ccMajor * 10 + a.dev.ccMinor) + ", which takes the no-cluster path");
  const int xdt = args.xdt;
  const void* x = args.x;
  const void* phi = args.phi;
  void* xIn = a.buf(12, static_cast<size_t>(N) * C * 2);
  cudaStream_t s = a.dev.stream;

  OpTimer timer(a.dev, "coeffs_pre_fwd");
  const int64_t packed = static_cast<int64_t>(K) * kNT * 8;
  Temp phiP(a.dev, packed * 2);
  auto run = [&](auto tag) {
    using T = decltype(tag);
    packPhi<T, kNT><<<gridFor(a.dev, packed / 8, 256), 256, 0, s>>>(static_cast<const T*>(phi), phiP.as<T>(), K, kM);
    CK_LAUNCH("packPhi");
    timer.mark("pack phi");
    const bool ok = launchCoeffsPreFor<T>(a.dev, static_cast<const T*>(x), phiP.as<uint4>(), static_cast<T*>(xIn), p, C);
    if (!ok)
      throw ArgError("coeffs_pre_fwd: no thread-block cluster of the needed size fits this device");
    CK_LAUNCH("coeffsPreFwd");
    timer.mark("fused pass");
  };
  if (xdt == kBF16) run(bf16{});
  else run(f16{});
  sinkhornFwd4<<<(N + 15) / 16, 256, 0, s>>>(p);
  CK_LAUNCH("sinkhornFwd4");
  timer.mark("sinkhorn");
}

}  // namespace lmhc
