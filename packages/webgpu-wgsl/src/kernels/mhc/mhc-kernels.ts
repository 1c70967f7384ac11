import {
  ArgumentError,
  type CoeffsBackwardArgs,
  type CoeffsBackwardResult,
  type CoeffsForwardArgs,
  type CoeffsForwardResult,
  type CoeffsPreForwardResult,
  type DType,
  type HeadBackwardArgs,
  type HeadBackwardResult,
  type HeadForwardArgs,
  type HeadForwardResult,
  type MhcKernels,
  type Orientation,
  type PostResBackwardResult,
  type PostResCoeffsPreBackwardArgs,
  type PostResCoeffsPreBackwardResult,
  type PostResCoeffsPreForwardArgs,
  type PostResCoeffsPreForwardResult,
  type PreBackwardResult,
  type PreNormBackwardResult,
  type PreNormForwardResult,
  type TensorInfo,
} from '@liger-mhc/core';
import type { WebGpuBackend } from '../../backend.js';
import { NO_CROSS_LAYER } from '../../flags.js';
import * as coeffs from './coeffs.js';
import type { SplitOptions } from './coeffs-split.wgsl.js';
import * as crossLayer from './cross-layer.js';
import { kernelOverrides } from './overrides.js';
import * as postRes from './post_res.js';
import * as pre from './pre.js';
import * as v4 from './v4-kernels.js';

/**
 * The WebGPU backend's mHC kernel set: each kernel's host code (argument checks, outputs, the WGSL
 * it encodes) lives beside its WGSL, in pre.ts, post_res.ts, coeffs.ts and v4-kernels.ts. Every
 * argument is checked before anything is allocated or encoded, so a bad call leaves no half-written
 * output.
 */
export class WebGpuMhcKernels implements MhcKernels {
  constructor(private readonly b: WebGpuBackend) {}

  /** post_res kernels are specialised per buffer dtype, so f may differ from x. */
  readonly mixedPostResDTypes = true;

  /** The cross-layer boundary (cross-layer.ts), unless LIGER_MHC_WEBGPU_NO_CROSS_LAYER is set. */
  readonly crossLayer = !NO_CROSS_LAYER.get();
  postResCoeffsPreForward(args: PostResCoeffsPreForwardArgs): PostResCoeffsPreForwardResult {
    return crossLayer.postResCoeffsPreForward(this.b, this, args);
  }
  postResCoeffsPreBackward(args: PostResCoeffsPreBackwardArgs): PostResCoeffsPreBackwardResult {
    return crossLayer.postResCoeffsPreBackward(this.b, this, args);
  }

  // DeepSeek-V4's kernels (v4-kernels.ts).
  headForward(args: HeadForwardArgs): HeadForwardResult {
    return v4.headForward(this.b, args);
  }
  headBackward(args: HeadBackwardArgs): HeadBackwardResult {
    return v4.headBackward(this.b, args);
  }
  expandForward(x: TensorInfo, hc: number): TensorInfo {
    return v4.expandForward(this.b, x, hc);
  }
  expandBackward(grad: TensorInfo, dtype: DType): TensorInfo {
    return v4.expandBackward(this.b, grad, dtype);
  }
  preNormForward(x: TensorInfo, hPre: TensorInfo, weight: TensorInfo, eps: number): PreNormForwardResult {
    return v4.preNormForward(this.b, x, hPre, weight, eps);
  }
  preNormBackward(
    gradY: TensorInfo,
    x: TensorInfo,
    hPre: TensorInfo,
    weight: TensorInfo,
    rstd: TensorInfo,
    eps: number,
  ): PreNormBackwardResult {
    return v4.preNormBackward(this.b, gradY, x, hPre, weight, rstd, eps);
  }

  /**
   * The split kernel's options for a call of N tokens and K = hc·c (see coeffs.ts splitOptions);
   * tests pin other valid sets through the package's internals (kernelOverrides).
   */
  splitOptions(N: number, K: number): SplitOptions {
    return coeffs.splitOptions(this.b, kernelOverrides(this).split ?? {}, N, K);
  }

  preForward(x: TensorInfo, hPre: TensorInfo): TensorInfo {
    return pre.preForward(this.b, x, hPre);
  }

  preBackward(gradXIn: TensorInfo, x: TensorInfo, hPre: TensorInfo): PreBackwardResult {
    return pre.preBackward(this.b, gradXIn, x, hPre);
  }

  postResForward(
    x: TensorInfo,
    f: TensorInfo,
    hPost: TensorInfo,
    hRes: TensorInfo,
    orientation: Orientation,
  ): TensorInfo {
    return postRes.postResForward(
      this.b,
      kernelOverrides(this).postRes ?? {},
      x,
      f,
      hPost,
      hRes,
      orientation,
    );
  }

  postResBackward(
    gradXOut: TensorInfo,
    x: TensorInfo,
    f: TensorInfo,
    hPost: TensorInfo,
    hRes: TensorInfo,
    orientation: Orientation,
  ): PostResBackwardResult {
    return postRes.postResBackward(this.b, gradXOut, x, f, hPost, hRes, orientation);
  }

  coeffsForward(args: CoeffsForwardArgs): CoeffsForwardResult {
    return coeffs.coeffsForward(this.b, kernelOverrides(this).split ?? {}, args, false);
  }

  /**
   * The split path computes pre in its per-token dispatch when x is half with c a multiple of 8 and
   * the device allows 9 storage bindings (WebGPU's default is 8).
   */
  supportsCoeffsPre(args: CoeffsForwardArgs): boolean {
    return coeffs.supportsCoeffsPre(this.b, args);
  }

  coeffsPreForward(args: CoeffsForwardArgs): CoeffsPreForwardResult {
    if (!this.supportsCoeffsPre(args))
      throw new ArgumentError(
        'x',
        'half x with c a multiple of 8 on the split coeffs path and 9 storage bindings (see supportsCoeffsPre)',
      );
    return coeffs.coeffsForward(
      this.b,
      kernelOverrides(this).split ?? {},
      args,
      true,
    ) as CoeffsPreForwardResult;
  }

  coeffsBackward(args: CoeffsBackwardArgs): CoeffsBackwardResult {
    return coeffs.coeffsBackward(this.b, args);
  }
}
