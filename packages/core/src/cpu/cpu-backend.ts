import type {
  Backend,
  BackendCapabilities,
  DataHandle,
  MemoryInfo,
  TensorInfo,
} from '../backend/contract.js';
import { allocStorage, bytesPerElement, type DType, isDType, type StorageArray } from '../dtype.js';
import { ArgumentError, BackendError, DisposedTensorError, DTypeError } from '../errors.js';
import { checkThreads, defaultCpuThreads } from '../flags.js';
import { fmt } from '../util/options.js';
import { allocate, CpuHandle, type CpuOutput, cpuOutput, notCpuStorage } from './cpu-handle.js';
import { CpuGenericKernels } from './generic/cpu-generic-kernels.js';
import { CpuMhcKernels } from './mhc/cpu-mhc-kernels.js';
import { CpuThreadPool } from './threads/pool.js';

export interface CpuBackendOptions {
  /** Threads for the heavy kernels, the calling thread included (default: see CPU_THREADS_ENV). */
  threads?: number;
}

/**
 * The CPU reference backend: always available, and the oracle the GPU backends are tested against.
 * Math runs in JS numbers (f64) over typed arrays; storage is f32, or 16-bit patterns for f16/bf16.
 */
export class CpuBackend implements Backend {
  readonly name = 'cpu';
  readonly capabilities: BackendCapabilities = { dtypes: ['f32', 'f16', 'bf16', 'i32'], device: 'cpu' };
  readonly mhc: CpuMhcKernels;
  readonly ops: CpuGenericKernels;
  private live = new Set<CpuHandle>();
  private liveBytes = 0;
  private peak = 0;
  private threadCount: number;
  /** undefined: not started yet (workers start on the first kernel that uses them). */
  private threadPool: CpuThreadPool | null | undefined;

  constructor(options: CpuBackendOptions = {}) {
    this.threadCount =
      options.threads === undefined ? defaultCpuThreads() : checkThreads(options.threads, 'threads');
    this.mhc = new CpuMhcKernels(this);
    this.ops = new CpuGenericKernels(this);
  }

  /** Threads the heavy kernels use (the calling thread included). */
  get threads(): number {
    return this.threadCount;
  }

  /** Change the thread count; the workers of the old count stop now, new ones start when needed. */
  setThreads(threads: number): void {
    checkThreads(threads, 'threads');
    if (threads === this.threadCount) return;
    this.threadPool?.dispose();
    this.threadPool = undefined;
    this.threadCount = threads;
  }

  /** The worker pool for a kernel, or null: one thread, or no workers in this runtime. */
  pool(): CpuThreadPool | null {
    if (this.threadPool === undefined) this.threadPool = CpuThreadPool.create(this.threadCount);
    return this.threadPool;
  }

  alloc(dtype: DType, size: number): DataHandle {
    if (!isDType(dtype)) throw new DTypeError('dtype', 'one of f32, f16, bf16, i32', String(dtype));
    // A typed array silently truncates 1.5 and throws a bare RangeError for -1 or 2**40.
    if (!Number.isSafeInteger(size) || size < 0)
      throw new ArgumentError('size', `expected a non-negative integer element count, got ${fmt(size)}`);
    const data = allocate('size', [size], () => allocStorage(dtype, size), bytesPerElement(dtype));
    const h = new CpuHandle(data, dtype);
    this.adopt(h);
    return h;
  }

  /** Account for a handle created by a kernel: from here on it is this backend's storage. */
  adopt = (h: CpuHandle): void => {
    h.owner = this;
    this.live.add(h);
    this.liveBytes += h.data.length * bytesPerElement(h.dtype);
    if (this.liveBytes > this.peak) this.peak = this.liveBytes;
  };

  /** An output buffer for a kernel (see CpuOutput). */
  output(shape: readonly number[], dtype: DType): CpuOutput {
    return cpuOutput(shape, dtype, this.adopt);
  }

  write(handle: DataHandle, data: StorageArray): void {
    const h = this.handle(handle, 'handle');
    if (data.length !== h.data.length)
      throw new ArgumentError('data', `expected ${h.data.length} elements, got ${data.length}`);
    const expected = allocStorage(h.dtype, 0).constructor;
    if (data.constructor !== expected)
      throw new DTypeError('data', `${expected.name} storage for ${h.dtype}`, data.constructor.name);
    h.data.set(data as never);
  }

  async read(handle: DataHandle): Promise<StorageArray> {
    return this.readSync(handle);
  }

  readSync(handle: DataHandle): StorageArray {
    return this.handle(handle, 'handle').data.slice();
  }

  disposeData(handle: DataHandle): void {
    const h = handle as CpuHandle;
    // Another backend's storage is not ours to free (its owner's accounting would go wrong).
    if (!(h instanceof CpuHandle) || h.disposed || h.owner !== this) return;
    h.disposed = true;
    if (this.live.delete(h)) this.liveBytes -= h.data.length * bytesPerElement(h.dtype);
    h.data = allocStorage(h.dtype, 0);
  }

  memory(): MemoryInfo {
    return {
      liveBuffers: this.live.size,
      liveBytes: this.liveBytes,
      pooledBuffers: 0,
      pooledBytes: 0,
      peakBytes: this.peak,
    };
  }

  resetPeak(): void {
    this.peak = this.liveBytes;
  }

  async sync(): Promise<void> {}

  dispose(): void {
    for (const h of [...this.live]) this.disposeData(h);
    this.threadPool?.dispose();
    this.threadPool = undefined;
  }

  /**
   * Check every tensor argument of a kernel (arrays of them too, named `xs[i]`) before it allocates
   * or writes anything: live, and storage of this instance. Other values are skipped, so a kernel
   * can pass its whole argument object.
   */
  check(args: object): void {
    for (const [name, v] of Object.entries(args)) {
      if (Array.isArray(v)) for (let i = 0; i < v.length; i++) this.checkOne(v[i], `${name}[${i}]`);
      else this.checkOne(v, name);
    }
  }

  private checkOne(v: unknown, name: string): void {
    if (v !== null && typeof v === 'object' && 'handle' in v && 'shape' in v)
      this.handle((v as TensorInfo).handle, name);
  }

  /** The CpuHandle of `handle`, or the typed error naming `argument` (as the GPU backends word it). */
  private handle(handle: DataHandle, argument: string): CpuHandle {
    if (!(handle instanceof CpuHandle)) throw notCpuStorage(argument);
    if (handle.owner !== this)
      throw new BackendError(`${argument}: the tensor belongs to another cpu backend instance`, argument);
    if (handle.disposed) throw new DisposedTensorError(argument);
    return handle;
  }
}

export type { TensorInfo };
