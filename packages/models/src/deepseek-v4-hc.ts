import {
  add,
  affine,
  broadcastTo,
  cast,
  matmul,
  mean,
  mul,
  ShapeError,
  sigmoid,
  slice,
  square,
  sum,
  type Tensor,
  unary,
  unfusedSinkhorn,
} from '@liger-mhc/core';

/**
 * DeepSeek-V4's hyper-connection steps, composed from generic ops the way V4's public model writes
 * them (flatten the streams, RMS over n·dim, F.linear with the [M, n·dim] weight, split, sigmoid,
 * Sinkhorn, weighted sums). Nothing here calls an mHC kernel: this is the unfused model that
 * `applyLigerMhc` swaps onto the fused ops, and autograd derives every backward.
 *
 * V4's conventions, against Liger's: φ is stored transposed ([M, n·dim], applied as x·fnᵀ), the
 * three α are one `scale` [3], the residual matrix is applied transposed (y[j] = Σ_i comb[i,j]·x[i]),
 * and one eps (hc_eps) serves as both the pre offset and Sinkhorn's eps.
 */

/** The hyper-connection settings of a V4 model (V4's ModelArgs names in the comments). */
export interface V4HcConfig {
  /** Streams (hc_mult). */
  hc: number;
  /** eps of the RMS over n·dim in the mixes and of the layer norms (norm_eps). */
  normEps: number;
  /** Added after pre's sigmoid and inside Sinkhorn (hc_eps). */
  hcEps: number;
  /** Sinkhorn-Knopp iterations (hc_sinkhorn_iters). */
  sinkhornIters: number;
}

export interface V4HcPreResult {
  /** [B, T, dim] in x's dtype: Σ_s pre[s]·x[s] */
  y: Tensor;
  /** [B, T, hc] f32 */
  post: Tensor;
  /** [B, T, hc, hc] f32, doubly stochastic (row-major, applied transposed) */
  comb: Tensor;
}

function f32(t: Tensor): Tensor {
  return t.dtype === 'f32' ? t : cast(t, 'f32');
}

function streamShape(x: Tensor, hc: number): { lead: number[]; dim: number } {
  if (x.rank < 3 || x.shape[x.rank - 2] !== hc)
    throw new ShapeError('x', `[..., ${hc}, dim] (hc = ${hc} streams)`, x.shape);
  return { lead: x.shape.slice(0, -2), dim: x.shape[x.rank - 1]! };
}

/** mixes = (x_flat · fnᵀ) · rsqrt(mean(x_flat²) + eps): x [..., hc, dim], fn [rows, hc·dim]. */
export function v4Mixes(x: Tensor, fn: Tensor, hc: number, normEps: number): Tensor {
  const { lead, dim } = streamShape(x, hc);
  if (fn.rank !== 2 || fn.shape[1] !== hc * dim)
    throw new ShapeError('fn', `[rows, ${hc * dim}] (hc·dim)`, fn.shape);
  const xf = f32(x).reshape([...lead, hc * dim]);
  const rsqrt = unary('rsqrt', affine(mean(square(xf), [-1], true), 1, normEps));
  return mul(matmul(xf, f32(fn), { transB: true }), rsqrt);
}

/** One element of a [k] parameter, as a [1] tensor that broadcasts (keeps the autograd path). */
function pick(t: Tensor, i: number): Tensor {
  return slice(f32(t), 0, i, i + 1);
}

/** Σ_s w[s]·x[s]: x [..., hc, dim], w [..., hc] f32 -> [..., dim] in x's dtype. */
export function v4WeightedSum(x: Tensor, w: Tensor): Tensor {
  const y = sum(mul(w.reshape([...w.shape, 1]), f32(x)), [-2]);
  return y.dtype === x.dtype ? y : cast(y, x.dtype);
}

export interface V4HcCoefficients {
  /** [..., hc] f32: σ(mixes·scale[0] + base) + hc_eps */
  pre: Tensor;
  /** [..., hc] f32: 2·σ(mixes·scale[1] + base) */
  post: Tensor;
  /** [..., hc, hc] f32: Sinkhorn of mixes·scale[2] + base */
  comb: Tensor;
}

/**
 * The coefficients of V4's hc_pre (its hc_split_sinkhorn on the mixes). fn [(2+hc)·hc, hc·dim],
 * scale [3], base [(2+hc)·hc].
 */
