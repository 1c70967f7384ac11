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
  ShapeError,
  sizeOf,
  type TensorInfo,
} from '@liger-mhc/core';
import type { CudaBackend } from '../cuda-backend.js';
import { NO_CROSS_LAYER, NO_FUSED_PRE } from '../flags.js';
import { DTYPE_CODE } from '../native.js';
import { expectDType, expectFloat, expectSameDType, expectScalar, expectShape } from '../validate.js';
import { coeffsLaunchConfig } from './coeffs-launch-config.js';
import * as crossLayer from './cuda-cross-layer.js';
import * as v4 from './cuda-v4-kernels.js';

/** The CUDA kernels support hc up to 8 (per-token matrices live in registers). */
export const MAX_HC = 8;

/**
 * Sizes the fused coeffs + pre forward takes (coeffsPreSupported in native/kernels/mhc/coeffs_pre.cu):
 * hc = 4, x and phi both bf16 or both f16 (tensor cores), c in {256, 512, 1024, 2048, 4096} (a
 * cluster of up to 8 blocks owns a token tile, each block 256 or 512 channels).
 */
export function fusedPreSupported(hc: number, c: number, xDtype: DType, phiDtype: DType): boolean {
  return (
    hc === 4 &&
    (xDtype === 'bf16' || xDtype === 'f16') &&
    phiDtype === xDtype &&
    [256, 512, 1024, 2048, 4096].includes(c)
  );
}

/**
 * The fused mHC kernels (native/kernels/mhc/*.cu). Saved tensors of coeffs: [mix [N, M] f32,
 * invr [N] f32] and, in 'history' mode, the Sinkhorn divisors [N, 2*tmax-1, hc] f32.
 */
export class CudaMhcKernels implements MhcKernels {
  /**
   * The backward kernels add the running x gradient (`accumulate`) into the gradX they write, in f32,
   * rounded once; `accumulate` is only read.
   */
  readonly accumulatesGradX = true;

  /**
   * Whether coeffsPreForward may run the fused kernel: only on the 'cluster' kernel
   * path (chooseKernelPath; the fused kernel is built on thread-block clusters).
   * LIGER_MHC_CUDA_NO_FUSED_PRE=1 turns it off (the benchmark and tests compare both paths), and so
   * does the device's NO_MMA mode (it is a tensor-core kernel).
   */
  private fusedPre: boolean;

  /**
   * The boundary between consecutive mHC sublayers as one kernel (post_res_coeffs_pre.cu), read by
   * core's mhcPostResCoeffsPre; LIGER_MHC_CUDA_NO_CROSS_LAYER=1 turns it off (core then runs the
   * separate kernels).
   */
  readonly crossLayer: boolean;

  constructor(private readonly be: CudaBackend) {
    this.fusedPre = be.info.kernelPath === 'cluster' && be.info.mma && !NO_FUSED_PRE.get();
    this.crossLayer = !NO_CROSS_LAYER.get();
  }

  postResCoeffsPreForward(args: PostResCoeffsPreForwardArgs): PostResCoeffsPreForwardResult {
    return crossLayer.postResCoeffsPreForward(this.be, args);
  }
  postResCoeffsPreBackward(args: PostResCoeffsPreBackwardArgs): PostResCoeffsPreBackwardResult {
    return crossLayer.postResCoeffsPreBackward(this.be, this, args);
  }

  // DeepSeek-V4's kernels (cuda-v4-kernels.ts; native/kernels/mhc/head.cu, expand.cu, pre_norm.cu).
  headForward(args: HeadForwardArgs): HeadForwardResult {
    return v4.headForward(this.be, args);
  }
  headBackward(args: HeadBackwardArgs): HeadBackwardResult {
    return v4.headBackward(this.be, args);
  }
  expandForward(x: TensorInfo, hc: number): TensorInfo {
    return v4.expandForward(this.be, x, hc);
  }
  expandBackward(grad: TensorInfo, dtype: DType): TensorInfo {
    return v4.expandBackward(this.be, grad, dtype);
  }
  preNormForward(x: TensorInfo, hPre: TensorInfo, weight: TensorInfo, eps: number): PreNormForwardResult {
    return v4.preNormForward(this.be, x, hPre, weight, eps);
  }
  preNormBackward(
    gradY: TensorInfo,
    x: TensorInfo,
    hPre: TensorInfo,
    weight: TensorInfo,
    rstd: TensorInfo,
    eps: number,
  ): PreNormBackwardResult {
    return v4.preNormBackward(this.be, gradY, x, hPre, weight, rstd, eps);
  }

