// coeffs: mix = (x.phi) * rsqrt(mean(x^2) + eps), then split / sigmoid / Sinkhorn per token, and its
// backward. Counterpart of the reference backend's cpu/mhc coeffs kernel.
//
// Forward, two paths (both one pass over x, matrix product and sum of squares together):
//  - tensor cores (x and phi both bf16 or both f16, K % 32 == 0): mma.sync m16n8k16 with f32
//    accumulation. A block owns 32 tokens; its 8 warps split K and meet in shared memory, where 32
//    threads finish the tokens (sigmoid; for hc = 4 the Sinkhorn steps then run on all 256 threads,
//    16 lanes a token). Products of 16-bit inputs are exact in f32, so this matches the CUDA-core
//    path up to summation order.
//  - CUDA cores otherwise (f32 storage, mixed dtypes, odd K).
// Backward: a per-token kernel (Sinkhorn backward from the saved divisors or recomputed, sigmoid
// backward; 16 lanes a token for hc = 4 with the saved divisors) produces g = d mix * invr and the
// rms factor; one pass over x then writes grad_x and per-range partials of grad_phi, which a second
// kernel sums in a fixed order (no atomics).
#include <algorithm>
#include <memory>

#include "coeffs_mma.cuh"
#include "sinkhorn.cuh"

