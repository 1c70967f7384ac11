import { ArgumentError } from '../errors.js';
import { keep, noGrad } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';

/** Shared parts of the optimizers: the parameter list, zeroGrad, state disposal. */
export abstract class Optimizer {
  readonly params: Tensor[];

  constructor(params: Iterable<Tensor>) {
    this.params = [...params];
    if (this.params.length === 0) throw new ArgumentError('params', 'expected at least one parameter');
    this.params.forEach((p, i) => {
      if (!p.requiresGrad) throw new ArgumentError(`params[${i}]`, 'expected a tensor with requiresGrad');
    });
  }

  /** Apply one update from the parameters' `.grad` (parameters without a gradient are skipped). */
  step(): void {
    noGrad(() => {
      for (const p of this.params) if (p.grad) this.update(p, p.grad);
    });
  }

  protected abstract update(p: Tensor, g: Tensor): void;

  /** Dispose and clear every parameter's gradient. */
  zeroGrad(): void {
    for (const p of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** Optimizer state lives on the parameter's backend, outside tidy scopes. */
  protected stateTensor(t: Tensor): Tensor {
    return keep(t);
  }

  abstract dispose(): void;
}
