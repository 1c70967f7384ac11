import {
  ArgumentError,
  add,
  broadcastTo,
  callLayer,
  type LayerLike,
  Module,
  ShapeError,
  sum,
  type Tensor,
  type TensorLayer,
} from '@liger-mhc/core';

/**
 * The pieces that make a residual model hyper-connectable. A model built from them runs either
 * with a plain residual (no stream axis) or with `hc` residual streams, and `hyperConnect` in
 * @liger-mhc/patch switches one to the other by finding these modules in the tree.
 */

/**
 * After the embedding: [..., D] -> [..., hc, D] by copying the hidden state onto every stream (as
 * hyper-connections' expand does), or the identity while `streams` is null (plain residual).
 */
export class ExpandStreams extends Module implements TensorLayer {
  constructor(public streams: number | null) {
    super();
    if (streams !== null && !(Number.isInteger(streams) && streams >= 1))
      throw new ArgumentError('streams', `expected an integer >= 1 or null, got ${streams}`);
  }

  forward(x: Tensor): Tensor {
    if (this.streams === null) return x;
    const d = x.shape[x.rank - 1]!;
    const lead = x.shape.slice(0, -1);
    return broadcastTo(x.reshape([...lead, 1, d]), [...lead, this.streams, d]);
  }
}

/**
 * Before the head: [..., hc, D] -> [..., D] by summing the streams (the scale that the sum adds is
 * taken out by the final RMSNorm), or the identity while `streams` is null.
 */
export class ReduceStreams extends Module implements TensorLayer {
  constructor(public streams: number | null) {
    super();
  }

  forward(x: Tensor): Tensor {
    if (this.streams === null) return x;
    if (x.rank < 2 || x.shape[x.rank - 2] !== this.streams)
      throw new ShapeError('x', `[..., ${this.streams}, D]`, x.shape);
    return sum(x, [-2]);
  }
}

/** The plain residual connection x + layer(x): what mHC generalises (hc = 1, no mixing). */
export class Residual extends Module implements TensorLayer {
  layer: LayerLike;

  /** `dim`, the branch width, lets hyperConnect size the mHC layer that replaces this one. */
  constructor(
    layer: LayerLike,
    readonly dim?: number,
  ) {
    super();
    this.layer = layer;
    if (layer instanceof Module) this.registerModule('layer', layer);
  }

  forward(x: Tensor): Tensor {
    return add(x, callLayer(this.layer, x));
  }
}

/** norm -> fn: the pre-norm residual branch of a transformer block. */
export class PreNorm extends Module implements TensorLayer {
  constructor(
    readonly norm: Module & TensorLayer,
    readonly fn: Module & TensorLayer,
  ) {
    super();
    this.registerModule('norm', norm);
    this.registerModule('fn', fn);
  }

  forward(x: Tensor): Tensor {
    return this.fn.forward(this.norm.forward(x));
  }
}
