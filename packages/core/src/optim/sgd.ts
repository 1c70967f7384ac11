import { zeros } from '../ops/creation.js';
import type { Tensor } from '../tensor/tensor.js';
import { Optimizer } from './optimizer.js';

export interface SgdOptions {
  lr?: number;
  momentum?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

/** SGD with optional momentum (f32 buffers), Nesterov and L2 weight decay. */
export class SGD extends Optimizer {
  lr: number;
  readonly momentum: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
  private readonly buffers = new Map<Tensor, Tensor>();

  constructor(params: Iterable<Tensor>, options: SgdOptions = {}) {
    super(params);
    this.lr = options.lr ?? 1e-2;
    this.momentum = options.momentum ?? 0;
    this.weightDecay = options.weightDecay ?? 0;
    this.nesterov = options.nesterov ?? false;
  }

  protected update(p: Tensor, g: Tensor): void {
    let buf: Tensor | null = null;
    if (this.momentum !== 0) {
      buf = this.buffers.get(p) ?? null;
      if (!buf) {
        buf = this.stateTensor(zeros(p.shape, { dtype: 'f32', backend: p.backend }));
        this.buffers.set(p, buf);
      }
    }
    p.backend.ops.sgdStep(p, g, buf, {
      lr: this.lr,
      momentum: this.momentum,
      weightDecay: this.weightDecay,
      nesterov: this.nesterov,
    });
  }

  dispose(): void {
    for (const b of this.buffers.values()) b.dispose();
    this.buffers.clear();
  }
}
