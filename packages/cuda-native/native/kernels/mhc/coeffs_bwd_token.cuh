// The coeffs backward's per-token kernels (Sinkhorn backward, sigmoid backward, the g rows the
// x pass reads), kept beside coeffs_bwd.cu, the one file that includes it.
#pragma once

#include "coeffs_common.cuh"

namespace lmhc {
namespace {

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

}  // namespace
}  // namespace lmhc