  coeffsForward(args: CoeffsForwardArgs): CoeffsForwardResult {
    return this.coeffs(args, false);
  }

  /** The fused coeffs + pre kernel takes these arguments (fusedPreSupported, on the cluster path). */
  supportsCoeffsPre(args: CoeffsForwardArgs): boolean {
    const { x, phi, config } = args;
    const hc = config.hc;
    if (!this.fusedPre || x.shape.length !== 2 || !Number.isInteger(hc) || hc < 1) return false;
    const k = x.shape[1]!;
    return k % hc === 0 && fusedPreSupported(hc, k / hc, x.dtype, phi.dtype);
  }

  coeffsPreForward(args: CoeffsForwardArgs): CoeffsPreForwardResult {
    if (!this.supportsCoeffsPre(args))
      throw new ArgumentError(
        'x',
        'hc = 4, x and phi both bf16 or both f16, c in {256, ..., 4096}, on the cluster kernel path (see supportsCoeffsPre)',
      );
    const r = this.coeffs(args, true);
    if (r.xIn) return r as CoeffsPreForwardResult;
    // No thread-block cluster of the needed size fits this device: the two kernels, from now on.
    const [n, k] = args.x.shape as [number, number];
    const hc = args.config.hc;
    return { ...r, xIn: this.preForward({ ...args.x, shape: [n, hc, k / hc] }, r.hPre) };
  }

  /** coeffsForward, and with `pre` (where supportsCoeffsPre) xIn from the same kernel. */
  private coeffs(args: CoeffsForwardArgs, pre: boolean): CoeffsForwardResult & { xIn?: TensorInfo } {
    const { x, phi, b, alphaPre, alphaPost, alphaRes, config, save } = args;
    const { hc, tmax } = config;
    const { n, k, m } = this.coeffsDims(x, phi, b, hc, tmax);
    expectScalar(alphaPre, 'alphaPre');
    expectScalar(alphaPost, 'alphaPost');
    expectScalar(alphaRes, 'alphaRes');
    for (const [nm, t] of [
      ['alphaPre', alphaPre],
      ['alphaPost', alphaPost],
      ['alphaRes', alphaRes],
    ] as const)
      expectDType(t, nm, 'f32');
    const be = this.be;
    const bufs = [x, phi, b, alphaPre, alphaPost, alphaRes].map((t, i) =>
      be.buf(t, ['x', 'phi', 'b', 'alphaPre', 'alphaPost', 'alphaRes'][i]!),
    );
    const hPre = be.output([n, hc], 'f32');
    const hPost = be.output([n, hc], 'f32');
    const hRes = be.output([n, hc, hc], 'f32');
    const saved: TensorInfo[] = [];
    if (save !== 'none') {
      saved.push(be.output([n, m], 'f32'), be.output([n], 'f32'));
      if (save === 'history') saved.push(be.output([n, 2 * tmax - 1, hc], 'f32'));
    }
    const opt = (i: number) => (saved[i] ? be.buf(saved[i]!, 'saved') : null);
    const outs = [be.buf(hPre, 'hPre'), be.buf(hPost, 'hPost'), be.buf(hRes, 'hRes'), opt(0), opt(1), opt(2)];
    const params = {
      ...coeffsLaunchConfig(config),
      tokens: n,
      k,
      xDtype: DTYPE_CODE[x.dtype],
      phiDtype: DTYPE_CODE[phi.dtype],
    };
    const c = k / hc;
    if (pre) {
      // coeffs and pre in one pass over x (native/kernels/mhc/coeffs_pre.cu).
      const xIn = be.output([n, c], x.dtype);
      try {
        be.launch('coeffs_pre_fwd', [...bufs, ...outs, be.buf(xIn, 'xIn')], params);
        return { hPre, hPost, hRes, saved, xIn };
      } catch (e) {
        be.disposeData(xIn.handle);
        // A device where no thread-block cluster of the needed size fits (e.g. a small MIG slice):
        // use the separate kernels from now on. Anything else is a real error.
        if (!(e instanceof Error) || !/no thread-block cluster/.test(e.message)) {
          for (const t of [hPre, hPost, hRes, ...saved]) be.disposeData(t.handle);
          throw e;
        }
        this.fusedPre = false;
      }
    }
    be.launch('coeffs_fwd', [...bufs, ...outs], params);
    return { hPre, hPost, hRes, saved };
  }

