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
import { encode } from '../../dtype.js';
import { ShapeError } from '../../errors.js';
import { sizeOf } from '../../tensor/shape.js';
import type { CpuBackend } from '../cpu-backend.js';
import { cpuData, readFloats } from '../cpu-handle.js';
import { coeffsBackward, coeffsForward } from './coeffs.js';
import { postResBackward, postResForward } from './post_res.js';
import { preBackward, preForward } from './pre.js';

/**
 * The CPU reference of the fused mHC kernels: the oracle the GPU backends are tested against, and the
 * default backend without a GPU. Math in f64, storage in each tensor's dtype. One file per kernel,
 * named as in the WGSL and CUDA folders (coeffs, sinkhorn, pre, post_res).
 */
export class CpuMhcKernels implements MhcKernels {
  /**
   * The CPU folds the running x gradient in after the kernel (one extra loop, no extra buffer):
   * bitwise the same as core adding the pieces, and it keeps core's accumulation path tested here.
   */
  readonly accumulatesGradX = true;

  constructor(readonly cpu: CpuBackend) {}

  coeffsForward(args: CoeffsForwardArgs): CoeffsForwardResult {
    return coeffsForward(this.cpu, args);
  }

  coeffsBackward(args: CoeffsBackwardArgs): CoeffsBackwardResult {
    const r = coeffsBackward(this.cpu, args);
    if (r.gradX && args.accumulateGradX) addInto(r.gradX, args.accumulateGradX);
    return r;
  }

  preForward(x: TensorInfo, hPre: TensorInfo): TensorInfo {
    return preForward(this.cpu, x, hPre);
  }

  preBackward(
    gradXIn: TensorInfo,
    x: TensorInfo,
    hPre: TensorInfo,
    accumulate?: TensorInfo | null,
  ): PreBackwardResult {
    const r = preBackward(this.cpu, gradXIn, x, hPre);
    if (accumulate) addInto(r.gradX, accumulate);
    return r;
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
    accumulate?: TensorInfo | null,
  ): PostResBackwardResult {
    const r = postResBackward(this.cpu, gradXOut, x, f, hPost, hRes, orientation);
    if (accumulate) addInto(r.gradX, accumulate);
    return r;
  }
}

/** dst += src elementwise, in dst's storage dtype (both freshly made or owned by the caller). */
function addInto(dst: TensorInfo, src: TensorInfo): void {
  const d = cpuData(dst);
  if (sizeOf(src.shape) !== d.length) throw new ShapeError('accumulate', `${d.length} elements`, src.shape);
  if (dst.dtype === 'f32' && src.dtype === 'f32') {
    const a = d as Float32Array;
    const b = cpuData(src) as Float32Array;
    for (let i = 0; i < a.length; i++) a[i] = a[i]! + b[i]!;
    return;
  }
  const sum = readFloats(dst);
  const add = readFloats(src);
  const out = Float64Array.from(sum);
  for (let i = 0; i < out.length; i++) out[i] = out[i]! + add[i]!;
  encode(dst.dtype, out, d);
}
