import { isFloat } from '../dtype.js';
import { ArgumentError, DTypeError, ShapeError } from '../errors.js';
import { keep, ownIntermediates } from '../tensor/scope.js';
import { sameShape } from '../tensor/shape.js';
import { isTensor, type Tensor } from '../tensor/tensor.js';

/**
 * Base class for layers: named parameters and child modules, walked in registration order, a state
 * dict, train/eval mode and deterministic disposal. Parameters are kept out of tidy scopes.
 */
const callWrappers = new WeakSet<object>();

/**
 * The method a module actually runs for `name`: the prototype's when the instance holds only the
 * constructor's scope wrapper, else the instance's own replacement.
 */
export function effectiveMethod(m: Module, name: 'forward' | 'loss'): unknown {
  const own = Object.getOwnPropertyDescriptor(m, name)?.value as object | undefined;
  return own === undefined || callWrappers.has(own)
    ? (Object.getPrototypeOf(m) as Record<string, unknown>)[name]
    : own;
}

export abstract class Module {
  private readonly _params = new Map<string, Tensor>();
  private readonly _children = new Map<string, Module>();
  training = true;

  constructor() {
    // forward() and loss() release their intermediates themselves when called outside any scope
    // (ownIntermediates), so a plain loop needs no tidy. The method is looked up at each call, so
    // subclasses, spies and later reassignments of the prototype's method keep working.
    for (const name of ['forward', 'loss'] as const) {
      if (typeof (this as Record<string, unknown>)[name] !== 'function') continue;
      const value = function (this: Module, ...args: unknown[]) {
        const impl = (Object.getPrototypeOf(this) as Record<string, (...a: unknown[]) => unknown>)[name]!;
        return ownIntermediates(() => impl.apply(this, args));
      };
      callWrappers.add(value);
      Object.defineProperty(this, name, { configurable: true, writable: true, value });
    }
  }

  protected registerParameter(name: string, t: Tensor): Tensor {
    t.requiresGrad = true;
    keep(t);
    this._params.set(name, t);
    return t;
  }

  protected registerModule<M extends Module>(name: string, m: M): M {
    this._children.set(name, m);
    return m;
  }

  /** Replace a parameter's tensor (used by loadStateDict and backend moves). */
  protected setParameter(name: string, t: Tensor): void {
    if (!this._params.has(name)) throw new ArgumentError('name', `no parameter '${name}'`);
    t.requiresGrad = true;
    keep(t);
    this._params.set(name, t);
    (this as unknown as Record<string, unknown>)[name] = t;
  }

  /** Replace a child module (used by patching). Returns the previous one. */
  replaceModule(name: string, m: Module): Module {
    const old = this._children.get(name);
    if (!old) throw new ArgumentError('name', `no child module '${name}'`);
    this._children.set(name, m);
    const self = this as unknown as Record<string, unknown>;
    for (const key of Object.keys(self)) if (self[key] === old) self[key] = m;
    return old;
  }

  *namedParameters(prefix = ''): Generator<[string, Tensor]> {
    for (const [n, p] of this._params) yield [prefix + n, p];
    for (const [n, c] of this._children) yield* c.namedParameters(`${prefix}${n}.`);
  }

  parameters(): Tensor[] {
    return [...this.namedParameters()].map(([, p]) => p);
  }

  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [n, c] of this._children) yield* c.namedModules(prefix ? `${prefix}.${n}` : n);
  }

  children(): [string, Module][] {
    return [...this._children.entries()];
  }

  train(on = true): this {
    for (const [, m] of this.namedModules()) m.training = on;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Parameter tensors by dotted name (the live tensors, not copies). */
  stateDict(): Record<string, Tensor> {
    return Object.fromEntries(this.namedParameters());
  }

  /**
   * Load values into the parameters (copied onto each parameter's backend and dtype). Every name
   * and shape is checked before anything is written.
   */
  async loadStateDict(state: Record<string, Tensor>, options: { strict?: boolean } = {}): Promise<void> {
    if (state === null || typeof state !== 'object')
      throw new ArgumentError('state', 'expected a record of tensors');
    const strict = options.strict ?? true;
    const own = new Map(this.namedParameters());
    // Own keys only: a name such as 'constructor' must not resolve through Object.prototype.
    const has = (k: string) => Object.hasOwn(state, k);
    for (const [k, v] of Object.entries(state))
      if (!isTensor(v)) throw new ArgumentError(`state['${k}']`, 'expected a Tensor');
    if (strict) {
      const missing = [...own.keys()].filter((k) => !has(k));
      const extra = Object.keys(state).filter((k) => !own.has(k));
      if (missing.length || extra.length)
        throw new ArgumentError(
          'state',
          `state dict mismatch: missing [${missing.join(', ')}], unexpected [${extra.join(', ')}]`,
        );
    }
    for (const [name, p] of own) {
      const t = has(name) ? state[name] : undefined;
      if (t && !sameShape(t.shape, p.shape))
        throw new ShapeError(`state['${name}']`, `[${p.shape.join(', ')}]`, t.shape);
      // Floats convert between float dtypes; an integer tensor in a float slot (or the reverse) is
      // a mismatched checkpoint, not something to round silently.
      if (t && isFloat(t.dtype) !== isFloat(p.dtype))
        throw new DTypeError(`state['${name}']`, isFloat(p.dtype) ? 'a float dtype' : 'i32', t.dtype);
    }
    const { writeInto } = await import('./param-io.js');
    for (const [name, p] of own) {
      const t = has(name) ? state[name] : undefined;
      if (t) await writeInto(p, t);
    }
  }

  /** Dispose every parameter and its gradient. */
  dispose(): void {
    for (const p of this.parameters()) {
      p.grad?.dispose();
      p.grad = null;
      p.dispose();
    }
  }
}
