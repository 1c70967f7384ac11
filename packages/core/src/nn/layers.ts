import type { Backend } from '../backend/contract.js';
import type { DType, FloatDType } from '../dtype.js';
import { ShapeError } from '../errors.js';
import { add, cast, embedding, matmul, ones, rand, randn, rmsNorm } from '../ops/index.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Random } from '../util/random.js';
import { Module } from './module.js';

/** Anything that maps a tensor to a tensor: a module with forward(), or a plain function. */
export interface TensorLayer {
  forward(x: Tensor): Tensor;
}
export type LayerLike = TensorLayer | ((x: Tensor) => Tensor);

export { callLayer, checkLayer } from '../ops/layer-call.js';

export interface ParamOptions {
  dtype?: FloatDType;
  backend?: string | Backend;
  rng?: Random;
}

/**
 * y = x·Wᵀ (+ bias), W [out, in]. Weights are kept in their own dtype (f32 master weights by
 * default) and cast to the activation dtype in forward, so bf16 activations train f32 weights.
 */
export class Linear extends Module implements TensorLayer {
  weight: Tensor;
  bias: Tensor | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: ParamOptions & { bias?: boolean } = {},
  ) {
    super();
    const bound = 1 / Math.sqrt(inFeatures);
    const o = { dtype: options.dtype ?? 'f32', backend: options.backend, rng: options.rng };
    this.weight = this.registerParameter(
      'weight',
      rand([outFeatures, inFeatures], { ...o, low: -bound, high: bound }),
    );
    this.bias = options.bias
      ? this.registerParameter('bias', rand([outFeatures], { ...o, low: -bound, high: bound }))
      : null;
  }

  forward(x: Tensor): Tensor {
    if (x.shape[x.rank - 1] !== this.inFeatures)
      throw new ShapeError('x', `[..., ${this.inFeatures}]`, x.shape);
    const w = this.weight.dtype === x.dtype ? this.weight : cast(this.weight, x.dtype);
    const y = matmul(x, w, { transB: true });
    if (!this.bias) return y;
    const b = this.bias.dtype === x.dtype ? this.bias : cast(this.bias, x.dtype);
    return add(y, b);
  }
}

/** Token embedding: weight [vocab, dim], normal(0, 1) init. */
export class Embedding extends Module {
  weight: Tensor;

  constructor(
    readonly vocab: number,
    readonly dim: number,
    options: ParamOptions = {},
  ) {
    super();
    this.weight = this.registerParameter(
      'weight',
      randn([vocab, dim], { dtype: options.dtype ?? 'f32', backend: options.backend, rng: options.rng }),
    );
  }

  forward(ids: Tensor): Tensor {
    return embedding(this.weight, ids);
  }
}

/** RMSNorm over the last axis with a learned scale (ones init). */
export class RMSNorm extends Module implements TensorLayer {
  weight: Tensor;

  constructor(
    readonly dim: number,
    readonly eps = 1e-6,
    options: Omit<ParamOptions, 'rng'> = {},
  ) {
    super();
    this.weight = this.registerParameter(
      'weight',
      ones([dim], { dtype: options.dtype ?? 'f32', backend: options.backend }),
    );
  }

  forward(x: Tensor): Tensor {
    const w = this.weight.dtype === x.dtype ? this.weight : cast(this.weight, x.dtype);
    return rmsNorm(x, w, this.eps);
  }
}

export type { DType };
