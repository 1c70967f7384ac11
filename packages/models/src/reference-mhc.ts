import {
  ArgumentError,
  add,
  affine,
  type Backend,
  callLayer,
  cast,
  div,
  type FloatDType,
  full,
  type LayerLike,
  type MhcCoefficients,
  type MhcOptions,
  Module,
  matmul,
  mean,
  mul,
  type Random,
  randn,
  resolveMhcOptions,
  ShapeError,
  sigmoid,
  slice,
  softmax,
  square,
  sum,
  type Tensor,
  type TensorLayer,
  unary,
  zeros,
} from '@liger-mhc/core';

/**
 * mHC computed from generic ops only (matmul, elementwise, sums, softmax): the unfused path a user
 * starts from, and what `@liger-mhc/patch` swaps for the fused kernels. Every step is a separate
 * differentiable op, so autograd derives the backward (including Sinkhorn's, through the unrolled
 * loop) without any mHC-specific kernel: an implementation independent of the fused one, which
 * makes it a useful cross-check as well. The math is the Liger convention of the golden fixtures.
 *
 * All math runs in f32 (coefficients are f32 in the fused kernels too); pre/post_res results are
 * cast back to the activation dtype like the fused kernels' outputs.
 */

export interface MhcParams {
  phi: Tensor;
  b: Tensor;
  alphaPre: Tensor;
  alphaPost: Tensor;
  alphaRes: Tensor;
}

function f32(t: Tensor): Tensor {
  return t.dtype === 'f32' ? t : cast(t, 'f32');
}

function streams(x: Tensor): { hc: number; c: number; outer: number[] } {
  if (x.rank < 2) throw new ShapeError('x', '[..., hc, c] (rank >= 2)', x.shape);
  return { hc: x.shape[x.rank - 2]!, c: x.shape[x.rank - 1]!, outer: x.shape.slice(0, -2) };
}

/**
 * Sinkhorn-Knopp on logits L [N, hc, hc] (row-major out, in): a softmax over each row, then
 * alternating column and row normalisation, `tmax` column steps in all.
 */
export function referenceSinkhorn(logits: Tensor, tmax: number, eps: number): Tensor {
  // Column sums are over the "out" axis (1), row sums over the "in" axis (2).
  const colNorm = (p: Tensor) => div(p, affine(sum(p, [1], true), 1, eps));
  const rowNorm = (p: Tensor) => div(p, affine(sum(p, [2], true), 1, eps));
  let p = colNorm(affine(softmax(logits), 1, eps));
  for (let t = 1; t < tmax; t++) p = colNorm(rowNorm(p));
  return p;
}

/** The mHC coefficients of x [..., hc, c] from generic ops (same contract as core's mhcCoeffs). */
export function referenceMhcCoeffs(x: Tensor, params: MhcParams, options: MhcOptions = {}): MhcCoefficients {
  const o = resolveMhcOptions(options);
  const { hc, c, outer } = streams(x);
  const k = hc * c;
  const m = hc * hc + 2 * hc;
  if (params.phi.rank !== 2 || params.phi.shape[0] !== k || params.phi.shape[1] !== m)
    throw new ShapeError('phi', `[${k}, ${m}]`, params.phi.shape);
  if (params.b.rank !== 1 || params.b.shape[0] !== m) throw new ShapeError('b', `[${m}]`, params.b.shape);
  const n = outer.reduce((a, d) => a * d, 1);
  const xm = f32(x).reshape([n, k]);
  // invr = 1/sqrt(mean(x²) + eps) per token, applied after the projection as the fused kernel does.
  const invr = unary('rsqrt', affine(mean(square(xm), [1], true), 1, o.rmsEps));
  const mix = mul(matmul(xm, f32(params.phi)), invr);
  const b = f32(params.b);
  const gate = (lo: number, hi: number, alpha: Tensor) =>
    add(mul(slice(mix, 1, lo, hi), f32(alpha).reshape([])), slice(b, 0, lo, hi));
  const hPre = affine(sigmoid(gate(0, hc, params.alphaPre)), 1, o.preEps);
  const hPost = affine(sigmoid(gate(hc, 2 * hc, params.alphaPost)), o.postMult, 0);
  const logits = gate(2 * hc, m, params.alphaRes).reshape([n, hc, hc]);
  const hRes = referenceSinkhorn(logits, o.tmax, o.sinkhornEps);
  return {
    hPre: hPre.reshape([...outer, hc]),
    hPost: hPost.reshape([...outer, hc]),
    hRes: hRes.reshape([...outer, hc, hc]),
  };
}

/** xIn = Σ_s hPre[s]·x[s]: x [..., hc, c], hPre [..., hc] -> [..., c] in x's dtype. */
export function referenceMhcPre(x: Tensor, hPre: Tensor): Tensor {
  const { hc, outer } = streams(x);
  const xIn = sum(mul(f32(x), f32(hPre).reshape([...outer, hc, 1])), [-2]);
  return xIn.dtype === x.dtype ? xIn : cast(xIn, x.dtype);
}

