import type { TensorInfo } from './contract.js';
import type { MhcCrossLayerKernels } from './mhc-cross-layer-kernels.js';
import type { MhcV4Kernels, PhiLayout } from './mhc-v4-kernels.js';

export * from './mhc-cross-layer-kernels.js';
export * from './mhc-v4-kernels.js';

/**
 * The fused mHC kernels, forward and backward. Shapes use N = tokens, hc = streams, c = channels,
 * K = hc*c, M = hc*hc + 2*hc. Activations (x, xIn, xOut and their gradients) keep x's dtype, f and
 * its gradient keep f's (Liger lets the layer output differ from the streams, e.g. f32 over bf16);
 * coefficients (hPre, hPost, hRes), their gradients, gradB, the alpha gradients and gradPhi are f32.
 */
export type Orientation = 'liger' | 'deepseek';

/** 'history' saves Sinkhorn normalisers for the backward; 'recompute' saves none and redoes them. */
export type SinkhornSaveMode = 'history' | 'recompute';

export interface CoeffsConfig {
  hc: number;
  tmax: number;
  rmsEps: number;
  preEps: number;
  sinkhornEps: number;
  postMult: number;
}

export interface CoeffsForwardArgs {
  /** [N, K] (the caller views x [..., hc, c] as [N, K]). */
  x: TensorInfo;
  /** [K, M], or [M, K] with phiLayout 'deepseek' (only where the backend lists it in phiLayouts) */
  phi: TensorInfo;
  /** Default 'liger'. */
  phiLayout?: PhiLayout;
  /** [M], f32 */
  b: TensorInfo;
  /** each [] (one element), f32 */
  alphaPre: TensorInfo;
  alphaPost: TensorInfo;
  alphaRes: TensorInfo;
  config: CoeffsConfig;
  /** What to keep for the backward; 'none' when no gradient is needed (saves nothing). */
  save: SinkhornSaveMode | 'none';
}

export interface CoeffsForwardResult {
  /** [N, hc] f32 */
  hPre: TensorInfo;
  /** [N, hc] f32 */
  hPost: TensorInfo;
  /** [N, hc, hc] f32, row-major (out, in) */
  hRes: TensorInfo;
  /**
   * Backend-private tensors the backward needs (layout is the backend's own business). Core owns
   * them from here: it passes them back to `coeffsBackward` and disposes them afterwards.
   */
  saved: TensorInfo[];
}

/** coeffsForward's result plus the pre step of the same x with this call's hPre. */
export interface CoeffsPreForwardResult extends CoeffsForwardResult {
  /**
   * [N, c] in x's dtype: what `preForward(x viewed [N, hc, c], hPre)` gives for this call's hPre,
   * bit for bit. Core owns it from here.
   */
  xIn: TensorInfo;
}

export interface CoeffsBackwardArgs {
  /** Upstream gradients; null for an output that does not feed the loss. */
  gradHPre: TensorInfo | null;
  gradHPost: TensorInfo | null;
  gradHRes: TensorInfo | null;
  x: TensorInfo;
  phi: TensorInfo;
  /** As in the forward; gradPhi comes back in this layout. */
  phiLayout?: PhiLayout;
  b: TensorInfo;
  alphaPre: TensorInfo;
  alphaPost: TensorInfo;
  alphaRes: TensorInfo;
  /** The forward's outputs. */
  hPre: TensorInfo;
  hPost: TensorInfo;
  hRes: TensorInfo;
  saved: TensorInfo[];
  config: CoeffsConfig;
  save: SinkhornSaveMode;
  /** Which gradients are wanted (the others are returned as null and need not be computed). */
  needs: { x: boolean; phi: boolean; b: boolean; alphas: boolean };
  /**
   * Only when the backend declares `accumulatesGradX`: an x gradient [N, K] (x's dtype) from other
   * consumers of x, to be added into gradX in the same pass (see MhcKernels.accumulatesGradX).
   */
  accumulateGradX?: TensorInfo | null;
}

