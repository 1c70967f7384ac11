import {
  ArgumentError,
  type Backend,
  Linear,
  Module,
  matmul,
  type Random,
  ShapeError,
  scale,
  slice,
  softmax,
  type Tensor,
  type TensorLayer,
  transpose,
} from '@liger-mhc/core';

export interface AttentionOptions {
  backend?: string | Backend;
  rng?: Random;
}

/**
 * Causal multi-head self-attention from the generic ops: one projection to q, k, v, batched
 * matmuls over [B, H, T, Dh], a causal softmax, and an output projection. No bias, no dropout.
 */
export class CausalSelfAttention extends Module implements TensorLayer {
  readonly headDim: number;
  qkv: Linear;
  proj: Linear;

  constructor(
    readonly dim: number,
    readonly heads: number,
    options: AttentionOptions = {},
  ) {
    super();
    if (!Number.isInteger(heads) || heads < 1 || dim % heads !== 0)
      throw new ArgumentError('heads', `expected a divisor of dim ${dim}, got ${heads}`);
    this.headDim = dim / heads;
    this.qkv = this.registerModule('qkv', new Linear(dim, 3 * dim, { ...options, bias: false }));
    this.proj = this.registerModule('proj', new Linear(dim, dim, { ...options, bias: false }));
  }

  /** x [B, T, D] -> [B, T, D]; position t attends to positions 0..t. */
  forward(x: Tensor): Tensor {
    if (x.rank !== 3 || x.shape[2] !== this.dim)
      throw new ShapeError('x', `[batch, seq, ${this.dim}]`, x.shape);
    const [b, t] = x.shape as [number, number, number];
    const h = this.heads;
    const dh = this.headDim;
    // [B, T, 3, H, Dh] -> [3, B, H, T, Dh]: q, k, v each contiguous per (batch, head).
    const qkv = transpose(this.qkv.forward(x).reshape([b, t, 3, h, dh]), [2, 0, 3, 1, 4]);
    const part = (i: number) => slice(qkv, 0, i, i + 1).reshape([b, h, t, dh]);
    // Scaling q (T·Dh values) is cheaper than scaling the T·T scores.
    const q = scale(part(0), 1 / Math.sqrt(dh));
    const scores = matmul(q, part(1), { transB: true });
    const weights = softmax(scores, { causal: true });
    const ctx = matmul(weights, part(2));
    const merged = transpose(ctx, [0, 2, 1, 3]).reshape([b, t, this.dim]);
    return this.proj.forward(merged);
  }
}
