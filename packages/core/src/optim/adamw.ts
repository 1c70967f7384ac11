import { ArgumentError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { checkNumber, checkOptionKeys } from '../util/options.js';
import { Optimizer } from './optimizer.js';

export interface AdamWOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

const KEYS = ['lr', 'betas', 'eps', 'weightDecay'] as const;

/** AdamW (decoupled weight decay), with f32 moments on each parameter's backend. */
export class AdamW extends Optimizer {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  protected readonly kind = 'adamw';
  protected readonly slots = ['exp_avg', 'exp_avg_sq'] as const;

  constructor(params: Iterable<Tensor>, options: AdamWOptions = {}) {
    super(params);
    checkOptionKeys('options', options, KEYS);
    const betas = options.betas ?? [0.9, 0.999];
    if (!Array.isArray(betas) || betas.length !== 2)
      throw new ArgumentError('options.betas', 'expected a pair [beta1, beta2]');
    this.lr = checkNumber('options.lr', options.lr ?? 1e-3, { min: 0 });
    this.beta1 = checkNumber('options.betas[0]', betas[0], { min: 0, max: 1 });
    this.beta2 = checkNumber('options.betas[1]', betas[1], { min: 0, max: 1 });
    this.eps = checkNumber('options.eps', options.eps ?? 1e-8, { min: 0 });
    this.weightDecay = checkNumber('options.weightDecay', options.weightDecay ?? 0.01, { min: 0 });
  }

  protected update(p: Tensor, g: Tensor): void {
    const s = this.slotsOf(p);
    p.backend.ops.adamwStep(p, g, s.exp_avg!, s.exp_avg_sq!, {
      lr: this.lr,
      beta1: this.beta1,
      beta2: this.beta2,
      eps: this.eps,
      weightDecay: this.weightDecay,
      step: this.t,
    });
  }

  protected hyper(): Record<string, number> {
    return {
      lr: this.lr,
      beta1: this.beta1,
      beta2: this.beta2,
      eps: this.eps,
      weightDecay: this.weightDecay,
    };
  }

  protected setHyper(h: Record<string, unknown>): void {
    checkOptionKeys('state.hyper', h, ['lr', 'beta1', 'beta2', 'eps', 'weightDecay']);
    const lr = checkNumber('state.hyper.lr', h.lr ?? this.lr, { min: 0 });
    const beta1 = checkNumber('state.hyper.beta1', h.beta1 ?? this.beta1, { min: 0, max: 1 });
    const beta2 = checkNumber('state.hyper.beta2', h.beta2 ?? this.beta2, { min: 0, max: 1 });
    const eps = checkNumber('state.hyper.eps', h.eps ?? this.eps, { min: 0 });
    const weightDecay = checkNumber('state.hyper.weightDecay', h.weightDecay ?? this.weightDecay, { min: 0 });
    Object.assign(this, { lr, beta1, beta2, eps, weightDecay });
  }
}