export function v4HcCoeffs(
  x: Tensor,
  fn: Tensor,
  scale: Tensor,
  base: Tensor,
  cfg: V4HcConfig,
): V4HcCoefficients {
  const n = cfg.hc;
  const m = (2 + n) * n;
  if (fn.shape[0] !== m) throw new ShapeError('fn', `[${m}, hc·dim]`, fn.shape);
  if (scale.rank !== 1 || scale.shape[0] !== 3) throw new ShapeError('scale', '[3]', scale.shape);
  if (base.rank !== 1 || base.shape[0] !== m) throw new ShapeError('base', `[${m}]`, base.shape);
  const mixes = v4Mixes(x, fn, n, cfg.normEps);
  const lead = mixes.shape.slice(0, -1);
  const b = f32(base);
  const gate = (lo: number, hi: number, s: number) =>
    add(mul(slice(mixes, -1, lo, hi), pick(scale, s)), slice(b, 0, lo, hi));
  const pre = affine(sigmoid(gate(0, n, 0)), 1, cfg.hcEps);
  const post = affine(sigmoid(gate(n, 2 * n, 1)), 2, 0);
  const logits = gate(2 * n, m, 2).reshape([-1, n, n]);
  const comb = unfusedSinkhorn(logits, cfg.sinkhornIters, cfg.hcEps).reshape([...lead, n, n]);
  return { pre, post, comb };
}

/** V4's hc_pre: the coefficients of a sublayer and its input Σ_s pre[s]·x[s]. */
export function v4HcPre(x: Tensor, fn: Tensor, scale: Tensor, base: Tensor, cfg: V4HcConfig): V4HcPreResult {
  const { pre, post, comb } = v4HcCoeffs(x, fn, scale, base, cfg);
  return { y: v4WeightedSum(x, pre), post, comb };
}

/**
 * V4's hc_post: out[j] = post[j]·f + Σ_i comb[i, j]·residual[i]. f [..., dim], residual
 * [..., hc, dim]; the result is in f's dtype, as V4's `type_as(x)`.
 */
export function v4HcPost(f: Tensor, residual: Tensor, post: Tensor, comb: Tensor): Tensor {
  const lead = residual.shape.slice(0, -2);
  const n = residual.shape[residual.rank - 2]!;
  const dim = residual.shape[residual.rank - 1]!;
  if (f.rank !== residual.rank - 1 || f.shape[f.rank - 1] !== dim)
    throw new ShapeError('f', `[${[...lead, dim].join(', ')}]`, f.shape);
  const mixed = matmul(comb, f32(residual), { transA: true });
  const branch = mul(post.reshape([...lead, n, 1]), f32(f).reshape([...lead, 1, dim]));
  const out = add(branch, mixed);
  return out.dtype === f.dtype ? out : cast(out, f.dtype);
}

/**
 * V4's hc_head: the streams reduced to one hidden state before the final norm.
 * w = σ(mixes·scale + base) + eps with fn [hc, hc·dim], base [hc], scale [1]; y = Σ_s w[s]·x[s].
 */
export function v4HcHead(x: Tensor, fn: Tensor, scale: Tensor, base: Tensor, cfg: V4HcConfig): Tensor {
  const n = cfg.hc;
  if (fn.shape[0] !== n) throw new ShapeError('fn', `[${n}, hc·dim]`, fn.shape);
  if (scale.size !== 1) throw new ShapeError('scale', '[1]', scale.shape);
  if (base.rank !== 1 || base.shape[0] !== n) throw new ShapeError('base', `[${n}]`, base.shape);
  const mixes = v4Mixes(x, fn, n, cfg.normEps);
  const w = affine(sigmoid(add(mul(mixes, f32(scale).reshape([1])), f32(base))), 1, cfg.hcEps);
  return v4WeightedSum(x, w);
}

/** The embedding repeated into hc streams: [..., dim] -> [..., hc, dim] (V4's unsqueeze + repeat). */
export function v4Expand(h: Tensor, hc: number): Tensor {
  const dim = h.shape[h.rank - 1]!;
  const lead = h.shape.slice(0, -1);
  return broadcastTo(h.reshape([...lead, 1, dim]), [...lead, hc, dim]);
}