namespace lmhc {
namespace {

/** Ask L2 for the line holding p (no register is tied up waiting for it). */
__device__ __forceinline__ void prefetchL2(const void* p) { asm volatile("prefetch.global.L2 [%0];" ::"l"(p)); }

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

// ---------------------------------------------------------------- backward

/** Row length of the per-token g buffer: M + 1 (the rms factor) rounded up to 4 floats, for hc <= 8. */
constexpr int dyLd(int M) { return (M + 1 + 3) / 4 * 4; }

struct CoeffsBwdParams {
  int N, K, hc, M, tmax;
  float preEps, skEps, postMult;
  bool recompute;
  const float *b, *aPre, *aPost, *aRes, *mix, *invr, *hRes;
  const float *gPre, *gPost, *gRes;  // null: that output does not feed the loss
  float* norms;                      // history [N, 2tmax-1, hc] (read) or recompute scratch (written)
  float *dy, *dz, *dalpha;  // [N, kDyLd] (g, then the rms factor, zero padded), [N, M], [N, 3]
  uint4* frag;              // coeffsBwdToken4 only, when set: packDy's output, written in place of the launch
};

/** Per token: Sinkhorn backward, sigmoid backward, and what the pass over x needs. */
template <int HC>
__global__ __launch_bounds__(64) void coeffsBwdToken(CoeffsBwdParams p) {
  constexpr int M = HC * HC + 2 * HC, HH = HC * HC, kDyLd = dyLd(M);
  const int steps = 2 * p.tmax - 1;
  const int n = blockIdx.x * blockDim.x + threadIdx.x;
  if (n >= p.N) return;
  const float* mix = p.mix + static_cast<size_t>(n) * M;
  const float ap = *p.aPre, aq = *p.aPost, ar = *p.aRes;
  float L[HH], P[HH], G[HH];
#pragma unroll
  for (int i = 0; i < HH; i++) L[i] = mix[2 * HC + i] * ar + p.b[2 * HC + i];
  if (p.gRes) {
    float* norms = p.norms + static_cast<size_t>(n) * steps * HC;
    if (p.recompute) {
#pragma unroll
      for (int i = 0; i < HH; i++) P[i] = L[i];
      sinkhornFwd<HC>(P, p.tmax, p.skEps, norms);
    } else {
#pragma unroll
      for (int i = 0; i < HH; i++) P[i] = p.hRes[static_cast<size_t>(n) * HH + i];
    }
#pragma unroll
    for (int i = 0; i < HH; i++) G[i] = p.gRes[static_cast<size_t>(n) * HH + i];
    // Walk the steps backwards. Step out = in / d (d per column or row): the gradient of its input
    // is (G - sum(G * out) over that column/row) / d, and in = out * d restores the step's input.
    // The divisors of step s - 1 are loaded while step s computes (the loads would otherwise sit on
    // the serial chain, one memory latency per step).
    float dn[HC];
#pragma unroll
    for (int j = 0; j < HC; j++) dn[j] = norms[(steps - 1) * HC + j];
    for (int s = steps - 1; s >= 0; s--) {
      float d[HC];
#pragma unroll
      for (int j = 0; j < HC; j++) d[j] = dn[j];
      if (s > 0) {
#pragma unroll
        for (int j = 0; j < HC; j++) dn[j] = norms[(s - 1) * HC + j];
      }
      if ((s & 1) == 0) {
#pragma unroll
        for (int j = 0; j < HC; j++) {
          float dot = 0.f;
#pragma unroll
          for (int i = 0; i < HC; i++) dot += G[i * HC + j] * P[i * HC + j];
#pragma unroll
          for (int i = 0; i < HC; i++) {
            G[i * HC + j] = (G[i * HC + j] - dot) / d[j];
            P[i * HC + j] = P[i * HC + j] * d[j];
          }
        }
      } else {
#pragma unroll
        for (int i = 0; i < HC; i++) {
          float dot = 0.f;
#pragma unroll
          for (int j = 0; j < HC; j++) dot += G[i * HC + j] * P[i * HC + j];
#pragma unroll
          for (int j = 0; j < HC; j++) {
            G[i * HC + j] = (G[i * HC + j] - dot) / d[i];
            P[i * HC + j] = P[i * HC + j] * d[i];
          }
        }
      }
    }
    // P0 = softmax(L) + eps: dL = S * (G - sum_j G S) row by row, S recomputed from L.
#pragma unroll
    for (int i = 0; i < HH; i++) P[i] = L[i];
    rowSoftmax<HC>(P);
#pragma unroll
    for (int i = 0; i < HC; i++) {
      float dot = 0.f;
#pragma unroll
      for (int j = 0; j < HC; j++) dot += G[i * HC + j] * P[i * HC + j];
#pragma unroll
      for (int j = 0; j < HC; j++) G[i * HC + j] = P[i * HC + j] * (G[i * HC + j] - dot);
    }
  } else {
#pragma unroll
    for (int i = 0; i < HH; i++) G[i] = 0.f;
  }

  const float invr = p.invr[n];
  float* dy = p.dy + static_cast<size_t>(n) * kDyLd;
  float* dz = p.dz + static_cast<size_t>(n) * M;
  float da0 = 0.f, da1 = 0.f, da2 = 0.f, dot = 0.f;
#pragma unroll
  for (int m = 0; m < M; m++) {
    float z, dmix;
    const float mx = mix[m];
    if (m < HC) {
      const float sg = sigmoidf(mx * ap + p.b[m]);
      z = p.gPre ? p.gPre[static_cast<size_t>(n) * HC + m] * (sg * (1.f - sg)) : 0.f;
      da0 += z * mx;
      dmix = z * ap;
    } else if (m < 2 * HC) {
      const float sg = sigmoidf(mx * aq + p.b[m]);
      z = p.gPost ? p.gPost[static_cast<size_t>(n) * HC + (m - HC)] * p.postMult * (sg * (1.f - sg)) : 0.f;
      da1 += z * mx;
      dmix = z * aq;
    } else {
      z = G[m - 2 * HC];
      da2 += z * mx;
      dmix = z * ar;
    }
    dz[m] = z;
    dy[m] = dmix * invr;
    dot += dmix * mx;
  }
  // d invr / d x_k = -invr^3 x_k / K, and sum_m dmix * y = sum_m dmix * mix / invr. The factor sits
  // in the padded row of dy (column M), so the pass over x reads one row per token.
  dy[M] = -dot * invr * invr / static_cast<float>(p.K);
#pragma unroll
  for (int m = M + 1; m < kDyLd; m++) dy[m] = 0.f;
  p.dalpha[static_cast<size_t>(n) * 3 + 0] = da0;
  p.dalpha[static_cast<size_t>(n) * 3 + 1] = da1;
  p.dalpha[static_cast<size_t>(n) * 3 + 2] = da2;
}


template <int HC>
struct XMma {
  static constexpr int M = HC * HC + 2 * HC;
  static constexpr int MC = (M + 15) / 16;  // k16 steps over m for grad_x
  static constexpr int NTM = (M + 7) / 8;   // n8 tiles over m for grad_phi
  static constexpr int GXA = MC * 8;        // A fragments of grad_x: MC x {hi, lo} x 4 registers
  static constexpr int GPB = NTM * 4;       // B fragments of grad_phi: NTM x {hi, lo} x 2 registers
  static constexpr int RV = (GXA + GPB + 2 + 3) / 4;  // uint4 per lane and 16 tokens (+ r of 2 tokens)
};

/** The two bf16 halves of v, bits: part 0 = bf16(v), part 1 = bf16(v - part 0). */
__device__ __forceinline__ uint32_t bfPart(float v, int part) {
  const bf16 h = __float2bfloat16_rn(v);
  if (part == 0) return __bfloat16_as_ushort(h);
  return __bfloat16_as_ushort(__float2bfloat16_rn(v - __bfloat162float(h)));
}
__device__ __forceinline__ uint32_t bfPair(float e0, float e1, int part) {
  return bfPart(e0, part) | (bfPart(e1, part) << 16);
}

/**
 * One group of 16 tokens of packDy, for lane `lane`: at(t, m) = g of the group's token t (0 past N
 * or for m >= M), rAt(t) = its rms factor (0 past N).
 */
template <int HC, typename At, typename RAt>
__device__ __forceinline__ void packDyGroup(const At& at, const RAt& rAt, uint4* __restrict__ out, int grp, int lane) {
  using D = XMma<HC>;
  const int g = lane >> 2, q = lane & 3;
  uint32_t r[D::RV * 4];
#pragma unroll
  for (int j = 0; j < D::RV * 4; j++) r[j] = 0u;
#pragma unroll
  for (int mc = 0; mc < D::MC; mc++)
#pragma unroll
    for (int part = 0; part < 2; part++) {
      const int m = mc * 16 + 2 * q, b = (mc * 2 + part) * 4;
      r[b + 0] = bfPair(at(g, m), at(g, m + 1), part);
      r[b + 1] = bfPair(at(g + 8, m), at(g + 8, m + 1), part);
      r[b + 2] = bfPair(at(g, m + 8), at(g, m + 9), part);
      r[b + 3] = bfPair(at(g + 8, m + 8), at(g + 8, m + 9), part);
    }
#pragma unroll
  for (int mt = 0; mt < D::NTM; mt++)
#pragma unroll
    for (int part = 0; part < 2; part++) {
      const int m = mt * 8 + g, b = D::GXA + (mt * 2 + part) * 2;
      r[b + 0] = bfPair(at(2 * q, m), at(2 * q + 1, m), part);
      r[b + 1] = bfPair(at(2 * q + 8, m), at(2 * q + 9, m), part);
    }
  r[D::GXA + D::GPB] = __float_as_uint(rAt(g));
  r[D::GXA + D::GPB + 1] = __float_as_uint(rAt(g + 8));
#pragma unroll
  for (int v = 0; v < D::RV; v++)
    out[(static_cast<size_t>(grp) * D::RV + v) * 32 + lane] = make_uint4(r[4 * v], r[4 * v + 1], r[4 * v + 2], r[4 * v + 3]);
}


/**
 * coeffsBwdToken for hc = 4 with the divisors from the forward's history: 16 lanes per token, lane
 * e = 4i + j owns entry (i, j) of the hc x hc matrices, so 16x as many threads walk the Sinkhorn
 * steps as in coeffsBwdToken (one thread per token leaves most of the GPU idle). A block's tokens
 * are contiguous, so their divisors are one contiguous range, staged in shared memory with
 * coalesced loads before the walk. Every sum gathers its terms with shuffles and adds them in the
 * same order as coeffsBwdToken, so both kernels give the same results (deterministic either way).
 */
constexpr int kTok4PerBlock = 16;  // 256 threads; one packDy group of 16 tokens a block
__global__ __launch_bounds__(256) void coeffsBwdToken4(CoeffsBwdParams p) {
  constexpr int HC = 4, M = HC * HC + 2 * HC, kDyLd = dyLd(M);
  extern __shared__ float smNorms[];
  const int steps = 2 * p.tmax - 1;
  const int e = threadIdx.x & 15, i = e >> 2, j = e & 3, t = threadIdx.x >> 4;
  const int n0 = blockIdx.x * kTok4PerBlock;
  const int nRaw = n0 + t;
  const bool valid = nRaw < p.N;
  const int n = valid ? nRaw : p.N - 1;  // every lane takes part in the shuffles
  const unsigned full = 0xffffffffu;
  const float* mix = p.mix + static_cast<size_t>(n) * M;
  const float ap = *p.aPre, aq = *p.aPost, ar = *p.aRes;
  const float Lv = mix[2 * HC + e] * ar + p.b[2 * HC + e];
  float Gv = 0.f;
  if (p.gRes) {
    // Stage this block's divisors: tokens n0 .. n0 + count - 1, steps * HC floats each.
    const int count = min(kTok4PerBlock, p.N - n0);
    const int total = count * steps * HC;
    const float* src = p.norms + static_cast<size_t>(n0) * steps * HC;
    for (int k = threadIdx.x; k < total; k += blockDim.x) smNorms[k] = src[k];
    float Pv = p.hRes[static_cast<size_t>(n) * HC * HC + e];
    Gv = p.gRes[static_cast<size_t>(n) * HC * HC + e];
    __syncthreads();
    const float* nm = smNorms + (valid ? t : 0) * steps * HC;
    // Step s: even = column step (divisor j), odd = row step (divisor i).
    for (int s = steps - 1; s >= 0; s--) {
      const bool col = (s & 1) == 0;
      const float d = nm[s * HC + (col ? j : i)];
      float dot = 0.f;
#pragma unroll
      for (int k = 0; k < HC; k++) {
        const int srcLane = col ? k * HC + j : i * HC + k;
        const float g = __shfl_sync(full, Gv, srcLane, 16);
        const float pp = __shfl_sync(full, Pv, srcLane, 16);
        dot += g * pp;
      }
      Gv = (Gv - dot) / d;
      Pv = Pv * d;
    }
    // Row softmax of L, then dL = S * (G - sum_j G S) row by row (as coeffsBwdToken).
    float lr[HC];
#pragma unroll
    for (int k = 0; k < HC; k++) lr[k] = __shfl_sync(full, Lv, i * HC + k, 16);
    float mx = lr[0];
#pragma unroll
    for (int k = 1; k < HC; k++) mx = fmaxf(mx, lr[k]);
    float ex[HC], sum = 0.f;
#pragma unroll
    for (int k = 0; k < HC; k++) {
      ex[k] = expf(lr[k] - mx);
      sum += ex[k];
    }
    float dot = 0.f;
#pragma unroll
    for (int k = 0; k < HC; k++) {
      const float g = __shfl_sync(full, Gv, i * HC + k, 16);
      dot += g * (ex[k] / sum);
    }
    Gv = (ex[j] / sum) * (Gv - dot);
  }

  // Lane e: item A = m = e (pre for e < HC, post for e < 2 HC, none above), item B = m = 2 HC + e.
  const float invr = p.invr[n];
  float zA = 0.f, dA = 0.f, mA = 0.f;
  if (e < 2 * HC) {
    mA = mix[e];
    if (e < HC) {
      const float sg = sigmoidf(mA * ap + p.b[e]);
      zA = p.gPre ? p.gPre[static_cast<size_t>(n) * HC + e] * (sg * (1.f - sg)) : 0.f;
      dA = zA * ap;
    } else {
      const float sg = sigmoidf(mA * aq + p.b[e]);
      zA = p.gPost ? p.gPost[static_cast<size_t>(n) * HC + (e - HC)] * p.postMult * (sg * (1.f - sg)) : 0.f;
      dA = zA * aq;
    }
  }
  const float zB = Gv, mB = mix[2 * HC + e], dB = zB * ar;
  float* dy = p.dy + static_cast<size_t>(n) * kDyLd;
  float* dz = p.dz + static_cast<size_t>(n) * M;
  if (valid) {
    if (e < 2 * HC) {
      dz[e] = zA;
      dy[e] = dA * invr;
    }
    dz[2 * HC + e] = zB;
    dy[2 * HC + e] = dB * invr;
  }
  // The sums over m, in order m = 0 .. M - 1, gathered into lane 0 of the token.
  float da0 = 0.f, da1 = 0.f, da2 = 0.f, dot = 0.f;
#pragma unroll
  for (int k = 0; k < 2 * HC; k++) {
    const float z = __shfl_sync(full, zA, k, 16), dm = __shfl_sync(full, dA, k, 16), mx = __shfl_sync(full, mA, k, 16);
    if (k < HC) da0 += z * mx;
    else da1 += z * mx;
    dot += dm * mx;
  }
#pragma unroll
  for (int k = 0; k < HC * HC; k++) {
    const float z = __shfl_sync(full, zB, k, 16), dm = __shfl_sync(full, dB, k, 16), mx = __shfl_sync(full, mB, k, 16);
    da2 += z * mx;
    dot += dm * mx;
  }
  const float rf = -dot * invr * invr / static_cast<float>(p.K);
  if (valid && e == 0) {
    dy[M] = rf;
#pragma unroll
    for (int m = M + 1; m < kDyLd; m++) dy[m] = 0.f;
    p.dalpha[static_cast<size_t>(n) * 3 + 0] = da0;
    p.dalpha[static_cast<size_t>(n) * 3 + 1] = da1;
    p.dalpha[static_cast<size_t>(n) * 3 + 2] = da2;
  }
  if (p.frag) {
    // packDy folded in: the block's 16 tokens are group blockIdx.x; their rows of g (the values
    // written to dy above, zeros past N) go through shared memory to warp 0, which packs them.
    __shared__ float dys[kTok4PerBlock][kDyLd];
    if (e < 2 * HC) dys[t][e] = valid ? dA * invr : 0.f;
    dys[t][2 * HC + e] = valid ? dB * invr : 0.f;
    if (e == 0) dys[t][M] = valid ? rf : 0.f;
    __syncthreads();
    if (threadIdx.x < 32)
      packDyGroup<HC>([&](int tt, int m) -> float { return m < M ? dys[tt][m] : 0.f; },
                      [&](int tt) -> float { return dys[tt][M]; }, p.frag, blockIdx.x, threadIdx.x);
  }
}

/**
 * grad_x = g . phi^T + factor * x and per-range partials of grad_phi = x^T . g, in one pass over x.
 * Block (k chunk, token range): each thread owns KPT consecutive k, keeps phi[k, :] and its
 * grad_phi accumulators in registers, and walks the range's tokens in order, g (row padded to a
 * multiple of 4 floats, the rms factor in column M) staged in shared memory TILE tokens at a time
 * and read as float4 broadcasts. Loads are KPT elements wide, not 16 bytes: a thread owning 8 k
 * would need 2 * 8 * M accumulator registers. The ranges are sized so the grid is one full wave.
 */
/** The x pass with U tokens' x values loaded before any of their math, to hide memory latency. */
template <typename TX, int M, int KPT, int LDY>
__global__ __launch_bounds__(256) void coeffsBwdX(const TX* __restrict__ x, const float* __restrict__ phi,
                                                  const float* __restrict__ dy, const TX* __restrict__ gacc,
                                                  TX* __restrict__ gx,
                                                  float* __restrict__ gphi, int N, int K, int tokPer) {
  constexpr int TILE = 64, U = KPT == 2 ? 16 : 8;
  __shared__ __align__(16) float sdy[TILE * LDY];
  const int k0 = (blockIdx.x * blockDim.x + threadIdx.x) * KPT;
  const bool active = k0 < K;
  const int nBeg = blockIdx.y * tokPer, nEnd = min(N, nBeg + tokPer);
  float ph[KPT][M], acc[KPT][M];
#pragma unroll
  for (int j = 0; j < KPT; j++)
#pragma unroll
    for (int m = 0; m < M; m++) {
      ph[j][m] = active ? phi[static_cast<size_t>(k0 + j) * M + m] : 0.f;
      acc[j][m] = 0.f;
    }
  for (int nt = nBeg; nt < nEnd; nt += TILE) {
    const int cnt = min(TILE, nEnd - nt);
    __syncthreads();
    {
      const float4* src = reinterpret_cast<const float4*>(dy + static_cast<size_t>(nt) * LDY);
      float4* dst = reinterpret_cast<float4*>(sdy);
      for (int i = threadIdx.x; i < cnt * LDY / 4; i += blockDim.x) dst[i] = src[i];
    }
    __syncthreads();
    if (!active) continue;
    for (int t0 = 0; t0 < cnt; t0 += U) {
      float xv[U][KPT];
#pragma unroll
      for (int u = 0; u < U; u++) {
        if (t0 + u < cnt) {
          loadN<TX, KPT>(x + static_cast<size_t>(nt + t0 + u) * K + k0, xv[u]);
        } else {
#pragma unroll
          for (int j = 0; j < KPT; j++) xv[u][j] = 0.f;
        }
      }
#pragma unroll
      for (int u = 0; u < U; u++) {
        if (t0 + u >= cnt) break;
        const float4* row = reinterpret_cast<const float4*>(sdy + (t0 + u) * LDY);
        float g0[KPT], g1[KPT];
#pragma unroll
        for (int j = 0; j < KPT; j++) g0[j] = g1[j] = 0.f;
#pragma unroll
        for (int q = 0; q < LDY / 4; q++) {
          const float4 d4 = row[q];
          const float dv[4] = {d4.x, d4.y, d4.z, d4.w};
#pragma unroll
          for (int e = 0; e < 4; e++) {
            const int m = q * 4 + e;
            if (m < M) {
#pragma unroll
              for (int j = 0; j < KPT; j++) {
                acc[j][m] = fmaf(xv[u][j], dv[e], acc[j][m]);
                if (m & 1) g1[j] = fmaf(dv[e], ph[j][m], g1[j]);
                else g0[j] = fmaf(dv[e], ph[j][m], g0[j]);
              }
            } else if (m == M) {
#pragma unroll
              for (int j = 0; j < KPT; j++) g0[j] = fmaf(dv[e], xv[u][j], g0[j]);
            }
          }
        }
        if (gx) {
          float g[KPT];
#pragma unroll
          for (int j = 0; j < KPT; j++) g[j] = g0[j] + g1[j];
          if (gacc) {
            float av[KPT];
            loadN<TX, KPT>(gacc + static_cast<size_t>(nt + t0 + u) * K + k0, av);
#pragma unroll
            for (int j = 0; j < KPT; j++) g[j] += av[j];
          }
          storeN<TX, KPT>(gx + static_cast<size_t>(nt + t0 + u) * K + k0, g);
        }
      }
    }
  }
  if (active && gphi) {
#pragma unroll
    for (int j = 0; j < KPT; j++)
#pragma unroll
      for (int m = 0; m < M; m++) gphi[(static_cast<size_t>(blockIdx.y) * K + k0 + j) * M + m] = acc[j][m];
  }
}

// ---------------------------------------------------------------- backward x pass, tensor cores

// With bf16 x and phi, both products of the x pass run on mma.sync m16n8k16 (f32 accumulation):
//   grad_x[n, k]   = sum_m g[n, m] phi[k, m] + r[n] x[n, k] (+ the running x gradient)
//   grad_phi[k, m] = sum_n x[n, k] g[n, m]
// g (f32) is split into two bf16 halves, hi = bf16(g) and lo = bf16(g - hi), and both halves are
// multiplied (hi + lo carries 16 significant bits, about 8e-6 relative); x and phi are bf16 already,
// so every product is exact in f32. packDy writes, per 16 tokens, each lane's fragments of g as the
// A operand of grad_x (rows tokens, inner m) and the B operand of grad_phi (inner tokens, cols m),
// plus r of the lane's two tokens. A warp owns 32 columns k and walks 16 tokens at a time; its x tile
// goes through shared memory once so that ldmatrix.trans hands out x^T as the A operand of grad_phi.

/** dy [N, LDY] f32 -> per 16 tokens, RV uint4 per lane laid out [group][RV][32 lanes]. */
template <int HC>
__global__ void packDy(const float* __restrict__ dy, uint4* __restrict__ out, int N, int G) {
  using D = XMma<HC>;
  constexpr int M = D::M, LDY = dyLd(M);
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= G * 32) return;
  const int grp = i >> 5, lane = i & 31, n0 = grp * 16;
  auto at = [&](int t, int m) -> float {
    const int n = n0 + t;
    return n < N && m < M ? dy[static_cast<size_t>(n) * LDY + m] : 0.f;
  };
  auto rAt = [&](int t) -> float {
    const int n = n0 + t;
    return n < N ? dy[static_cast<size_t>(n) * LDY + M] : 0.f;
  };
  packDyGroup<HC>(at, rAt, out, grp, lane);
}

__device__ __forceinline__ void unpackBf8(const uint4& w, float (&o)[8]) {
  const uint32_t u[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
  for (int i = 0; i < 4; i++) {
    o[2 * i] = __uint_as_float(u[i] << 16);
    o[2 * i + 1] = __uint_as_float(u[i] & 0xffff0000u);
  }
}
__device__ __forceinline__ uint32_t packBf2(float lo, float hi) {
  return bfPart(lo, 0) | (bfPart(hi, 0) << 16);
}

constexpr int kXMmaWarps = 4;

/**
 * grad_x and per-range grad_phi partials on tensor cores. Warp w of block (bx, by) owns columns
 * k in [kb, kb + 32), kb = (bx * 4 + w) * 32, and tokens [by * tokPer, +tokPer) (tokPer % 16 == 0).
 * grad_x: n8 tile j's column c is k = kb + (c / 2) * 8 + 2j + c % 2, so a lane's C fragments over
 * j = 0..3 are 8 consecutive k of tokens g and g + 8: x, the running gradient and grad_x move as
 * 16-byte accesses, in exactly the layout the lane loaded x.
 */
template <int HC>
__global__ __launch_bounds__(128, 4) void coeffsBwdXMma(const bf16* __restrict__ x, const bf16* __restrict__ phi,
                                                       const uint4* __restrict__ frag, const bf16* __restrict__ gacc,
                                                       bf16* __restrict__ gx, float* __restrict__ gphi, int N, int K,
                                                       int tokPer) {
  using D = XMma<HC>;
  constexpr int M = D::M, MC = D::MC, NTM = D::NTM, RV = D::RV, GXA = D::GXA, GPB = D::GPB;
  __shared__ __align__(16) uint4 xs[kXMmaWarps][64];  // per warp: 16 tokens x 32 k bf16, 16-byte chunks swizzled
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, q = lane & 3;
  const int kb = (blockIdx.x * kXMmaWarps + warp) * 32;
  if (kb >= K) return;
  const int nBeg = blockIdx.y * tokPer, nEnd = min(N, nBeg + tokPer);

  // phi as the B operand of grad_x (inner m, columns k), fixed for the warp.
  const uint16_t* ph = reinterpret_cast<const uint16_t*>(phi);
  uint32_t pb[4][MC][2];
#pragma unroll
  for (int j = 0; j < 4; j++) {
    const size_t k = static_cast<size_t>(kb + (g >> 1) * 8 + 2 * j + (g & 1));
    auto e = [&](int m) -> uint32_t { return m < M ? static_cast<uint32_t>(ph[k * M + m]) : 0u; };
#pragma unroll
    for (int mc = 0; mc < MC; mc++) {
      const int m = mc * 16 + 2 * q;
      pb[j][mc][0] = e(m) | (e(m + 1) << 16);
      pb[j][mc][1] = e(m + 8) | (e(m + 9) << 16);
    }
  }
  float cp[2][NTM][4];
#pragma unroll
  for (int a = 0; a < 2; a++)
#pragma unroll
    for (int mt = 0; mt < NTM; mt++) cp[a][mt][0] = cp[a][mt][1] = cp[a][mt][2] = cp[a][mt][3] = 0.f;

  uint4* xw = xs[warp];
  // Row t's 16-byte chunk c sits at c ^ ((t >> 1) & 3): ldmatrix's 8 rows then hit 8 distinct bank groups.
  const int sw = (g >> 1) & 3;
  uint32_t ldAddr[2];
  {
    const int mat = lane >> 3, t = (mat >> 1) * 8 + (lane & 7);
#pragma unroll
    for (int h = 0; h < 2; h++) {
      const int c = h * 2 + (mat & 1);
      ldAddr[h] = static_cast<uint32_t>(__cvta_generic_to_shared(&xw[t * 4 + (c ^ ((t >> 1) & 3))]));
    }
  }
  auto rowPtr = [&](const bf16* base, int n) { return base + static_cast<size_t>(n) * K + kb + 8 * q; };
  auto load = [&](int n0, uint4 (&xv)[2], uint4 (&av)[2]) {
#pragma unroll
    for (int h = 0; h < 2; h++) {
      const int n = n0 + g + 8 * h;
      const bool ok = n < nEnd;
      xv[h] = ok ? __ldg(reinterpret_cast<const uint4*>(rowPtr(x, n))) : make_uint4(0, 0, 0, 0);
      av[h] = ok && gacc ? __ldg(reinterpret_cast<const uint4*>(rowPtr(gacc, n))) : make_uint4(0, 0, 0, 0);
    }
  };
  uint4 xc[2], ac[2];
  if (nBeg < nEnd) load(nBeg, xc, ac);
  for (int n0 = nBeg; n0 < nEnd; n0 += 16) {
    // Two groups ahead into L2, one group ahead into registers.
#pragma unroll
    for (int h = 0; h < 2; h++) {
      const int n = n0 + 32 + g + 8 * h;
      if (n < nEnd) {
        prefetchL2(rowPtr(x, n));
        if (gacc) prefetchL2(rowPtr(gacc, n));
      }
    }
    uint4 xn[2] = {make_uint4(0, 0, 0, 0), make_uint4(0, 0, 0, 0)}, an[2] = {xn[0], xn[1]};
    if (n0 + 16 < nEnd) load(n0 + 16, xn, an);
    uint32_t f[RV * 4];
    {
      const uint4* fp = frag + static_cast<size_t>(n0 >> 4) * RV * 32 + lane;
#pragma unroll
      for (int v = 0; v < RV; v++) {
        const uint4 w = __ldg(fp + v * 32);
        f[4 * v] = w.x;
        f[4 * v + 1] = w.y;
        f[4 * v + 2] = w.z;
        f[4 * v + 3] = w.w;
      }
    }
    if (gphi) {
      xw[g * 4 + (q ^ sw)] = xc[0];
      xw[(g + 8) * 4 + (q ^ sw)] = xc[1];
      __syncwarp();
#pragma unroll
      for (int h = 0; h < 2; h++) {
        uint32_t a0, a1, a2, a3;
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                     : "=r"(a0), "=r"(a1), "=r"(a2), "=r"(a3)
                     : "r"(ldAddr[h]));
#pragma unroll
        for (int mt = 0; mt < NTM; mt++)
#pragma unroll
          for (int part = 0; part < 2; part++) {
            const int b = GXA + (mt * 2 + part) * 2;
            mma16816<bf16>(cp[h][mt], a0, a1, a2, a3, f[b], f[b + 1]);
          }
      }
      __syncwarp();
    }
    if (gx) {
      float o[2][8];
#pragma unroll
      for (int j = 0; j < 4; j++) {
        float c[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
        for (int mc = 0; mc < MC; mc++)
#pragma unroll
          for (int part = 0; part < 2; part++) {
            const int b = (mc * 2 + part) * 4;
            mma16816<bf16>(c, f[b], f[b + 1], f[b + 2], f[b + 3], pb[j][mc][0], pb[j][mc][1]);
          }
        o[0][2 * j] = c[0];
        o[0][2 * j + 1] = c[1];
        o[1][2 * j] = c[2];
        o[1][2 * j + 1] = c[3];
      }
#pragma unroll
      for (int h = 0; h < 2; h++) {
        const int n = n0 + g + 8 * h;
        if (n < nEnd) {
          const float r = __uint_as_float(f[GXA + GPB + h]);
          float xv[8], av[8], v[8];
          unpackBf8(xc[h], xv);
          unpackBf8(ac[h], av);
#pragma unroll
          for (int e = 0; e < 8; e++) v[e] = fmaf(r, xv[e], o[h][e]) + av[e];
          *reinterpret_cast<uint4*>(gx + static_cast<size_t>(n) * K + kb + 8 * q) =
              make_uint4(packBf2(v[0], v[1]), packBf2(v[2], v[3]), packBf2(v[4], v[5]), packBf2(v[6], v[7]));
        }
      }
    }
#pragma unroll
    for (int h = 0; h < 2; h++) {
      xc[h] = xn[h];
      ac[h] = an[h];
    }
  }
  if (gphi) {
    // C fragment of grad_phi: rows k = kb + 16h + g (+8), columns m = 8mt + 2q (+1).
    float* out = gphi + static_cast<size_t>(blockIdx.y) * K * M;
#pragma unroll
    for (int h = 0; h < 2; h++)
#pragma unroll
      for (int mt = 0; mt < NTM; mt++) {
        const int m = mt * 8 + 2 * q;
        const size_t k = static_cast<size_t>(kb + h * 16 + g);
        if (m < M) {
          out[k * M + m] = cp[h][mt][0];
          out[(k + 8) * M + m] = cp[h][mt][2];
        }
        if (m + 1 < M) {
          out[k * M + m + 1] = cp[h][mt][1];
          out[(k + 8) * M + m + 1] = cp[h][mt][3];
        }
      }
  }
}

/** out[e] = sum_r part[r][e], r in order. */
__global__ void sumPartials(const float* __restrict__ part, float* __restrict__ out, int64_t n, int R) {
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float s = part[e];
    for (int r = 1; r < R; r++) s += part[static_cast<int64_t>(r) * n + e];
    out[e] = s;
  }
}

struct ColumnOuts {
  float* p[3];
};
/**
 * Column sums over rows, one block per column, fixed tree: deterministic. Blocks 0 .. W-1: column w
 * of in [N, W] into out + w (out null: skipped); blocks W .. W+2: column w of in3 [N, 3] into
 * outs.p[w] (null: skipped).
 */
__global__ void columnSums2(const float* __restrict__ in, float* __restrict__ out, int W,
                            const float* __restrict__ in3, ColumnOuts outs, int N) {
  __shared__ float red[32];
  const int b = blockIdx.x;
  const float* src = b < W ? in : in3;
  const int w = b < W ? b : b - W, ld = b < W ? W : 3;
  float* dst = b < W ? (out ? out + w : nullptr) : outs.p[w];
  if (!dst) return;
  float v[1] = {0.f};
  for (int n = threadIdx.x; n < N; n += blockDim.x) v[0] += src[static_cast<size_t>(n) * ld + w];
  blockSum<1>(v, red);
  if (threadIdx.x == 0) *dst = v[0];
}

template <typename T>
__global__ void toF32(const T* __restrict__ in, float* __restrict__ out, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = ld(in + i);
}

/** phi as f32 [K, M]: the stored buffer when it is f32 already, else a converted temporary. */
const float* phiF32(OpArgs& a, const void* phi, int phidt, int64_t n, std::unique_ptr<Temp>& tmp) {
  if (phidt == kF32) return static_cast<const float*>(phi);
  tmp = std::make_unique<Temp>(a.dev, n * sizeof(float));
  float* out = tmp->as<float>();
  dispatchFloat(phidt, [&](auto tag) {
    using T = decltype(tag);
    toF32<T><<<gridFor(a.dev, n, 256), 256, 0, a.dev.stream>>>(static_cast<const T*>(phi), out, n);
  });
  CK_LAUNCH("toF32");
  return out;
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

// bufs: x, phi, b, aPre, aPost, aRes, mix, invr, hist?, hRes, gPre?, gPost?, gRes?,
//       gradX?, gradPhi?, gradB?, gradAlphaPre?, gradAlphaPost?, gradAlphaRes?, accumulate?
// params: N, K, hc, tmax, preEps, sinkhornEps, postMult, xDtype, phiDtype, recompute
LMHC_OP(coeffs_bwd) {
  const int N = a.i32(0), K = a.i32(1), hc = a.i32(2), tmax = a.i32(3);
  const int M = hc * hc + 2 * hc, xdt = a.i32(7), phidt = a.i32(8), steps = 2 * tmax - 1;
  const bool recompute = a.i32(9) != 0;
  if (N <= 0 || K <= 0 || tmax < 1) throw ArgError("coeffs_bwd: bad sizes");
  const void* x = a.buf(0, static_cast<size_t>(N) * K * dtypeBytes(xdt));
  const void* phi = a.buf(1, static_cast<size_t>(K) * M * dtypeBytes(phidt));
  CoeffsBwdParams p{};
  p.N = N;
  p.K = K;
  p.hc = hc;
  p.M = M;
  p.tmax = tmax;
  p.preEps = a.f32(4);
  p.skEps = a.f32(5);
  p.postMult = a.f32(6);
  p.recompute = recompute;
  p.b = a.buf<float>(2, M * 4);
  p.aPre = a.buf<float>(3, 4);
  p.aPost = a.buf<float>(4, 4);
  p.aRes = a.buf<float>(5, 4);
  p.mix = a.buf<float>(6, static_cast<size_t>(N) * M * 4);
  p.invr = a.buf<float>(7, static_cast<size_t>(N) * 4);
  const size_t normsBytes = static_cast<size_t>(N) * steps * hc * 4;
  float* hist = recompute ? nullptr : a.buf<float>(8, normsBytes);
  p.hRes = a.buf<float>(9, static_cast<size_t>(N) * hc * hc * 4);
  p.gPre = a.opt<float>(10, static_cast<size_t>(N) * hc * 4);
  p.gPost = a.opt<float>(11, static_cast<size_t>(N) * hc * 4);
  p.gRes = a.opt<float>(12, static_cast<size_t>(N) * hc * hc * 4);
  void* gradX = a.opt(13, static_cast<size_t>(N) * K * dtypeBytes(xdt));
  float* gradPhi = a.opt<float>(14, static_cast<size_t>(K) * M * 4);
  float* gradB = a.opt<float>(15, M * 4);
  float* gA[3] = {a.opt<float>(16, 4), a.opt<float>(17, 4), a.opt<float>(18, 4)};
  // The running x gradient to add into gradX (MhcKernels.accumulatesGradX); read only.
  const void* gacc = gradX ? a.opt(19, static_cast<size_t>(N) * K * dtypeBytes(xdt)) : nullptr;
  cudaStream_t s = a.dev.stream;

  const int ldy = dyLd(M);
  Temp dy(a.dev, static_cast<size_t>(N) * ldy * 4), dz(a.dev, static_cast<size_t>(N) * M * 4),
      dalpha(a.dev, static_cast<size_t>(N) * 3 * 4);
  std::unique_ptr<Temp> scratch;
  if (recompute && p.gRes) scratch = std::make_unique<Temp>(a.dev, normsBytes);
  p.norms = recompute ? (scratch ? scratch->as<float>() : nullptr) : hist;
  p.dy = dy.as<float>();
  p.dz = dz.as<float>();
  p.dalpha = dalpha.as<float>();
  OpTimer timer(a.dev, "coeffs_bwd");
  // Tensor cores for the x pass: bf16 x and phi, K % 32 == 0, hc <= 4 (fragments live in registers).
  const bool xmma = !a.dev.noMma && xdt == kBF16 && phidt == kBF16 && K % 32 == 0 && hc <= 4;
  // hc = 4 with the history: 16 lanes a token.
  const size_t tok4Smem = static_cast<size_t>(kTok4PerBlock) * steps * hc * 4;
  const bool tok4 = hc == 4 && !recompute && tok4Smem <= 48 * 1024;
  // With both, the per-token kernel also writes the x pass's g fragments (no packDy launch).
  std::unique_ptr<Temp> fragHold;
  if (tok4 && xmma && (gradX || gradPhi)) {
    const int G = (N + 15) / 16;
    fragHold = std::make_unique<Temp>(a.dev, static_cast<size_t>(G) * XMma<4>::RV * 32 * sizeof(uint4));
    p.frag = fragHold->as<uint4>();
  }
  if (tok4) {
    coeffsBwdToken4<<<(N + kTok4PerBlock - 1) / kTok4PerBlock, kTok4PerBlock * 16, p.gRes ? tok4Smem : 0, s>>>(p);
  } else {
    withHc(hc, [&](auto hcTag) {
      constexpr int HC = decltype(hcTag)::value;
      coeffsBwdToken<HC><<<(N + 63) / 64, 64, 0, s>>>(p);
    });
  }
  CK_LAUNCH("coeffsBwdToken");
  timer.mark("token");

  if (gradB || gA[0] || gA[1] || gA[2]) {
    // One launch: blocks 0 .. M-1 sum the columns of dz into gradB (when wanted), blocks M .. M+2
    // the columns of dalpha straight into the three scalars (no copies).
    columnSums2<<<M + 3, 1024, 0, s>>>(p.dz, gradB, M, p.dalpha, ColumnOuts{{gA[0], gA[1], gA[2]}}, N);
    CK_LAUNCH("columnSums");
  }
  timer.mark("gradB+alphas");
  if (!gradX && !gradPhi) return;

  if (xmma) {
    withHc(hc, [&](auto hcTag) {
      constexpr int HC = decltype(hcTag)::value;
      if constexpr (HC <= 4) {
        using D = XMma<HC>;
        const int G = (N + 15) / 16;
        std::unique_ptr<Temp> fragOwn;
        const uint4* fragP = p.frag;
        if (!fragP) {
          fragOwn = std::make_unique<Temp>(a.dev, static_cast<size_t>(G) * D::RV * 32 * sizeof(uint4));
          packDy<HC><<<(G * 32 + 255) / 256, 256, 0, s>>>(p.dy, fragOwn->as<uint4>(), N, G);
          CK_LAUNCH("packDy");
          timer.mark("pack dy");
          fragP = fragOwn->as<uint4>();
        }
        const int threads = kXMmaWarps * 32;
        const int chunks = (K / 32 + kXMmaWarps - 1) / kXMmaWarps;
        int perSm = 0;
        CK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&perSm, coeffsBwdXMma<HC>, threads, 0));
        // One full wave of blocks; each token range costs one K x M partial of grad_phi.
        int R = std::max(1, perSm * a.dev.sms / chunks);
        R = std::max(1, std::min(R, G));
        const int tokPer = (G + R - 1) / R * 16;
        R = (N + tokPer - 1) / tokPer;
        std::unique_ptr<Temp> part;
        float* gp = gradPhi;
        if (gradPhi && R > 1) {
          part = std::make_unique<Temp>(a.dev, static_cast<size_t>(R) * K * M * 4);
          gp = part->as<float>();
        }
        coeffsBwdXMma<HC><<<dim3(chunks, R), threads, 0, s>>>(
            static_cast<const bf16*>(x), static_cast<const bf16*>(phi), fragP,
            gradX ? static_cast<const bf16*>(gacc) : nullptr, static_cast<bf16*>(gradX), gp, N, K, tokPer);
        CK_LAUNCH("coeffsBwdXMma");
        timer.mark("x pass (mma)");
        if (gradPhi && R > 1) {
          const int64_t n = static_cast<int64_t>(K) * M;
          sumPartials<<<gridFor(a.dev, n, 256), 256, 0, s>>>(gp, gradPhi, n, R);
          CK_LAUNCH("sumPartials");
          timer.mark("grad_phi sum");
        }
      }
    });
    return;
  }