  coeffsBackward(args: CoeffsBackwardArgs): CoeffsBackwardResult {
    const { x, phi, b, config, save, saved, needs } = args;
    const { hc, tmax } = config;
    const { n, k, m } = this.coeffsDims(x, phi, b, hc, tmax);
    const want = save === 'history' ? 3 : 2;
    if (saved.length !== want)
      throw new ArgumentError(
        'saved',
        `expected ${want} tensors saved by the CUDA coeffsForward in '${save}' mode`,
      );
    expectShape(saved[0]!, 'saved[0] (mix)', [n, m]);
    expectShape(saved[1]!, 'saved[1] (invr)', [n]);
    if (save === 'history') expectShape(saved[2]!, 'saved[2] (Sinkhorn history)', [n, 2 * tmax - 1, hc]);
    const g = (t: TensorInfo | null, name: string, shape: number[]) => {
      if (!t) return null;
      expectDType(t, name, 'f32');
      if (sizeOf(t.shape) !== sizeOf(shape)) throw new ShapeError(name, `[${shape.join(', ')}]`, t.shape);
      return this.be.buf(t, name);
    };
    const gPre = g(args.gradHPre, 'gradHPre', [n, hc]);
    const gPost = g(args.gradHPost, 'gradHPost', [n, hc]);
    const gRes = g(args.gradHRes, 'gradHRes', [n, hc, hc]);
    if (sizeOf(args.hRes.shape) !== n * hc * hc)
      throw new ShapeError('hRes', `[${n}, ${hc}, ${hc}]`, args.hRes.shape);
    const be = this.be;
    const acc = needs.x ? this.accumulateBuf(args.accumulateGradX, x, 'accumulateGradX') : null;
    const gradX = needs.x ? be.output(x.shape, x.dtype) : null;
    const gradPhi = needs.phi ? be.output([k, m], 'f32') : null;
    const gradB = needs.b ? be.output([m], 'f32') : null;
    const ga = needs.alphas
      ? [be.output([], 'f32'), be.output([], 'f32'), be.output([], 'f32')]
      : [null, null, null];
    const ob = (t: TensorInfo | null) => (t ? be.buf(t, 'output') : null);
    be.launch(
      'coeffs_bwd',
      [
        be.buf(x, 'x'),
        be.buf(phi, 'phi'),
        be.buf(b, 'b'),
        be.buf(args.alphaPre, 'alphaPre'),
        be.buf(args.alphaPost, 'alphaPost'),
        be.buf(args.alphaRes, 'alphaRes'),
        be.buf(saved[0]!, 'saved[0]'),
        be.buf(saved[1]!, 'saved[1]'),
        save === 'history' ? be.buf(saved[2]!, 'saved[2]') : null,
        be.buf(args.hRes, 'hRes'),
        gPre,
        gPost,
        gRes,
        ob(gradX),
        ob(gradPhi),
        ob(gradB),
        ob(ga[0]!),
        ob(ga[1]!),
        ob(ga[2]!),
        acc,
      ],
      {
        tokens: n,
        k,
        hc,
        tmax,
        preEps: config.preEps,
        sinkhornEps: config.sinkhornEps,
        postMult: config.postMult,
        xDtype: DTYPE_CODE[x.dtype],
        phiDtype: DTYPE_CODE[phi.dtype],
        recompute: save === 'recompute',
      },
    );
    return { gradX, gradPhi, gradB, gradAlphaPre: ga[0]!, gradAlphaPost: ga[1]!, gradAlphaRes: ga[2]! };
  }

