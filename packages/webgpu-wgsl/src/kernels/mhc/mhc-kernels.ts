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
import type { KernelDef, ParamWriter, WebGpuBackend } from '../../backend.js';
import { NO_CROSS_LAYER } from '../../flags.js';
import {
  COMPACT_M,
  coeffsBackwardPhiReduceKernel,
  coeffsBackwardReduceKernel,
  coeffsBackwardTokenKernel,
  coeffsBackwardXCompactKernel,
  coeffsBackwardXKernel,
  coeffsForwardCompactKernel,
  coeffsForwardKernel,
  coeffsShape,
} from './coeffs.wgsl.js';
import {
  coeffsForwardSplitKernel,
  coeffsPhiPackKernel,
  coeffsSplit,
  coeffsSplitBlocker,
  coeffsSplitReduceKernel,
  SPLIT_KG16_K,
  SPLIT_PRE_PIECES,
  SPLIT_REDUCE_WG,
  SPLIT_SMALL_N,
  type SplitOptions,
  splitMainParams,
} from './coeffs-split.wgsl.js';
import { pairOutDtype, ROW_UNIT_WG, wide } from './common.js';
import * as crossLayer from './cross-layer.js';
import { kernelOverrides } from './overrides.js';
import {
  postResBackwardKernel,
  postResForwardKernel,
  postResForwardWideKernel,
  postResWideOptions,
} from './post_res.wgsl.js';
import { preBackwardKernel, preForwardKernel, preForwardWideKernel } from './pre.wgsl.js';
import * as v4 from './v4-kernels.js';

