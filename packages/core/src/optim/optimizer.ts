import { ArgumentError, DTypeError, ShapeError } from '../errors.js';
import { zeros } from '../ops/creation.js';
import { keep, noGrad } from '../tensor/scope.js';
import { sameShape } from '../tensor/shape.js';
import { isTensor, type Tensor } from '../tensor/tensor.js';

/**
 * An optimizer's state as plain data plus tensors, as PyTorch's `optimizer.state_dict()`: the step
 * count, the hyperparameters, and per-parameter state tensors named `${index}.${slot}` (index in
 * the order the parameters were given; slots use PyTorch's names: exp_avg, exp_avg_sq,
 * momentum_buffer). The tensors are the optimizer's own: read or save them, do not dispose them.
 */
export interface OptimizerStateDict {
  kind: string;
  step: number;
  hyper: Record<string, number | boolean>;
  tensors: Record<string, Tensor>;
}

/** Shared parts of the optimizers: the parameter list, zeroGrad, per-parameter state, state dicts. */
export abstract class Optimizer {
  readonly params: Tensor[];
  /** Steps taken (restored by loadStateDict). */
  protected t = 0;
  /** Per-parameter state tensors by slot name, created on a parameter's first update. */
  protected readonly state = new Map<Tensor, Record<string, Tensor>>();
  protected abstract readonly kind: string;
  protected abstract readonly slots: readonly string[];

  constructor(params: Iterable<Tensor>) {
    if (params === null || typeof params !== 'object' || !(Symbol.iterator in Object(params)))
      throw new ArgumentError('params', 'expected an iterable of parameter tensors');
    this.params = [...params];
    if (this.params.length === 0) throw new ArgumentError('params', 'expected at least one parameter');
    this.params.forEach((p, i) => {
      if (!isTensor(p)) throw new ArgumentError(`params[${i}]`, 'expected a Tensor');
      if (!p.requiresGrad) throw new ArgumentError(`params[${i}]`, 'expected a tensor with requiresGrad');
    });
  }

  /** Steps taken so far. */
  get stepCount(): number {
    return this.t;
  }

  /** Apply one update from the parameters' `.grad` (parameters without a gradient are skipped). */
  step(): void {
    this.t++;
    noGrad(() => {
      for (const p of this.params) if (p.grad) this.update(p, p.grad);
    });
  }

  protected abstract update(p: Tensor, g: Tensor): void;

  /** The hyperparameters as plain data. */
  protected abstract hyper(): Record<string, number | boolean>;
  /** Check and apply hyperparameters from a state dict (all checked before any is set). */
  protected abstract setHyper(h: Record<string, unknown>): void;

  /** Check hyperparameters without applying them. */
  protected checkHyper(h: Record<string, unknown>): void {
    const saved = this.hyper();
    this.setHyper(h);
    this.setHyper(saved);
  }

  /** A parameter's state, created as f32 zeros on its backend the first time. */
  protected slotsOf(p: Tensor): Record<string, Tensor> {
    let s = this.state.get(p);
    if (!s) {
      s = {};
      for (const k of this.slots)
        s[k] = this.stateTensor(zeros(p.shape, { dtype: 'f32', backend: p.backend }));
      this.state.set(p, s);
    }
    return s;
  }

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

  stateDict(): OptimizerStateDict {
    const tensors: Record<string, Tensor> = {};
    this.params.forEach((p, i) => {
      const s = this.state.get(p);
      if (s) for (const k of this.slots) tensors[`${i}.${k}`] = s[k]!;
    });
    return { kind: this.kind, step: this.t, hyper: this.hyper(), tensors };
  }

  /**
   * Restore a state dict taken with stateDict() (possibly through a file). Everything is checked
   * (kind, step, hyperparameters, each tensor's name, shape and dtype) before anything changes;
   * values are copied into the optimizer's own tensors.
   */
  async loadStateDict(sd: OptimizerStateDict): Promise<void> {
    const writes = this.checkStateDict(sd);
    this.setHyper(sd.hyper ?? {});
    const { writeInto } = await import('../nn/param-io.js');
    // Parameters absent from the dict have taken no step yet: drop any state they had.
    for (const [p, s] of [...this.state]) {
      const i = this.params.indexOf(p);
      if (!this.slots.some((k) => Object.hasOwn(sd.tensors, `${i}.${k}`))) {
        for (const t of Object.values(s)) t.dispose();
        this.state.delete(p);
      }
    }
    for (const [p, slot, t] of writes) await writeInto(this.slotsOf(p)[slot]!, t);
    this.t = sd.step;
  }

  /** Check a state dict as loadStateDict would, changing nothing (throws naming what is wrong). */
  checkStateDict(sd: OptimizerStateDict): [Tensor, string, Tensor][] {
    if (sd === null || typeof sd !== 'object')
      throw new ArgumentError('state', 'expected an optimizer state dict');
    if (sd.kind !== this.kind)
      throw new ArgumentError('state.kind', `expected '${this.kind}', got ${JSON.stringify(sd.kind)}`);
    if (!Number.isSafeInteger(sd.step) || sd.step < 0)
      throw new ArgumentError('state.step', `expected a non-negative integer, got ${String(sd.step)}`);
    if (sd.tensors === null || typeof sd.tensors !== 'object')
      throw new ArgumentError('state.tensors', 'expected a record of tensors');
    const writes: [Tensor, string, Tensor][] = [];
    for (const [name, t] of Object.entries(sd.tensors)) {
      const m = /^(0|[1-9][0-9]*)\.([a-z_]+)$/.exec(name);
      const i = m ? Number(m[1]) : -1;
      if (!m || i >= this.params.length || !this.slots.includes(m[2]!))
        throw new ArgumentError(
          `state.tensors['${name}']`,
          `expected <parameter index < ${this.params.length}>.<${this.slots.join('|')}>`,
        );
      if (!isTensor(t)) throw new ArgumentError(`state.tensors['${name}']`, 'expected a Tensor');
      const p = this.params[i]!;
      if (!sameShape(t.shape, p.shape))
        throw new ShapeError(`state.tensors['${name}']`, `[${p.shape.join(', ')}]`, t.shape);
      if (t.dtype !== 'f32') throw new DTypeError(`state.tensors['${name}']`, 'f32', t.dtype);
      writes.push([p, m[2]!, t]);
    }
    for (const p of this.params) {
      const i = this.params.indexOf(p);
      const have = this.slots.filter((k) => Object.hasOwn(sd.tensors, `${i}.${k}`));
      if (have.length !== 0 && have.length !== this.slots.length)
        throw new ArgumentError('state.tensors', `parameter ${i} has some of its state slots but not all`);
    }
    this.checkHyper(sd.hyper ?? {});
    return writes;
  }

  /** Dispose the optimizer's state tensors (parameters and gradients stay the caller's). */
  dispose(): void {
    for (const s of this.state.values()) for (const t of Object.values(s)) t.dispose();
    this.state.clear();
  }
}