  preForward(x: TensorInfo, hPre: TensorInfo): TensorInfo {
    const { n, hc, c } = this.streamDims(x, 'x');
    expectFloat(x, 'x');
    this.coefShape(hPre, 'hPre', n, [hc]);
    const out = this.be.output([...x.shape.slice(0, -2), c], x.dtype);
    this.be.launch('pre_fwd', [this.be.buf(x, 'x'), this.be.buf(hPre, 'hPre'), this.be.buf(out, 'out')], {
      tokens: n,
      hc,
      c,
      dtype: DTYPE_CODE[x.dtype],
    });
    return out;
  }

  preBackward(
    gradXIn: TensorInfo,
    x: TensorInfo,
    hPre: TensorInfo,
    accumulate?: TensorInfo | null,
  ): PreBackwardResult {
    const { n, hc, c } = this.streamDims(x, 'x');
    expectFloat(x, 'x');
    expectSameDType(x, 'x', gradXIn, 'gradXIn');
    if (sizeOf(gradXIn.shape) !== n * c) throw new ShapeError('gradXIn', `[${n}, ${c}]`, gradXIn.shape);
    this.coefShape(hPre, 'hPre', n, [hc]);
    const acc = this.accumulateBuf(accumulate, x, 'accumulate');
    const gradX = this.be.output(x.shape, x.dtype);
    const gradHPre = this.be.output(hPre.shape, 'f32');
    this.be.launch(
      'pre_bwd',
      [
        this.be.buf(gradXIn, 'gradXIn'),
        this.be.buf(x, 'x'),
        this.be.buf(hPre, 'hPre'),
        this.be.buf(gradX, 'gradX'),
        this.be.buf(gradHPre, 'gradHPre'),
        acc,
      ],
      { tokens: n, hc, c, dtype: DTYPE_CODE[x.dtype] },
    );
    return { gradX, gradHPre };
  }

  postResForward(
    x: TensorInfo,
    f: TensorInfo,
    hPost: TensorInfo,
    hRes: TensorInfo,
    orientation: Orientation,
  ): TensorInfo {
    const { n, hc, c } = this.postResChecks(x, f, hPost, hRes, orientation);
    const out = this.be.output(x.shape, x.dtype);
    const be = this.be;
    be.launch(
      'post_res_fwd',
      [be.buf(x, 'x'), be.buf(f, 'f'), be.buf(hPost, 'hPost'), be.buf(hRes, 'hRes'), be.buf(out, 'out')],
      { tokens: n, hc, c, dtype: DTYPE_CODE[x.dtype], deepseek: orientation === 'deepseek' },
    );
    return out;
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
    const { n, hc, c } = this.postResChecks(x, f, hPost, hRes, orientation);
    expectSameDType(x, 'x', gradXOut, 'gradXOut');
    if (sizeOf(gradXOut.shape) !== n * hc * c)
      throw new ShapeError('gradXOut', `[${n}, ${hc}, ${c}]`, gradXOut.shape);
    const acc = this.accumulateBuf(accumulate, x, 'accumulate');
    const be = this.be;
    const gradX = be.output(x.shape, x.dtype);
    const gradF = be.output(f.shape, f.dtype);
    const gradHPost = be.output(hPost.shape, 'f32');
    const gradHRes = be.output(hRes.shape, 'f32');
    be.launch(
      'post_res_bwd',
      [
        be.buf(gradXOut, 'gradXOut'),
        be.buf(x, 'x'),
        be.buf(f, 'f'),
        be.buf(hPost, 'hPost'),
        be.buf(hRes, 'hRes'),
        be.buf(gradX, 'gradX'),
        be.buf(gradF, 'gradF'),
        be.buf(gradHPost, 'gradHPost'),
        be.buf(gradHRes, 'gradHRes'),
        acc,
      ],
      { tokens: n, hc, c, dtype: DTYPE_CODE[x.dtype], deepseek: orientation === 'deepseek' },
    );
    return { gradX, gradF, gradHPost, gradHRes };
  }