export interface CoeffsBackwardResult {
  /** [N, K] in x's dtype */
  gradX: TensorInfo | null;
  /** [K, M] f32 ([M, K] with phiLayout 'deepseek'), reduced over tokens deterministically */
  gradPhi: TensorInfo | null;
  /** [M] f32 */
  gradB: TensorInfo | null;
  /** each [] f32 */
  gradAlphaPre: TensorInfo | null;
  gradAlphaPost: TensorInfo | null;
  gradAlphaRes: TensorInfo | null;
}

export interface PreBackwardResult {
  /** [N, hc, c] in x's dtype */
  gradX: TensorInfo;
  /** [N, hc] f32 */
  gradHPre: TensorInfo;
}

export interface PostResBackwardResult {
  /** [N, hc, c] in x's dtype */
  gradX: TensorInfo;
  /** [N, c] in f's dtype */
  gradF: TensorInfo;
  /** [N, hc] f32 */
  gradHPost: TensorInfo;
  /** [N, hc, hc] f32 */
  gradHRes: TensorInfo;
}

export interface MhcKernels extends MhcV4Kernels, MhcCrossLayerKernels {
  /**
   * x feeds three mHC ops (coeffs, pre, post_res), so its gradient is a sum of three x-sized
   * tensors. A backend that sets this folds the running sum into the gradX it writes: the backward
   * kernels get `accumulate` (an x-shaped gradient in x's dtype, or null) and return
   * gradX = computed + accumulate, summed in f32 and rounded once. That saves two full passes over
   * x-sized memory per layer, which on a GPU is a large share of the whole backward. The kernel must
   * not write into `accumulate` (core disposes it afterwards). Without the flag core adds the pieces
   * with `ops.binary('add', ...)`.
   */
  readonly accumulatesGradX?: boolean;
  /**
   * post_res takes f in a dtype other than x's (Liger's rule: the layer may return f32 over bf16
   * streams; f is read at its own precision). Without it core casts f to x's dtype first.
   */
  readonly mixedPostResDTypes?: boolean;
  /** The coefficients of x [N, K]. */
  coeffsForward(args: CoeffsForwardArgs): CoeffsForwardResult;
  /**
   * Optional fused kernel: coeffsForward and then preForward(x, hPre) in one pass over x (one full
   * read of x less per layer forward). Core calls it only where `supportsCoeffsPre(args)` is true,
   * and records the same autograd nodes as for the two kernels, so gradients are unaffected (the
   * backward is coeffsBackward and preBackward). Its outputs must equal the two kernels' bit for
   * bit except hPre/hPost/hRes/saved, which may differ by f32 summation order.
   */
  coeffsPreForward?(args: CoeffsForwardArgs): CoeffsPreForwardResult;
  /**
   * Whether coeffsPreForward takes these arguments (a backend may fuse only some shapes or dtypes).
   * Required with coeffsPreForward.
   */
  supportsCoeffsPre?(args: CoeffsForwardArgs): boolean;
  coeffsBackward(args: CoeffsBackwardArgs): CoeffsBackwardResult;
  /** xIn[n, :] = Σ_s hPre[n, s] · x[n, s, :]. x [N, hc, c], hPre [N, hc] -> [N, c] */
  preForward(x: TensorInfo, hPre: TensorInfo): TensorInfo;
  preBackward(
    gradXIn: TensorInfo,
    x: TensorInfo,
    hPre: TensorInfo,
    accumulate?: TensorInfo | null,
  ): PreBackwardResult;
  /**
   * xOut[n, o, :] = Σ_i R[o, i] · x[n, i, :] + hPost[n, o] · f[n, :], with R = hRes[n] ('liger')
   * or its transpose ('deepseek').
   */
  postResForward(
    x: TensorInfo,
    f: TensorInfo,
    hPost: TensorInfo,
    hRes: TensorInfo,
    orientation: Orientation,
  ): TensorInfo;
  postResBackward(
    gradXOut: TensorInfo,
    x: TensorInfo,
    f: TensorInfo,
    hPost: TensorInfo,
    hRes: TensorInfo,
    orientation: Orientation,
    accumulate?: TensorInfo | null,
  ): PostResBackwardResult;
}
