import { ShapeError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { cast } from './cast.js';
import { add, affine, div, mul, sigmoid, square, unary } from './elementwise.js';
import { slice } from './layout.js';
import { matmul } from './linalg.js';
import type { MhcCoefficients } from './mhc.js';
import { type MhcOptions, resolveMhcOptions } from './mhc-options.js';
import { softmax } from './nn-ops.js';
import { mean, sum } from './reduce.js';

/**
 * mHC from generic ops only (matmul, elementwise, sums, softmax): the "unfused ops". Every step is
 * a separate differentiable op, so autograd derives the backward (Sinkhorn's through the unrolled
 * loop) without any mHC kernel: the path a user starts from, what `@liger-mhc/patch` swaps for the
 * fused kernels, and an implementation independent of the fused one to cross-check it. The math is
 * the Liger convention of the golden fixtures.
 *
 * All math runs in f32 (coefficients are f32 in the fused kernels too); pre/post_res results are
 * cast back to the activation dtype like the fused kernels' outputs.
 */

/** The parameters of one mHC layer (the names LigerMHC registers). */
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
export function unfusedSinkhorn(logits: Tensor, tmax: number, eps: number): Tensor {
  // Column sums are over the "out" axis (1), row sums over the "in" axis (2).
  const colNorm = (p: Tensor) => div(p, affine(sum(p, [1], true), 1, eps));
  const rowNorm = (p: Tensor) => div(p, affine(sum(p, [2], true), 1, eps));
  let p = colNorm(affine(softmax(logits), 1, eps));
  for (let t = 1; t < tmax; t++) p = colNorm(rowNorm(p));
  return p;
}

/** The mHC coefficients of x [..., hc, c] from generic ops (same contract as mhcCoeffs). */
export function unfusedMhcCoeffs(x: Tensor, params: MhcParams, options: MhcOptions = {}): MhcCoefficients {
  const o = resolveMhcOptions(options);
  const { hc, c, outer } = streams(x);
  const k = hc * c;
  const m = hc * hc + 2 * hc;
  const deepseek = o.phiLayout === 'deepseek';
  const [r, q] = deepseek ? [m, k] : [k, m];
  if (params.phi.rank !== 2 || params.phi.shape[0] !== r || params.phi.shape[1] !== q)
    throw new ShapeError(deepseek ? `phi (phiLayout 'deepseek')` : 'phi', `[${r}, ${q}]`, params.phi.shape);
  if (params.b.rank !== 1 || params.b.shape[0] !== m) throw new ShapeError('b', `[${m}]`, params.b.shape);
  const n = outer.reduce((a, d) => a * d, 1);
  const xm = f32(x).reshape([n, k]);
  // invr = 1/sqrt(mean(x²) + eps) per token, applied after the projection as the fused kernel does.
  const invr = unary('rsqrt', affine(mean(square(xm), [1], true), 1, o.rmsEps));
  const mix = mul(matmul(xm, f32(params.phi), { transB: deepseek }), invr);
  const b = f32(params.b);
  const gate = (lo: number, hi: number, alpha: Tensor) =>
    add(mul(slice(mix, 1, lo, hi), f32(alpha).reshape([])), slice(b, 0, lo, hi));
  const hPre = affine(sigmoid(gate(0, hc, params.alphaPre)), 1, o.preEps);
  const hPost = affine(sigmoid(gate(hc, 2 * hc, params.alphaPost)), o.postMult, 0);
  const logits = gate(2 * hc, m, params.alphaRes).reshape([n, hc, hc]);
  const hRes = unfusedSinkhorn(logits, o.tmax, o.sinkhornEps);
  return {
    hPre: hPre.reshape([...outer, hc]),
    hPost: hPost.reshape([...outer, hc]),
    hRes: hRes.reshape([...outer, hc, hc]),
  };
}

/** xIn = Σ_s hPre[s]·x[s]: x [..., hc, c], hPre [..., hc] -> [..., c] in x's dtype. */
export function unfusedMhcPre(x: Tensor, hPre: Tensor): Tensor {
  const { hc, outer } = streams(x);
  const xIn = sum(mul(f32(x), f32(hPre).reshape([...outer, hc, 1])), [-2]);
  return xIn.dtype === x.dtype ? xIn : cast(xIn, x.dtype);
}

/**
 * xOut[o] = Σ_i R[o,i]·x[i] + hPost[o]·f with R = hRes ('liger') or hResᵀ ('deepseek'); a batched
 * matmul over the leading dims. Result in x's dtype.
 */
export function unfusedMhcPostRes(
  x: Tensor,
  f: Tensor,
  hPost: Tensor,
  hRes: Tensor,
  options: Pick<MhcOptions, 'orientation' | 'preset'> = {},
): Tensor {
  const { hc, c, outer } = streams(x);
  // The preset's orientation unless one is given ('deepseek-v4' applies the matrix transposed).
  const transA = resolveMhcOptions(options).orientation === 'deepseek';
  const mixed = matmul(f32(hRes), f32(x), { transA });
  const branch = mul(f32(hPost).reshape([...outer, hc, 1]), f32(f).reshape([...outer, 1, c]));
  const out = add(mixed, branch);
  return out.dtype === x.dtype ? out : cast(out, x.dtype);
}
