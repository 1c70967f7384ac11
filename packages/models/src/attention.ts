import {
  ArgumentError,
  type Backend,
  Linear,
  Module,
  type Random,
  ShapeError,
  scaledDotProductAttention,
  slice,
  type Tensor,
  type TensorLayer,
  transpose,
} from '@liger-mhc/core';

export interface AttentionOptions {
  backend?: string | Backend;
  rng?: Random;
}

/**
 * Causal multi-head self-attention: one projection to q, k, v, scaled dot-product attention over
 * [B, H, T, Dh] (fused where the backend has it), and an output projection. No bias, no dropout.
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
    const ctx = scaledDotProductAttention(part(0), part(1), part(2), {
      causal: true,
      scale: 1 / Math.sqrt(dh),
    });
    const merged = transpose(ctx, [0, 2, 1, 3]).reshape([b, t, this.dim]);
    return this.proj.forward(merged);
  }
}
