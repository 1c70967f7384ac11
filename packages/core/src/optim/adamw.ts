import { zeros } from '../ops/creation.js';
import type { Tensor } from '../tensor/tensor.js';
import { Optimizer } from './optimizer.js';

export interface AdamWOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

/** AdamW (decoupled weight decay), with f32 moments on each parameter's backend. */
export class AdamW extends Optimizer {
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  private t = 0;
  private readonly state = new Map<Tensor, { m: Tensor; v: Tensor }>();

  constructor(params: Iterable<Tensor>, options: AdamWOptions = {}) {
    super(params);
    this.lr = options.lr ?? 1e-3;
    [this.beta1, this.beta2] = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.01;
  }

  override step(): void {
    this.t++;
    super.step();
  }

  protected update(p: Tensor, g: Tensor): void {
    let s = this.state.get(p);
    if (!s) {
      s = {
        m: this.stateTensor(zeros(p.shape, { dtype: 'f32', backend: p.backend })),
        v: this.stateTensor(zeros(p.shape, { dtype: 'f32', backend: p.backend })),
      };
      this.state.set(p, s);
    }
    p.backend.ops.adamwStep(p, g, s.m, s.v, {
      lr: this.lr,
      beta1: this.beta1,
      beta2: this.beta2,
      eps: this.eps,
      weightDecay: this.weightDecay,
      step: this.t,
    });
  }

  dispose(): void {
    for (const s of this.state.values()) {
      s.m.dispose();
      s.v.dispose();
    }
    this.state.clear();
  }
}
