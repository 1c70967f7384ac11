import type { TensorInfo } from '../../backend/contract.js';
import type {
  CoeffsBackwardArgs,
  CoeffsBackwardResult,
  CoeffsForwardArgs,
  CoeffsForwardResult,
  MhcKernels,
  Orientation,
  PostResBackwardResult,
  PreBackwardResult,
} from '../../backend/mhc-kernels.js';
import type { CpuBackend } from '../cpu-backend.js';
import { coeffsBackward, coeffsForward } from './coeffs.js';
import { postResBackward, postResForward } from './post_res.js';
import { preBackward, preForward } from './pre.js';

/**
 * The CPU reference of the fused mHC kernels: the oracle the GPU backends are tested against, and the
 * default backend without a GPU. Math in f64, storage in each tensor's dtype. One file per kernel,
 * named as in the WGSL and CUDA folders (coeffs, sinkhorn, pre, post_res).
 */
export class CpuMhcKernels implements MhcKernels {
  constructor(readonly cpu: CpuBackend) {}

  coeffsForward(args: CoeffsForwardArgs): CoeffsForwardResult {
    return coeffsForward(this.cpu, args);
  }

  coeffsBackward(args: CoeffsBackwardArgs): CoeffsBackwardResult {
    return coeffsBackward(this.cpu, args);
  }

  preForward(x: TensorInfo, hPre: TensorInfo): TensorInfo {
    return preForward(this.cpu, x, hPre);
  }

  preBackward(gradXIn: TensorInfo, x: TensorInfo, hPre: TensorInfo): PreBackwardResult {
    return preBackward(this.cpu, gradXIn, x, hPre);
  }

  postResForward(
    x: TensorInfo,
    f: TensorInfo,
    hPost: TensorInfo,
    hRes: TensorInfo,
    orientation: Orientation,
  ): TensorInfo {
    return postResForward(this.cpu, x, f, hPost, hRes, orientation);
  }

  postResBackward(
    gradXOut: TensorInfo,
    x: TensorInfo,
    f: TensorInfo,
    hPost: TensorInfo,
    hRes: TensorInfo,
    orientation: Orientation,
  ): PostResBackwardResult {
    return postResBackward(this.cpu, gradXOut, x, f, hPost, hRes, orientation);
  }
}