  // ---- checks -------------------------------------------------------------------------------------

  /** The native buffer of an x-shaped running gradient (x's dtype and element count), or null. */
  private accumulateBuf(t: TensorInfo | null | undefined, x: TensorInfo, name: string) {
    if (!t) return null;
    expectSameDType(x, 'x', t, name);
    if (sizeOf(t.shape) !== sizeOf(x.shape)) throw new ShapeError(name, `[${x.shape.join(', ')}]`, t.shape);
    return this.be.buf(t, name);
  }

  private coeffsDims(x: TensorInfo, phi: TensorInfo, b: TensorInfo, hc: number, tmax: number) {
    if (!Number.isInteger(hc) || hc < 1 || hc > MAX_HC)
      throw new ArgumentError(
        'config.hc',
        `expected an integer in 1..${MAX_HC} on the CUDA backend, got ${hc}`,
      );
    if (!Number.isInteger(tmax) || tmax < 1)
      throw new ArgumentError('config.tmax', `expected an integer >= 1, got ${tmax}`);
    expectFloat(x, 'x');
    expectFloat(phi, 'phi');
    expectDType(b, 'b', 'f32');
    const m = hc * hc + 2 * hc;
    if (phi.shape.length !== 2 || phi.shape[1] !== m) throw new ShapeError('phi', `[K, ${m}]`, phi.shape);
    const k = phi.shape[0]!;
    if (k % hc !== 0) throw new ShapeError('phi', `[K, ${m}] with K a multiple of hc = ${hc}`, phi.shape);
    if (x.shape.length < 1 || x.shape.length > 3 || sizeOf(x.shape.slice(1)) !== k)
      throw new ShapeError('x', `[N, ${k}]`, x.shape);
    const n = x.shape[0]!;
    if (n < 1) throw new ShapeError('x', '[N, K] with N >= 1', x.shape);
    expectShape(b, 'b', [m]);
    return { n, k, m };
  }

  private streamDims(x: TensorInfo, name: string) {
    if (x.shape.length < 3) throw new ShapeError(name, '[N, hc, c]', x.shape);
    const hc = x.shape[x.shape.length - 2]!;
    const c = x.shape[x.shape.length - 1]!;
    const n = sizeOf(x.shape.slice(0, -2));
    if (hc < 1 || hc > MAX_HC)
      throw new ShapeError(name, `[N, hc, c] with hc in 1..${MAX_HC} on the CUDA backend`, x.shape);
    if (n < 1 || c < 1) throw new ShapeError(name, '[N, hc, c] with N, c >= 1', x.shape);
    return { n, hc, c };
  }

  private coefShape(t: TensorInfo, name: string, n: number, inner: number[]) {
    expectDType(t, name, 'f32');
    if (sizeOf(t.shape) !== n * sizeOf(inner))
      throw new ShapeError(name, `[${n}, ${inner.join(', ')}]`, t.shape);
  }

  private postResChecks(
    x: TensorInfo,
    f: TensorInfo,
    hPost: TensorInfo,
    hRes: TensorInfo,
    orientation: Orientation,
  ) {
    if (orientation !== 'liger' && orientation !== 'deepseek')
      throw new ArgumentError('orientation', `expected 'liger' or 'deepseek', got ${String(orientation)}`);
    const { n, hc, c } = this.streamDims(x, 'x');
    expectFloat(x, 'x');
    expectSameDType(x, 'x', f, 'f');
    if (sizeOf(f.shape) !== n * c) throw new ShapeError('f', `[${n}, ${c}]`, f.shape);
    this.coefShape(hPost, 'hPost', n, [hc]);
    this.coefShape(hRes, 'hRes', n, [hc, hc]);
    return { n, hc, c };
  }
}
