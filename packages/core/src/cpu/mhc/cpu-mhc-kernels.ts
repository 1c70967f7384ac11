import type { TensorInfo } from '../../backend/contract.js';
import type {
  CoeffsBackwardArgs,
  CoeffsBackwardResult,
  CoeffsForwardArgs,
  CoeffsForwardResult,
  MhcKernels,
  Orientation,
  PostResBackwardResult,
  PostResCoeffsPreBackwardArgs,
  PostResCoeffsPreBackwardResult,
  PostResCoeffsPreForwardArgs,
  PostResCoeffsPreForwardResult,
  PreBackwardResult,
} from '../../backend/mhc-kernels.js';
import type {
  HeadBackwardArgs,
  HeadBackwardResult,
  HeadForwardArgs,
  HeadForwardResult,
  PhiLayout,
  PreNormBackwardResult,
  PreNormForwardResult,
} from '../../backend/mhc-v4-kernels.js';
import { type DType, encode } from '../../dtype.js';
import { ShapeError } from '../../errors.js';
import { sizeOf } from '../../tensor/shape.js';
import type { CpuBackend } from '../cpu-backend.js';
import { cpuData, readFloats } from '../cpu-handle.js';
import { coeffsBackward } from './coeffs_bwd.js';
import { coeffsForward } from './coeffs_fwd.js';
import { expandBackward, expandForward } from './expand.js';
import { headBackward, headForward } from './head.js';
import { phiToLayout, phiToLiger } from './phi_layout.js';
import { postResBackward, postResForward } from './post_res.js';
import { postResCoeffsPreBackward, postResCoeffsPreForward } from './post_res_coeffs_pre.js';
import { preBackward, preForward } from './pre.js';
import { preNormBackward, preNormForward } from './pre_norm.js';

/**
 * The CPU reference of the fused mHC kernels: the oracle the GPU backends are tested against, and the
 * default backend without a GPU. Math in f64, storage in each tensor's dtype. One file per kernel,
 * named as in the WGSL and CUDA folders (coeffs, sinkhorn, pre, post_res).
 */
export class CpuMhcKernels implements MhcKernels {
  /**
   * The CPU folds the running x gradient in as pre / post_res write gradX (f32), or in one loop
   * after the kernel: bitwise the same as core adding the pieces, and it keeps core's accumulation
   * path tested here.
   */
  readonly accumulatesGradX = true;

  /** post_res reads f at its own dtype (storage.ts widens every dtype to f32). */
  readonly mixedPostResDTypes = true;

  /** The CPU repacks φ for its loops anyway, so V4's [M, K] layout costs no extra pass. */
  readonly phiLayouts: readonly PhiLayout[] = ['liger', 'deepseek'];

  /** The cross-layer boundary as one op: the reference of the GPU kernels (post_res_coeffs_pre.ts). */
  readonly crossLayer = true;

  constructor(readonly cpu: CpuBackend) {}

  postResCoeffsPreForward(args: PostResCoeffsPreForwardArgs): PostResCoeffsPreForwardResult {
    this.cpu.check(args);
    return postResCoeffsPreForward(this.cpu, this, args);
  }

  postResCoeffsPreBackward(args: PostResCoeffsPreBackwardArgs): PostResCoeffsPreBackwardResult {
    this.cpu.check(args);
    return postResCoeffsPreBackward(this.cpu, this, args);
  }

  coeffsForward(args: CoeffsForwardArgs): CoeffsForwardResult {
    this.cpu.check(args);
    const phi = phiToLiger(this.cpu, args.phi, args.phiLayout, args.config.hc);
    try {
      return coeffsForward(this.cpu, { ...args, phi });
    } finally {
      if (phi !== args.phi) this.cpu.disposeData(phi.handle);
    }
  }

