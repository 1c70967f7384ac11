import type { TensorInfo } from './contract.js';
// Types only from mhc-kernels.ts (which re-exports this file): a type-level cycle, no runtime one.
import type { CoeffsConfig, Orientation, SinkhornSaveMode } from './mhc-kernels.js';
import type { PhiLayout } from './mhc-v4-kernels.js';

/**
 * The cross-layer boundary between two consecutive mHC sublayers l and l+1 of a stack:
 *
 *   xOut = post_res(x, f, hPost, hRes)               (sublayer l's exit, x [N, hc, c] its streams)
 *   hPre', hPost', hRes' = coeffs(xOut; φ, b, α)     (sublayer l+1's coefficients)
 *   xIn' = pre(xOut, hPre')                          (sublayer l+1's layer input)
 *
 * Run per layer, that reads the streams three times (post_res, coeffs, pre) and writes them once:
 * (3n+2)·C elements per token. Fused, one pass reads x and f, keeps the new streams of a token on
 * chip while the projection, the RMS and Sinkhorn run, writes xOut once and xIn' from the on-chip
 * copy: (2n+2)·C. The backward mirrors it: one pass per token does pre's, coeffs' and post_res's
 * backward in that order (the order the separate ops' autograd nodes would run in).
 *
 * Shapes: N tokens, hc streams, c channels, K = hc·c, M = hc² + 2hc. Dtype rules are those of the
 * separate kernels: xOut and xIn' in x's dtype, f and its gradient in f's dtype (where the backend
 * declares mixedPostResDTypes, else core casts f to x's dtype first), coefficients and parameter
 * gradients f32.
 */

export interface PostResCoeffsPreForwardArgs {
  /** Sublayer l: streams [N, hc, c], layer output f [N, c], hPost [N, hc] f32, hRes [N, hc, hc] f32. */
  x: TensorInfo;
  f: TensorInfo;
  hPost: TensorInfo;
  hRes: TensorInfo;
  orientation: Orientation;
  /** Sublayer l+1's coefficient parameters, as CoeffsForwardArgs. */
  phi: TensorInfo;
  phiLayout?: PhiLayout;
  b: TensorInfo;
  alphaPre: TensorInfo;
  alphaPost: TensorInfo;
  alphaRes: TensorInfo;
  config: CoeffsConfig;
  save: SinkhornSaveMode | 'none';
}

export interface PostResCoeffsPreForwardResult {
  /** [N, hc, c] in x's dtype: the new streams. */
  xOut: TensorInfo;
  /** Sublayer l+1's coefficients: [N, hc], [N, hc], [N, hc, hc] f32. */
  hPre: TensorInfo;
  hPost: TensorInfo;
  hRes: TensorInfo;
  /** [N, c] in x's dtype: pre(xOut, hPre). */
  xIn: TensorInfo;
  /** Backend-private tensors for the backward; core owns them and disposes them after it. */
  saved: TensorInfo[];
}

export interface PostResCoeffsPreBackwardArgs {
  /** Upstream gradients, null where an output does not reach the loss. */
  gradXOut: TensorInfo | null;
  gradXIn: TensorInfo | null;
  gradHPre: TensorInfo | null;
  gradHPost: TensorInfo | null;
  gradHRes: TensorInfo | null;
  /** The forward's inputs and outputs (xOut is the streams coeffs and pre read). */
  x: TensorInfo;
  f: TensorInfo;
  hPostIn: TensorInfo;
  hResIn: TensorInfo;
  orientation: Orientation;
  xOut: TensorInfo;
  phi: TensorInfo;
  phiLayout?: PhiLayout;
  b: TensorInfo;
  alphaPre: TensorInfo;
  alphaPost: TensorInfo;
  alphaRes: TensorInfo;
  hPre: TensorInfo;
  hPost: TensorInfo;
  hRes: TensorInfo;
  saved: TensorInfo[];
  config: CoeffsConfig;
  save: SinkhornSaveMode;
  /** Which input gradients are wanted; the others come back null. */
  needs: {
    x: boolean;
    f: boolean;
    hPostIn: boolean;
    hResIn: boolean;
    phi: boolean;
    b: boolean;
    alphas: boolean;
  };
  /** As CoeffsBackwardArgs.accumulateGradX, for x (only where the backend accumulatesGradX). */
  accumulateGradX?: TensorInfo | null;
}

export interface PostResCoeffsPreBackwardResult {
  /** [N, hc, c] x's dtype */
  gradX: TensorInfo | null;
  /** [N, c] f's dtype */
  gradF: TensorInfo | null;
  /** [N, hc], [N, hc, hc] f32 */
  gradHPostIn: TensorInfo | null;
  gradHResIn: TensorInfo | null;
  /** φ's layout, f32, reduced over tokens deterministically */
  gradPhi: TensorInfo | null;
  gradB: TensorInfo | null;
  gradAlphaPre: TensorInfo | null;
  gradAlphaPost: TensorInfo | null;
  gradAlphaRes: TensorInfo | null;
}

export interface MhcCrossLayerKernels {
  /**
   * Capability flag: the backend implements postResCoeffsPreForward/Backward below. Without it core
   * runs the boundary as the separate post_res, coeffs and pre ops (ops/mhc-cross-layer.ts decides,
   * in one place). A backend sets it only where both methods exist.
   */
  readonly crossLayer?: boolean;
  postResCoeffsPreForward?(args: PostResCoeffsPreForwardArgs): PostResCoeffsPreForwardResult;
  postResCoeffsPreBackward?(args: PostResCoeffsPreBackwardArgs): PostResCoeffsPreBackwardResult;
}
