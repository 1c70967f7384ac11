import type { Tensor } from '../tensor/tensor.js';
import { checkBoolean, checkNumber, checkOptionKeys } from '../util/options.js';
import { Optimizer } from './optimizer.js';

export interface SgdOptions {
  lr?: number;
  momentum?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

const KEYS = ['lr', 'momentum', 'weightDecay', 'nesterov'] as const;

/** SGD with optional momentum (f32 buffers), Nesterov and L2 weight decay. */
export class SGD extends Optimizer {
  lr: number;
  momentum: number;
  weightDecay: number;
  nesterov: boolean;
  protected readonly kind = 'sgd';
  protected readonly slots = ['momentum_buffer'] as const;

  constructor(params: Iterable<Tensor>, options: SgdOptions = {}) {
    super(params);
    checkOptionKeys('options', options, KEYS);
    this.lr = checkNumber('options.lr', options.lr ?? 1e-2, { min: 0 });
    this.momentum = checkNumber('options.momentum', options.momentum ?? 0, { min: 0 });
    this.weightDecay = checkNumber('options.weightDecay', options.weightDecay ?? 0, { min: 0 });
    this.nesterov = checkBoolean('options.nesterov', options.nesterov ?? false);
  }

  protected update(p: Tensor, g: Tensor): void {
    // Without momentum SGD keeps no state at all.
    const buf = this.momentum !== 0 ? this.slotsOf(p).momentum_buffer! : null;
    p.backend.ops.sgdStep(p, g, buf, {
      lr: this.lr,
      momentum: this.momentum,
      weightDecay: this.weightDecay,
      nesterov: this.nesterov,
    });
  }

  protected hyper(): Record<string, number | boolean> {
    return { lr: this.lr, momentum: this.momentum, weightDecay: this.weightDecay, nesterov: this.nesterov };
  }

  protected setHyper(h: Record<string, unknown>): void {
    checkOptionKeys('state.hyper', h, KEYS);
    const lr = checkNumber('state.hyper.lr', h.lr ?? this.lr, { min: 0 });
    const momentum = checkNumber('state.hyper.momentum', h.momentum ?? this.momentum, { min: 0 });
    const weightDecay = checkNumber('state.hyper.weightDecay', h.weightDecay ?? this.weightDecay, { min: 0 });
    const nesterov = checkBoolean('state.hyper.nesterov', h.nesterov ?? this.nesterov);
    Object.assign(this, { lr, momentum, weightDecay, nesterov });
  }
}
