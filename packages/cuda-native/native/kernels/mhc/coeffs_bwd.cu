// coeffs backward (the forward is in coeffs_fwd.cu). Counterpart of the reference backend's
// cpu/mhc coeffs kernel.
//
// Backward: a per-token kernel (Sinkhorn backward from the saved divisors or recomputed, sigmoid
// backward; 16 lanes a token for hc = 4 with the saved divisors) produces g = d mix * invr and the
// rms factor; one pass over x then writes grad_x and per-range partials of grad_phi, which a second
// kernel sums in a fixed order (no atomics).
#include "coeffs_bwd_token.cuh"
#include "coeffs_common.cuh"

namespace lmhc {
namespace {

/** Ask L2 for the line holding p (no register is tied up waiting for it). */
__device__ __forceinline__ void prefetchL2(const void* p) { asm volatile("prefetch.global.L2 [%0];" ::"l"(p)); }

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

}  // namespace

// bufs: x, phi, b, aPre, aPost, aRes, mix, invr, hist?, hRes, gPre?, gPost?, gRes?,
//       gradX?, gradPhi?, gradB?, gradAlphaPre?, gradAlphaPost?, gradAlphaRes?, accumulate?
// params: CoeffsBwdLaunch
LMHC_OP(coeffs_bwd) {
  const auto lp = CoeffsBwdLaunch::read(a);
  const int N = lp.tokens, K = lp.k, hc = lp.hc, tmax = lp.tmax;
  const int M = hc * hc + 2 * hc, xdt = lp.xDtype, phidt = lp.phiDtype, steps = 2 * tmax - 1;
  const bool recompute = lp.recompute;
  if (N <= 0 || K <= 0 || tmax < 1) throw ArgError("coeffs_bwd: bad sizes");
  const void* x = a.buf(0, static_cast<size_t>(N) * K * dtypeBytes(xdt));
  const void* phi = a.buf(1, static_cast<size_t>(K) * M * dtypeBytes(phidt));
  CoeffsBwdParams p{};
  p.N = N;
  p.K = K;
  p.hc = hc;
  p.M = M;
  p.tmax = tmax;
  p.preEps = lp.preEps;
  p.skEps = lp.sinkhornEps;
  p.postMult = lp.postMult;
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
