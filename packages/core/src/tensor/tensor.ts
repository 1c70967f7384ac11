import { runBackward } from '../autograd/engine.js';
import type { GradNode } from '../autograd/node.js';
import type { Backend, TensorInfo } from '../backend/contract.js';
import { getBackend } from '../backend/registry.js';
import { type DType, decode, type StorageArray } from '../dtype.js';
import { ArgumentError, BackendError, DisposedTensorError } from '../errors.js';
import { setTensorPredicate, track, untrack } from './scope.js';
import { inferShape, sizeOf } from './shape.js';
import { Storage, storageFinalizer } from './storage.js';

let nextId = 1;

/**
 * An n-d array owned by exactly one backend. Storage is contiguous row-major; `reshape` returns a
 * view on the same storage. Crossing backends is explicit: `t.to('cpu')`.
 */
export class Tensor implements TensorInfo {
  readonly id = nextId++;
  readonly shape: readonly number[];
  readonly size: number;
  /** The operation that produced this tensor (null for leaves). */
  gradFn: GradNode | null = null;
  /** Which output of gradFn this tensor is. */
  outputIndex = 0;
  /** Accumulated gradient (leaves only), after backward(). */
  grad: Tensor | null = null;
  private _requiresGrad = false;
  private _storage: Storage | null;

  constructor(
    storage: Storage,
    shape: readonly number[],
    readonly dtype: DType,
  ) {
    this._storage = storage;
    this.shape = Object.freeze([...shape]);
    this.size = sizeOf(shape);
    storageFinalizer.register(this, storage, this);
    track(this);
  }

  /** Wrap a kernel result: the new tensor owns the storage. */
  static fromInfo(backend: Backend, info: TensorInfo): Tensor {
    return new Tensor(new Storage(backend, info.handle, sizeOf(info.shape)), info.shape, info.dtype);
  }

  get backend(): Backend {
    return this.storage('tensor').backend;
  }

  get handle() {
    return this.storage('tensor').handle;
  }

  get rank(): number {
    return this.shape.length;
  }

  get isDisposed(): boolean {
    return this._storage === null || this._storage.released;
  }

  get requiresGrad(): boolean {
    return this._requiresGrad;
  }

  set requiresGrad(v: boolean) {
    if (v && this.dtype === 'i32')
      throw new ArgumentError('requiresGrad', 'integer tensors cannot require grad');
    this._requiresGrad = v;
  }

  get isLeaf(): boolean {
    return this.gradFn === null;
  }

  /** Storage, or a DisposedTensorError naming `argument`. */
  storage(argument: string): Storage {
    const s = this._storage;
    if (s === null || s.released) throw new DisposedTensorError(argument);
    return s;
  }

  /** Throws if disposed; returns this (for argument checks). */
  live(argument: string): this {
    this.storage(argument);
    return this;
  }

  /** Values as numbers: Float32Array for float dtypes (half types decoded), Int32Array for i32. */
  async data(): Promise<Float32Array | Int32Array> {
    const s = this.storage('tensor');
    const raw = await s.backend.read(s.handle);
    return toValues(this.dtype, raw);
  }

  /** Synchronous values, for backends that can read synchronously (the CPU). */
  dataSync(): Float32Array | Int32Array {
    const s = this.storage('tensor');
    if (!s.backend.readSync)
      throw new BackendError(`backend '${s.backend.name}' cannot read synchronously: use await t.data()`);
    return toValues(this.dtype, s.backend.readSync(s.handle));
  }

  /** The raw storage (16-bit patterns for f16/bf16). */
  async dataRaw(): Promise<StorageArray> {
    const s = this.storage('tensor');
    return s.backend.read(s.handle);
  }

  /** The first element as a number (for scalars such as a loss). */
  async item(): Promise<number> {
    const d = await this.data();
    if (d.length === 0) throw new ArgumentError('tensor', 'item() of an empty tensor');
    return d[0]!;
  }

  /**
   * A view with another shape (one -1 allowed). Shares storage; gradients flow through it.
   */
  reshape(shape: readonly number[]): Tensor {
    const s = this.storage('tensor');
    const target = inferShape('shape', shape, this.size);
    s.retain();
    const out = new Tensor(s, target, this.dtype);
    reshapeHook?.(this, out);
    return out;
  }

  /** A copy on another backend (by name or instance). Not differentiable. */
  async to(target: string | Backend): Promise<Tensor> {
    const dst = typeof target === 'string' ? getBackend(target) : target;
    const s = this.storage('tensor');
    const raw = await s.backend.read(s.handle);
    const h = dst.alloc(this.dtype, this.size);
    dst.write(h, raw);
    return new Tensor(new Storage(dst, h, this.size), this.shape, this.dtype);
  }

  /** Release this tensor's reference to its storage now. Idempotent. */
  dispose(): void {
    const s = this._storage;
    if (s === null) return;
    this._storage = null;
    storageFinalizer.unregister(this);
    untrack(this);
    s.release();
  }

  /** Reverse-mode autodiff from this tensor. A scalar needs no gradOutput. */
  backward(gradOutput?: Tensor, options: { retainGraph?: boolean } = {}): void {
    runBackward(this, gradOutput, options.retainGraph ?? false);
  }

  toString(): string {
    return `Tensor(${this.dtype}, [${this.shape.join(', ')}], ${this._storage?.backend.name ?? 'disposed'})`;
  }
}

function toValues(dtype: DType, raw: StorageArray): Float32Array | Int32Array {
  if (dtype === 'i32') return raw as Int32Array;
  if (dtype === 'f32') return raw as Float32Array;
  return Float32Array.from(decode(dtype, raw));
}

/** Set by the autograd ops module so reshape records a gradient node without an import cycle. */
let reshapeHook: ((src: Tensor, view: Tensor) => void) | null = null;
export function setReshapeHook(fn: (src: Tensor, view: Tensor) => void): void {
  reshapeHook = fn;
}

export function isTensor(x: unknown): x is Tensor {
  return x instanceof Tensor;
}
setTensorPredicate(isTensor);