/**
 * Host side of the fused mHC kernels: checks shapes, allocates outputs, encodes the WGSL kernels of
 * pre.wgsl.ts, post_res.wgsl.ts and coeffs.wgsl.ts (+ sinkhorn.wgsl.ts). Every argument is checked
 * before anything is allocated or encoded, so a bad call leaves no half-written output.
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
   * The split kernel's options for a call of N tokens and K = hc·c (production choices, each the
   * faster of the measured alternatives at the shapes it covers):
   *  - 4 tokens a thread below SPLIT_SMALL_N tokens: with 8, small calls leave too few tiles to
   *    fill the GPU;
   *  - with 8 tokens, from K = SPLIT_KG16_K, 16 threads per token along K, no Σx² split and no
   *    touch loads; below it, 8 threads, the Σx² split between column groups and touch loads one
   *    step ahead (each set won at its shapes and lost at the other's);
   *  - the KG threads' partial sums added with subgroup shuffles where the device allows it (no
   *    barriers), else through workgroup memory;
   *  - tiles from the last token down (with 8 tokens): the op before a layer's coeffs (post_res of
   *    the previous layer, ascending) leaves its last tokens in L2.
   * Tests pin other valid sets through the package's internals (kernelOverrides).
   */
  splitOptions(N: number, K: number): SplitOptions {
    const pinned = kernelOverrides(this).split ?? {};
    const tokens = pinned.tokens ?? (N < SPLIT_SMALL_N ? 4 : 8);
    const base: SplitOptions =
      tokens !== 8
        ? {}
        : K >= SPLIT_KG16_K
          ? { kg: 16, ssSplit: false, prefetch: 0, tileOrder: 'desc' }
          : { kg: 8, ssSplit: true, prefetch: 1, tileOrder: 'desc' };
    const o: SplitOptions = { ...base, ...pinned, tokens };
    // The shuffle reduction where the device's subgroups allow it (see WebGpuBackend.subgroupLanes).
    // Its butterfly runs over a token's KG threads inside one subgroup, so on narrower subgroups
    // (lavapipe with 128-bit vectors has 4 lanes) even a requested 'subgroup' takes the workgroup
    // reduction: its shuffles would otherwise read lanes outside the subgroup (undefined values).
    const lanes = this.b.subgroupLanes;
    const fits = lanes > 0 && lanes >= (o.kg ?? 8);
    if (o.reduce === 'subgroup' && !fits) return { ...o, reduce: 'workgroup' };
    return { reduce: fits ? 'subgroup' : 'workgroup', ...o };
  }

  /** An output written two elements per thread: f32 scratch when halves would straddle words. */
  private pairOutput(shape: readonly number[], dtype: TensorInfo['dtype'], rowLen: number) {
    const od = pairOutDtype(dtype, rowLen);
    const t = this.b.output(shape, od);
    return {
      t,
      od,
      /** The final tensor in `dtype` (casts and frees the scratch when one was used). */
      finish: (): TensorInfo => {
        if (od === dtype) return t;
        const r = this.b.ops.cast(t, dtype);
        this.b.disposeData(t.handle);
        return r;
      },
    };
  }

  /**
   * A row-wise forward (pre, post_res): one thread per (token, unit), `per` units (pairs or 16-byte
   * pieces) a row of c elements. Params: 0 N, 1 c, 2 per, 3 N·per.
   */
  private rowwise(def: KernelDef, tensors: TensorInfo[], N: number, c: number, per: number): void {
    this.b.dispatch(
      def,
      tensors,
      (p) =>
        p
          .u32(0, N)
          .u32(1, c)
          .u32(2, per)
          .u32(3, N * per),
      Math.ceil((N * per) / ROW_UNIT_WG),
    );
  }

  private dims3(x: TensorInfo, name: string) {
    if (x.shape.length !== 3) throw new ShapeError(name, '[N, hc, c]', x.shape);
    const [N, hc, c] = x.shape as [number, number, number];
    return { N, hc, c };
  }

  /** Element count check: callers may hand in views with leading dims folded or not. */
  private expect(t: TensorInfo, name: string, shape: readonly number[]): void {
    if (sizeOf(t.shape) !== sizeOf(shape)) throw new ShapeError(name, `[${shape.join(', ')}]`, t.shape);
  }

  preForward(x: TensorInfo, hPre: TensorInfo): TensorInfo {
    this.b.check({ x, hPre });
    const { N, hc, c } = this.dims3(x, 'x');
    this.expect(hPre, 'hPre', [N, hc]);
    const out = this.pairOutput([N, c], x.dtype, c);
    // 16-byte pieces (8 halves a thread) where every tensor allows them, else pairs.
    const w = wide(c, x.dtype, out.od);
    this.rowwise(
      w
        ? preForwardWideKernel(hc, x.dtype, hPre.dtype, out.od)
        : preForwardKernel(hc, x.dtype, hPre.dtype, out.od, c),
      [x, hPre, out.t],
      N,
      c,
      w ? c / 8 : Math.ceil(c / 2),
    );
    return out.finish();
  }

  preBackward(gradXIn: TensorInfo, x: TensorInfo, hPre: TensorInfo): PreBackwardResult {
    this.b.check({ gradXIn, x, hPre });
    const { N, hc, c } = this.dims3(x, 'x');
    this.expect(hPre, 'hPre', [N, hc]);
    this.expect(gradXIn, 'gradXIn', [N, c]);
    const gx = this.pairOutput([N, hc, c], x.dtype, c);
    const gh = this.b.output([N, hc], 'f32');
    this.b.dispatch(
      preBackwardKernel(hc, gradXIn.dtype, x.dtype, hPre.dtype, gx.od, c),
      [gradXIn, x, hPre, gx.t, gh],
      (p) =>
        p
          .u32(0, N)
          .u32(1, c)
          .u32(2, Math.ceil(c / 2)),
      N,
    );
    return { gradX: gx.finish(), gradHPre: gh };
  }

  postResForward(
    x: TensorInfo,
    f: TensorInfo,
    hPost: TensorInfo,
    hRes: TensorInfo,
    orientation: Orientation,
  ): TensorInfo {
    this.b.check({ x, f, hPost, hRes });
    const { N, hc, c } = this.dims3(x, 'x');
    this.expect(f, 'f', [N, c]);
    this.expect(hPost, 'hPost', [N, hc]);
    this.expect(hRes, 'hRes', [N, hc, hc]);
    this.orientation(orientation);
    if (hPost.dtype !== hRes.dtype) throw new ArgumentError('hRes', 'hPost and hRes must share a dtype');
    const out = this.pairOutput([N, hc, c], x.dtype, c);
    const w = wide(c, x.dtype, f.dtype, out.od);
    if (w) {
      const o = postResWideOptions(c, kernelOverrides(this).postRes ?? {});
      const per = c / 8 / (o.pieces ?? 1);
      this.b.dispatch(
        postResForwardWideKernel(hc, orientation, x.dtype, f.dtype, hPost.dtype, out.od, o),
        [x, f, hPost, hRes, out.t],
        (p) =>
          p
            .u32(0, N)
            .u32(1, c)
            .u32(2, per)
            .u32(3, N * per)
            .u32(4, c / 8),
        Math.ceil((N * per) / ROW_UNIT_WG),
      );
    } else
      this.rowwise(
        postResForwardKernel(hc, orientation, x.dtype, f.dtype, hPost.dtype, out.od, c),
        [x, f, hPost, hRes, out.t],
        N,
        c,
        Math.ceil(c / 2),
      );
    return out.finish();
  }

  postResBackward(
    gradXOut: TensorInfo,
    x: TensorInfo,
    f: TensorInfo,
    hPost: TensorInfo,
    hRes: TensorInfo,
    orientation: Orientation,
  ): PostResBackwardResult {
    this.b.check({ gradXOut, x, f, hPost, hRes });
    const { N, hc, c } = this.dims3(x, 'x');
    this.expect(gradXOut, 'gradXOut', [N, hc, c]);
    this.expect(f, 'f', [N, c]);
    this.expect(hPost, 'hPost', [N, hc]);
    this.expect(hRes, 'hRes', [N, hc, hc]);
    this.orientation(orientation);
    if (hPost.dtype !== hRes.dtype) throw new ArgumentError('hRes', 'hPost and hRes must share a dtype');
    const gx = this.pairOutput([N, hc, c], x.dtype, c);
    const gf = this.pairOutput([N, c], f.dtype, c);
    const gh = this.b.output([N * (hc + hc * hc)], 'f32');
    this.b.dispatch(
      postResBackwardKernel(hc, orientation, gradXOut.dtype, x.dtype, f.dtype, hPost.dtype, gx.od, gf.od, c),
      [gradXOut, x, f, hPost, hRes, gx.t, gf.t, gh],
      (p) =>
        p
          .u32(0, N)
          .u32(1, c)
          .u32(2, Math.ceil(c / 2)),
      N,
    );
    const gradHPost = this.b.output([N, hc], 'f32');
    const gradHRes = this.b.output([N, hc, hc], 'f32');
    const ghBuf = this.b.buf(gh, 'gh');
    this.b.copy(ghBuf, 0, this.b.buf(gradHPost, 'gradHPost'), 0, N * hc * 4);
    this.b.copy(ghBuf, N * hc * 4, this.b.buf(gradHRes, 'gradHRes'), 0, N * hc * hc * 4);
    this.b.disposeData(gh.handle);
    return { gradX: gx.finish(), gradF: gf.finish(), gradHPost, gradHRes };
  }

  private orientation(o: Orientation): void {
    if (o !== 'liger' && o !== 'deepseek')
      throw new ArgumentError('orientation', `expected 'liger' or 'deepseek', got '${String(o)}'`);
  }

  /** b and the three alphas in one f32 [M+3] buffer (the kernels' `coef`). */
  private coef(
    args: { b: TensorInfo; alphaPre: TensorInfo; alphaPost: TensorInfo; alphaRes: TensorInfo },
    M: number,
  ) {
    this.coefDtypes(args);
    const coef = this.b.output([M + 3], 'f32');
    const dst = this.b.buf(coef, 'coef');
    this.b.copy(this.b.buf(args.b, 'b'), 0, dst, 0, M * 4);
    this.b.copy(this.b.buf(args.alphaPre, 'alphaPre'), 0, dst, M * 4, 4);
    this.b.copy(this.b.buf(args.alphaPost, 'alphaPost'), 0, dst, (M + 1) * 4, 4);
    this.b.copy(this.b.buf(args.alphaRes, 'alphaRes'), 0, dst, (M + 2) * 4, 4);
    return coef;
  }

  private coefDtypes(args: Record<string, TensorInfo>): void {
    for (const [name, t] of Object.entries(args))
      if (t.dtype !== 'f32') throw new ArgumentError(name, `expected dtype f32, got ${t.dtype}`);
  }

  private coeffsDims(x: TensorInfo, phi: TensorInfo, b: TensorInfo, hc: number) {
    if (x.shape.length !== 2) throw new ShapeError('x', '[N, K]', x.shape);
    const [N, K] = x.shape as [number, number];
    if (!Number.isInteger(hc) || hc < 1)
      throw new ArgumentError('config.hc', `expected a positive integer, got ${hc}`);
    const { M } = coeffsShape(hc);
    if (K % hc !== 0) throw new ShapeError('x', `[N, K] with K a multiple of hc=${hc}`, x.shape);
    this.expect(phi, 'phi', [K, M]);
    this.expect(b, 'b', [M]);
    return { N, K, M };
  }

  coeffsForward(args: CoeffsForwardArgs): CoeffsForwardResult {
    return this.coeffs(args, false);
  }

  /**
   * The split path computes pre in its per-token dispatch when x is half with c a multiple of 8 and
   * the device allows 9 storage bindings (WebGPU's default is 8).
   */
  supportsCoeffsPre(args: CoeffsForwardArgs): boolean {
    const { x, config } = args;
    const hc = config.hc;
    if (x.shape.length !== 2 || !Number.isInteger(hc) || hc < 1) return false;
    const K = x.shape[1]!;
    return (
      K % hc === 0 &&
      this.splitPath(hc, x.dtype, K) &&
      wide(K / hc, x.dtype) &&
      this.b.limits.maxStorageBuffers >= 9
    );
  }

  coeffsPreForward(args: CoeffsForwardArgs): CoeffsPreForwardResult {
    if (!this.supportsCoeffsPre(args))
      throw new ArgumentError(
        'x',
        'half x with c a multiple of 8 on the split coeffs path and 9 storage bindings (see supportsCoeffsPre)',
      );
    return this.coeffs(args, true) as CoeffsPreForwardResult;
  }

  private splitPath(hc: number, dtype: DType, K: number): boolean {
    return this.b.capabilities.coeffsForward === 'split' && coeffsSplitBlocker(hc, dtype, K) === null;
  }

  /** coeffsForward, and with `pre` (where supportsCoeffsPre) xIn from the same dispatch. */
  private coeffs(args: CoeffsForwardArgs, pre: boolean): CoeffsForwardResult & { xIn?: TensorInfo } {
    const { x, phi, b, alphaPre, alphaPost, alphaRes, config, save } = args;
    this.b.check({ x, phi, b, alphaPre, alphaPost, alphaRes });
    const hc = config.hc;
    const { N, K, M } = this.coeffsDims(x, phi, b, hc);
    if (!Number.isInteger(config.tmax) || config.tmax < 1)
      throw new ArgumentError('config.tmax', `expected an integer >= 1, got ${config.tmax}`);
    for (const [name, t] of Object.entries({ alphaPre, alphaPost, alphaRes }))
      if (sizeOf(t.shape) !== 1) throw new ShapeError(name, '[]', t.shape);
    const { T } = coeffsShape(hc);
    const compact = M > COMPACT_M;
    const split = this.splitPath(hc, x.dtype, K);
    // The split path's pack kernel writes these coefficients itself (no copies: see coeffs-split).
    this.coefDtypes({ b, alphaPre, alphaPost, alphaRes });
    const coef = split ? null : this.coef({ b, alphaPre, alphaPost, alphaRes }, M);
    const hPre = this.b.output([N, hc], 'f32');
    const hPost = this.b.output([N, hc], 'f32');
    const hRes = this.b.output([N, hc, hc], 'f32');
    const saved: TensorInfo[] = [];
    let xIn: TensorInfo | undefined;
    const HS = hc * hc + (2 * config.tmax - 1) * hc;
    const s1 = save === 'none' ? null : this.b.output([N, M + 1], 'f32');
    const s2 = save === 'history' ? this.b.output([N, HS], 'f32') : null;
    if (s1) saved.push(s1);
    if (s2) saved.push(s2);
    const d1 = s1 ?? this.b.output([1], 'f32');
    const d2 = s2 ?? this.b.output([1], 'f32');
    const params = (p: ParamWriter) =>
      p
        .u32(0, N)
        .u32(1, K)
        .u32(2, Math.ceil(K / 2))
        .u32(3, config.tmax)
        .f32(4, config.rmsEps)
        .f32(5, config.preEps)
        .f32(6, config.sinkhornEps)
        .f32(7, config.postMult);
    if (split) {
      // φ repacked for the kernel's loads, partial sums per K chunk, then a per-token kernel adds
      // them in chunk order and runs the epilogue (see coeffs-split.wgsl.ts).
      const o = this.splitOptions(N, K);
      const g = coeffsSplit(N, K, hc, o);
      const pp = this.b.output([g.packedLen * 4], 'f32');
      // A pack per call, also when φ is unchanged: keeping it across calls (with change tracking
      // of φ, b and the alphas) measured slower on the layer forward.
      this.b.dispatch(
        coeffsPhiPackKernel(hc, phi.dtype, o),
        [phi, b, alphaPre, alphaPost, alphaRes, pp],
        (p) => p.u32(0, K).u32(1, g.packed),
        Math.ceil(g.packedLen / 256),
      );
      const part = this.b.output([g.chunks * (M + 1) * N], 'f32');
      this.b.dispatch(
        coeffsForwardSplitKernel(hc, x.dtype, K, o),
        [x, pp, part],
        splitMainParams(N, K, g),
        g.tiles * g.chunks,
      );
      // With pre (coeffsPreForward) the same dispatch also writes xIn: its extra workgroups run the
      // pre step beside the epilogue (see coeffsSplitReduceKernel).
      const c = K / hc;
      const fusePre = pre;
      xIn = fusePre ? this.b.output([N, c], x.dtype) : undefined;
      const E = Math.ceil(N / SPLIT_REDUCE_WG);
      const prePieces = o.prePieces ?? SPLIT_PRE_PIECES;
      const per = Math.ceil(c / 8 / prePieces);
      this.b.dispatch(
        coeffsSplitReduceKernel(hc, save, fusePre ? x.dtype : null, prePieces, o.preOrder),
        [part, pp, hPre, hPost, hRes, d1, d2, ...(xIn ? [x, xIn] : [])],
        (p) => {
          params(p);
          p.u32(9, g.chunks)
            .u32(10, g.packed * 4)
            .u32(11, E)
            .u32(12, per)
            .u32(13, N * per)
            .u32(14, c / 8);
        },
        E + (fusePre ? Math.ceil((N * per) / SPLIT_REDUCE_WG) : 0),
      );
      this.b.disposeData(pp.handle);
      this.b.disposeData(part.handle);
    } else {
      this.b.dispatch(
        (compact ? coeffsForwardCompactKernel : coeffsForwardKernel)(hc, x.dtype, phi.dtype, K, save),
        [x, phi, coef!, hPre, hPost, hRes, d1, d2],
        params,
        compact ? N : Math.ceil(N / T),
      );
    }
    if (coef) this.b.disposeData(coef.handle);
    if (!s1) this.b.disposeData(d1.handle);
    if (!s2) this.b.disposeData(d2.handle);
    return xIn ? { hPre, hPost, hRes, saved, xIn } : { hPre, hPost, hRes, saved };
  }

  coeffsBackward(args: CoeffsBackwardArgs): CoeffsBackwardResult {
    const { x, phi, b, alphaPre, alphaPost, alphaRes, config, save, needs, saved } = args;
    const { gradHPre, gradHPost, gradHRes } = args;
    this.b.check({ x, phi, b, alphaPre, alphaPost, alphaRes, gradHPre, gradHPost, gradHRes });
    saved.forEach((t, i) => {
      this.b.check({ [`saved[${i}]`]: t });
    });
    const hc = config.hc;
    const { N, K, M } = this.coeffsDims(x, phi, b, hc);
    const compact = M > COMPACT_M;
    const s1 = saved[0];
    if (!s1 || s1.shape[0] !== N || s1.shape[1] !== M + 1)
      throw new ArgumentError('saved', 'expected the tensors saved by coeffsForward (with save != none)');
    const s2 = save === 'history' ? saved[1] : undefined;
    if (save === 'history' && !s2)
      throw new ArgumentError('saved', "save = 'history' but the forward saved no Sinkhorn history");
    for (const [name, t, shape] of [
      ['gradHPre', gradHPre, [N, hc]],
      ['gradHPost', gradHPost, [N, hc]],
      ['gradHRes', gradHRes, [N, hc, hc]],
    ] as const) {
      if (!t) continue;
      this.expect(t, name, shape);
      if (t.dtype !== 'f32') throw new ArgumentError(name, `expected dtype f32, got ${t.dtype}`);
    }
    const result: CoeffsBackwardResult = {
      gradX: null,
      gradPhi: null,
      gradB: null,
      gradAlphaPre: null,
      gradAlphaPost: null,
      gradAlphaRes: null,
    };
    if (!needs.x && !needs.phi && !needs.b && !needs.alphas) return result;

    const coef = this.coef({ b, alphaPre, alphaPost, alphaRes }, M);
    // The three cotangents as planes of one buffer; a missing one stays zero.
    const cot = this.b.zeros([N * M], 'f32');
    const cotBuf = this.b.buf(cot, 'cot');
    if (gradHPre) this.b.copy(this.b.buf(gradHPre, 'gradHPre'), 0, cotBuf, 0, N * hc * 4);
    if (gradHPost) this.b.copy(this.b.buf(gradHPost, 'gradHPost'), 0, cotBuf, N * hc * 4, N * hc * 4);
    if (gradHRes) this.b.copy(this.b.buf(gradHRes, 'gradHRes'), 0, cotBuf, 2 * N * hc * 4, N * hc * hc * 4);
    const gf = this.b.output([N, M + 1], 'f32');
    const tr = this.b.output([N, M + 3], 'f32');
    // Recompute mode: the kernel reruns the Sinkhorn forward into this scratch of history layout.
    const HS = hc * hc + (2 * config.tmax - 1) * hc;
    const d2 = s2 ?? this.b.output([gradHRes ? N * HS : 1], 'f32');
    this.b.dispatch(
      coeffsBackwardTokenKernel(hc, save),
      [s1, d2, coef, cot, gf, tr],
      (p) =>
        p
          .u32(0, N)
          .u32(1, K)
          .u32(3, config.tmax)
          .f32(5, config.preEps)
          .f32(6, config.sinkhornEps)
          .f32(7, config.postMult)
          .u32(8, gradHRes ? 1 : 0),
      Math.ceil(N / 64),
    );
    if (!s2) this.b.disposeData(d2.handle);
    this.b.disposeData(coef.handle);
    this.b.disposeData(cot.handle);

    if (needs.b || needs.alphas) {
      const red = this.b.output([M + 3], 'f32');
      this.b.dispatch(coeffsBackwardReduceKernel(), [tr, red], (p) => p.u32(0, N).u32(1, M + 3), M + 3);
      const rb = this.b.buf(red, 'red');
      if (needs.b) {
        result.gradB = this.b.output([M], 'f32');
        this.b.copy(rb, 0, this.b.buf(result.gradB, 'gradB'), 0, M * 4);
      }
      if (needs.alphas) {
        const names = ['gradAlphaPre', 'gradAlphaPost', 'gradAlphaRes'] as const;
        names.forEach((name, i) => {
          const t = this.b.output([], 'f32');
          this.b.copy(rb, (M + i) * 4, this.b.buf(t, name), 0, 4);
          result[name] = t;
        });
      }
      this.b.disposeData(red.handle);
    }
    this.b.disposeData(tr.handle);

    if (needs.x || needs.phi) {
      const WG = 64;
      const KP = Math.ceil(K / 2);
      const KB = Math.ceil(KP / WG);
      // Token chunks: enough workgroups to fill a large GPU (~2048), chunks of >= 16 tokens. The
      // split depends on the shape only, so the reduction order (and the bits) never change.
      let chunks = Math.max(1, Math.min(Math.ceil(2048 / KB), Math.ceil(N / 16)));
      // No tokens: one chunk of nothing (the kernels then write zero gradients), not 0 / 0 chunks.
      const NC = Math.max(1, Math.ceil(N / chunks));
      chunks = Math.max(1, Math.ceil(N / NC));
      const gx = needs.x ? this.pairOutput([N, K], x.dtype, K) : null;
      const gxT = gx?.t ?? this.b.output([1], 'f32');
      const direct = chunks === 1 && needs.phi;
      // The compact kernel accumulates into `part` in place: it must start at zero.
      const scratch = (shape: number[]) =>
        compact ? this.b.zeros(shape, 'f32') : this.b.output(shape, 'f32');
      const gradPhi = needs.phi ? scratch([K, M]) : null;
      const part = direct ? gradPhi! : needs.phi ? scratch([chunks * K * M]) : this.b.output([1], 'f32');
      this.b.dispatch(
        (compact ? coeffsBackwardXCompactKernel : coeffsBackwardXKernel)(
          hc,
          x.dtype,
          phi.dtype,
          gx?.od ?? 'f32',
          K,
        ),
        [x, phi, gf, gxT, part],
        (p) =>
          p
            .u32(0, N)
            .u32(1, K)
            .u32(2, KP)
            .u32(3, NC)
            .u32(4, KB)
            .u32(5, needs.x ? 1 : 0)
            .u32(6, needs.phi ? 1 : 0),
        KB * chunks,
      );
      if (gradPhi && !direct) {
        this.b.dispatch(
          coeffsBackwardPhiReduceKernel(),
          [part, gradPhi],
          (p) => p.u32(0, K * M).u32(1, chunks),
          Math.ceil((K * M) / 256),
        );
      }
      if (!direct) this.b.disposeData(part.handle);
      if (gx) result.gradX = gx.finish();
      else this.b.disposeData(gxT.handle);
      result.gradPhi = gradPhi;
    }
    this.b.disposeData(gf.handle);
    return result;
  }
}