  coeffsBackward(args: CoeffsBackwardArgs): CoeffsBackwardResult {
    this.cpu.check(args);
    const phi = phiToLiger(this.cpu, args.phi, args.phiLayout, args.config.hc);
    let r: CoeffsBackwardResult;
    const fused = fusedAccumulate(args.x, args.accumulateGradX);
    try {
      r = coeffsBackward(this.cpu, { ...args, phi }, fused);
    } finally {
      if (phi !== args.phi) this.cpu.disposeData(phi.handle);
    }
    if (r.gradPhi && args.phiLayout === 'deepseek') {
      const t = phiToLayout(this.cpu, r.gradPhi);
      this.cpu.disposeData(r.gradPhi.handle);
      r = { ...r, gradPhi: t };
    }
    if (r.gradX && args.accumulateGradX && !fused) addInto(r.gradX, args.accumulateGradX);
    return r;
  }

  headForward(args: HeadForwardArgs): HeadForwardResult {
    this.cpu.check(args);
    return headForward(this.cpu, args);
  }

  headBackward(args: HeadBackwardArgs): HeadBackwardResult {
    this.cpu.check(args);
    return headBackward(this.cpu, args);
  }

  expandForward(x: TensorInfo, hc: number): TensorInfo {
    this.cpu.check({ x });
    return expandForward(this.cpu, x, hc);
  }

  expandBackward(grad: TensorInfo, dtype: DType): TensorInfo {
    this.cpu.check({ grad });
    return expandBackward(this.cpu, grad, dtype);
  }

  preNormForward(x: TensorInfo, hPre: TensorInfo, weight: TensorInfo, eps: number): PreNormForwardResult {
    this.cpu.check({ x, hPre, weight });
    return preNormForward(this.cpu, x, hPre, weight, eps);
  }

  preNormBackward(
    gradY: TensorInfo,
    x: TensorInfo,
    hPre: TensorInfo,
    weight: TensorInfo,
    rstd: TensorInfo,
    eps: number,
  ): PreNormBackwardResult {
    this.cpu.check({ gradY, x, hPre, weight, rstd });
    return preNormBackward(this.cpu, gradY, x, hPre, weight, rstd, eps);
  }

  preForward(x: TensorInfo, hPre: TensorInfo): TensorInfo {
    this.cpu.check({ x, hPre });
    return preForward(this.cpu, x, hPre);
  }

  preBackward(
    gradXIn: TensorInfo,
    x: TensorInfo,
    hPre: TensorInfo,
    accumulate?: TensorInfo | null,
  ): PreBackwardResult {
    this.cpu.check({ gradXIn, x, hPre, accumulate });
    const fused = fusedAccumulate(x, accumulate);
    const r = preBackward(this.cpu, gradXIn, x, hPre, fused);
    if (accumulate && !fused) addInto(r.gradX, accumulate);
    return r;
  }

  postResForward(
    x: TensorInfo,
    f: TensorInfo,
    hPost: TensorInfo,
    hRes: TensorInfo,
    orientation: Orientation,
  ): TensorInfo {
    this.cpu.check({ x, f, hPost, hRes });
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
    this.cpu.check({ gradXOut, x, f, hPost, hRes, accumulate });
    const fused = fusedAccumulate(x, accumulate);
    const r = postResBackward(this.cpu, gradXOut, x, f, hPost, hRes, orientation, fused);
    if (accumulate && !fused) addInto(r.gradX, accumulate);
    return r;
  }
}

/**
 * The running gradient as f32 values for a kernel to add while it writes gradX (an f32 gradX of x's
 * size), or null when addInto must add it afterwards. Either way each element is gradX + acc in f64
 * rounded once to f32, so the bits are the same.
 */
function fusedAccumulate(x: TensorInfo, acc: TensorInfo | null | undefined): Float32Array | null {
  if (!acc || x.dtype !== 'f32' || acc.dtype !== 'f32') return null;
  const n = sizeOf(x.shape);
  if (sizeOf(acc.shape) !== n) throw new ShapeError('accumulate', `${n} elements`, acc.shape);
  return cpuData(acc) as Float32Array;
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
