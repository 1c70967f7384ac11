import type {
  Backend,
  BackendCapabilities,
  DataHandle,
  MemoryInfo,
  TensorInfo,
} from '../backend/contract.js';
import { allocStorage, bytesPerElement, type DType, type StorageArray } from '../dtype.js';
import { ArgumentError, DTypeError } from '../errors.js';
import { checkThreads, defaultCpuThreads } from '../flags.js';
import { CpuHandle, type CpuOutput, cpuOutput } from './cpu-handle.js';
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
    const h = new CpuHandle(allocStorage(dtype, size), dtype);
    this.adopt(h);
    return h;
  }

  /** Account for a handle created by a kernel. */
  adopt = (h: CpuHandle): void => {
    this.live.add(h);
    this.liveBytes += h.data.length * bytesPerElement(h.dtype);
    if (this.liveBytes > this.peak) this.peak = this.liveBytes;
  };

  /** An output buffer for a kernel (see CpuOutput). */
  output(shape: readonly number[], dtype: DType): CpuOutput {
    return cpuOutput(shape, dtype, this.adopt);
  }

  write(handle: DataHandle, data: StorageArray): void {
    const h = this.handle(handle);
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
    return this.handle(handle).data.slice();
  }

  disposeData(handle: DataHandle): void {
    const h = handle as CpuHandle;
    if (!(h instanceof CpuHandle) || h.disposed) return;
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

  private handle(handle: DataHandle): CpuHandle {
    if (!(handle instanceof CpuHandle)) throw new ArgumentError('handle', 'expected a CPU handle');
    if (handle.disposed) throw new ArgumentError('handle', 'storage has been disposed');
    return handle;
  }
}

export type { TensorInfo };