  std::unique_ptr<Temp> tmp;
  const float* phi32 = phiF32(a, phi, phidt, static_cast<int64_t>(K) * M, tmp);
  withHc(hc, [&](auto hcTag) {
    constexpr int HC = decltype(hcTag)::value;
    constexpr int MM = HC * HC + 2 * HC;
    constexpr int LDY = dyLd(MM);
    auto launch = [&](auto kptTag) {
      constexpr int KPT = decltype(kptTag)::value;
      const int threads = 256;
      const int chunks = (K / KPT + threads - 1) / threads;
      // One full wave: as many token ranges as resident blocks allow; each range costs one K x M
      // partial of grad_phi, summed afterwards in range order.
      int perSm = 0;
      CK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&perSm, coeffsBwdX<bf16, MM, KPT, LDY>, threads, 0));
      int R = std::max(1, perSm * a.dev.sms / chunks);
      R = std::max(1, std::min(R, (N + 63) / 64));
      int tokPer = (N + R - 1) / R;
      R = (N + tokPer - 1) / tokPer;
      std::unique_ptr<Temp> part;
      float* gp = gradPhi;
      if (gradPhi && R > 1) {
        part = std::make_unique<Temp>(a.dev, static_cast<size_t>(R) * K * MM * 4);
        gp = part->as<float>();
      }
      dim3 grid(chunks, R);
      dispatchFloat(xdt, [&](auto tag) {
        using T = decltype(tag);
        coeffsBwdX<T, MM, KPT, LDY><<<grid, threads, 0, s>>>(static_cast<const T*>(x), phi32, p.dy,
                                                              static_cast<const T*>(gacc),
                                                              static_cast<T*>(gradX), gp, N, K, tokPer);
      });
      CK_LAUNCH("coeffsBwdX");
      timer.mark("x pass");
      if (gradPhi && R > 1) {
        const int64_t n = static_cast<int64_t>(K) * MM;
        sumPartials<<<gridFor(a.dev, n, 256), 256, 0, s>>>(gp, gradPhi, n, R);
        CK_LAUNCH("sumPartials");
        timer.mark("grad_phi sum");
      }
    };
    if constexpr (MM <= 24) {
      if (K % 2 == 0) launch(std::integral_constant<int, 2>{});
      else launch(std::integral_constant<int, 1>{});
    } else {
      launch(std::integral_constant<int, 1>{});
    }
  });
}

}  // namespace lmhc
