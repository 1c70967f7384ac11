import { ArgumentError } from '../errors.js';
import type { LayerLike, TensorLayer } from '../nn/layers.js';
import { isTensor, type Tensor } from '../tensor/tensor.js';
import { fmt } from '../util/options.js';

/** A layer argument must be a function of a tensor or an object with forward(). */
export function checkLayer(argument: string, layer: unknown): asserts layer is LayerLike {
  if (typeof layer === 'function') return;
  if (layer !== null && typeof layer === 'object' && typeof (layer as TensorLayer).forward === 'function')
    return;
  throw new ArgumentError(
    argument,
    `expected a function (x: Tensor) => Tensor or an object with forward(x), got ${fmt(layer)}`,
  );
}

/** Run a layer, checking that it returned a tensor (its output feeds our kernels). */
export function callLayer(layer: LayerLike, x: Tensor, argument = 'layer'): Tensor {
  checkLayer(argument, layer);
  const y = typeof layer === 'function' ? layer(x) : layer.forward(x);
  if (!isTensor(y)) throw new ArgumentError(argument, `expected the layer to return a Tensor, got ${fmt(y)}`);
  return y;
}
