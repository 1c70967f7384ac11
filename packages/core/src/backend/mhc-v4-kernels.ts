import type { TensorInfo } from './contract.js';

/**
 * The kernels DeepSeek-V4's hyper-connections need beyond the three fused mHC kernels: the head
 * (the last layer's streams reduced to one hidden state), expand (the embedding repeated into the
 * streams) and pre with the layer's weighted RMSNorm fused in. Shapes: N tokens, hc streams, c
 * channels, K = hc·c. Activations keep their dtype; weights, their gradients and every reduction are
 * f32.
 */

/**
 * How φ is stored. 'liger': [K, M] (Liger's `phi`, x·φ); 'deepseek': [M, K] (DeepSeek-V4's
 * `hc_attn_fn` / `hc_ffn_fn`, applied as F.linear(x, fn) = x·fnᵀ). The gradient of φ comes back in
 * φ's own layout.
 */
export type PhiLayout = 'liger' | 'deepseek';

export interface HeadConfig {
  hc: number;
  /** eps of the RMS over the K = hc·c inputs of the projection (V4's norm_eps). */
  rmsEps: number;
  /** Added after the sigmoid (V4's hc_eps). */
  eps: number;
}

export interface HeadForwardArgs {
  /** [N, hc, c] */
  x: TensorInfo;
  /** [hc, K] (V4's hc_head_fn: row s is the projection of stream weight s) */
  phi: TensorInfo;
  /** [hc] f32 (hc_head_base) */
  base: TensorInfo;
  /** one element, f32 (hc_head_scale) */
  scale: TensorInfo;
  config: HeadConfig;
  /** Whether the backward will run (a backend then returns what it needs in `saved`). */
  save: boolean;
}

export interface HeadForwardResult {
  /** [N, c] in x's dtype: y = Σ_s w[s]·x[s] */
  y: TensorInfo;
  /** [N, hc] f32: w = σ(mix·scale + base) + eps */
  weights: TensorInfo;
  /** Backend-private; core passes them to headBackward and disposes them afterwards. */
  saved: TensorInfo[];
}

export interface HeadBackwardArgs {
  /** [N, c] */
  gradY: TensorInfo;
  x: TensorInfo;
  phi: TensorInfo;
  base: TensorInfo;
  scale: TensorInfo;
  /** The forward's weights [N, hc]. */
  weights: TensorInfo;
  saved: TensorInfo[];
  config: HeadConfig;
  needs: { x: boolean; phi: boolean; base: boolean; scale: boolean };
}

export interface HeadBackwardResult {
  /** [N, hc, c] in x's dtype */
  gradX: TensorInfo | null;
  /** [hc, K] f32, reduced over tokens in a fixed order */
  gradPhi: TensorInfo | null;
  /** [hc] f32 */
  gradBase: TensorInfo | null;
  /** [] f32 */
  gradScale: TensorInfo | null;
}

export interface PreNormForwardResult {
  /** [N, c] in x's dtype: rmsnorm(Σ_s hPre[s]·x[s])·weight, the sum kept in f32 (not rounded). */
  y: TensorInfo;
  /** [N] f32: 1/sqrt(mean(s²) + eps) of each token's pre sum s. */
  rstd: TensorInfo;
}

export interface PreNormBackwardResult {
  /** [N, hc, c] in x's dtype */
  gradX: TensorInfo;
  /** [N, hc] f32 */
  gradHPre: TensorInfo;
  /** [c] f32, reduced over tokens in a fixed order */
  gradWeight: TensorInfo;
}

/**
 * Optional members of MhcKernels (mhc-kernels.ts): a backend without one gets a BackendError naming
 * the kernel when an op needs it.
 */
export interface MhcV4Kernels {
  /**
   * φ layouts coeffsForward / coeffsBackward take directly. A backend that lists only 'liger' (or
   * nothing) gets a deepseek-layout φ transposed by core (one [M, K] copy per call, small next to x).
   */
  readonly phiLayouts?: readonly PhiLayout[];
  headForward?(args: HeadForwardArgs): HeadForwardResult;
  headBackward?(args: HeadBackwardArgs): HeadBackwardResult;
  /** [N, c] -> [N, hc, c]: every stream a copy of x. */
  expandForward?(x: TensorInfo, hc: number): TensorInfo;
  /** [N, hc, c] -> [N, c]: the sum over streams (f32 accumulation), in `dtype`. */
  expandBackward?(grad: TensorInfo, dtype: TensorInfo['dtype']): TensorInfo;
  /** x [N, hc, c], hPre [N, hc] f32, weight [c] (any float dtype). */
  preNormForward?(x: TensorInfo, hPre: TensorInfo, weight: TensorInfo, eps: number): PreNormForwardResult;
  preNormBackward?(
    gradY: TensorInfo,
    x: TensorInfo,
    hPre: TensorInfo,
    weight: TensorInfo,
    /** The forward's rstd. */
    rstd: TensorInfo,
    /** The forward's eps (a backend may recompute rstd from it). */
    eps: number,
  ): PreNormBackwardResult;
}