/**
 * xOut[o] = Σ_i R[o,i]·x[i] + hPost[o]·f with R = hRes ('liger') or hResᵀ ('deepseek'); a batched
 * matmul over the leading dims. Result in x's dtype.
 */
export function referenceMhcPostRes(
  x: Tensor,
  f: Tensor,
  hPost: Tensor,
  hRes: Tensor,
  options: Pick<MhcOptions, 'orientation'> = {},
): Tensor {
  const { hc, c, outer } = streams(x);
  const transA = (options.orientation ?? 'liger') === 'deepseek';
  const mixed = matmul(f32(hRes), f32(x), { transA });
  const branch = mul(f32(hPost).reshape([...outer, hc, 1]), f32(f).reshape([...outer, 1, c]));
  const out = add(mixed, branch);
  return out.dtype === x.dtype ? out : cast(out, x.dtype);
}

export interface ReferenceMHCOptions extends MhcOptions {
  hc: number;
  c: number;
  phiDtype?: FloatDType;
  alphaInit?: number;
  backend?: string | Backend;
  rng?: Random;
  /** Use these tensors as parameters instead of fresh ones (shared, not copied). */
  params?: MhcParams;
}

/**
 * The reference mHC module: the same parameters, names, initialisation and options as core's
 * LigerMHC (phi, b, alphaPre, alphaPost, alphaRes, child 'layer'), so a state dict moves between
 * the two and `applyLigerMhc` can swap one for the other sharing the very same tensors.
 */
export class ReferenceMHC extends Module implements TensorLayer {
  readonly hc: number;
  readonly c: number;
  readonly options: MhcOptions;
  phi: Tensor;
  b: Tensor;
  alphaPre: Tensor;
  alphaPost: Tensor;
  alphaRes: Tensor;
  layer: LayerLike;

  constructor(layer: LayerLike, options: ReferenceMHCOptions) {
    super();
    const { hc, c } = options;
    if (!Number.isInteger(hc) || hc < 1) throw new ArgumentError('hc', `expected an integer >= 1, got ${hc}`);
    if (!Number.isInteger(c) || c < 1) throw new ArgumentError('c', `expected an integer >= 1, got ${c}`);
    resolveMhcOptions(options, ['hc', 'c', 'phiDtype', 'alphaInit', 'backend', 'rng', 'params']);
    this.hc = hc;
    this.c = c;
    const { hc: _h, c: _c, phiDtype, alphaInit, backend, rng, params, ...mhc } = options;
    this.options = mhc;
    const m = hc * hc + 2 * hc;
    const a = alphaInit ?? 0.01;
    const p = params ?? {
      phi: randn([hc * c, m], { dtype: phiDtype ?? 'f32', std: 0.02, backend, rng }),
      b: zeros([m], { dtype: 'f32', backend }),
      alphaPre: full([], a, { dtype: 'f32', backend }),
      alphaPost: full([], a, { dtype: 'f32', backend }),
      alphaRes: full([], a, { dtype: 'f32', backend }),
    };
    if (p.phi.rank !== 2 || p.phi.shape[0] !== hc * c || p.phi.shape[1] !== m)
      throw new ShapeError('params.phi', `[${hc * c}, ${m}]`, p.phi.shape);
    // registerParameter marks requiresGrad; shared tensors keep the flag they came with.
    const flags = params ? Object.values(params).map((t) => t.requiresGrad) : null;
    this.phi = this.registerParameter('phi', p.phi);
    this.b = this.registerParameter('b', p.b);
    this.alphaPre = this.registerParameter('alphaPre', p.alphaPre);
    this.alphaPost = this.registerParameter('alphaPost', p.alphaPost);
    this.alphaRes = this.registerParameter('alphaRes', p.alphaRes);
    if (flags && params)
      Object.values(params).forEach((t, i) => {
        t.requiresGrad = flags[i]!;
      });
    this.layer = layer;
    if (layer instanceof Module) this.registerModule('layer', layer);
  }

  get params(): MhcParams {
    const { phi, b, alphaPre, alphaPost, alphaRes } = this;
    return { phi, b, alphaPre, alphaPost, alphaRes };
  }

  coefficients(x: Tensor): MhcCoefficients {
    this.checkInput(x);
    return referenceMhcCoeffs(x, this.params, this.options);
  }

  forward(x: Tensor): Tensor {
    const coeffs = this.coefficients(x);
    const xIn = referenceMhcPre(x, coeffs.hPre);
    const f = callLayer(this.layer, xIn);
    if (f.rank !== xIn.rank || f.shape.some((d, i) => d !== xIn.shape[i]))
      throw new ShapeError('layer output', `[${xIn.shape.join(', ')}]`, f.shape);
    return referenceMhcPostRes(x, f, coeffs.hPost, coeffs.hRes, this.options);
  }

  private checkInput(x: Tensor): void {
    if (x.rank < 2 || x.shape[x.rank - 2] !== this.hc || x.shape[x.rank - 1] !== this.c)
      throw new ShapeError('x', `[..., ${this.hc}, ${this.c}] (hc=${this.hc}, c=${this.c})`, x.shape);
  }
}
