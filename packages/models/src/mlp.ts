import {
  type Backend,
  gelu,
  Linear,
  Module,
  type Random,
  silu,
  type Tensor,
  type TensorLayer,
} from '@liger-mhc/core';

export type MlpActivation = 'gelu' | 'silu';

export interface MlpOptions {
  hidden?: number;
  activation?: MlpActivation;
  backend?: string | Backend;
  rng?: Random;
}

/** Linear(D, hidden) -> GELU or SiLU -> Linear(hidden, D), bias-free. */
export class MLP extends Module implements TensorLayer {
  readonly activation: MlpActivation;
  up: Linear;
  down: Linear;

  constructor(
    readonly dim: number,
    options: MlpOptions = {},
  ) {
    super();
    const hidden = options.hidden ?? 4 * dim;
    this.activation = options.activation ?? 'gelu';
    const o = { backend: options.backend, rng: options.rng, bias: false };
    this.up = this.registerModule('up', new Linear(dim, hidden, o));
    this.down = this.registerModule('down', new Linear(hidden, dim, o));
  }

  forward(x: Tensor): Tensor {
    const h = this.up.forward(x);
    return this.down.forward(this.activation === 'gelu' ? gelu(h) : silu(h));
  }
}
