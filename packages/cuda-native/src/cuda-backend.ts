import {
  ArgumentError,
  allocStorage,
  type Backend,
  type BackendCapabilities,
  BackendError,
  bytesPerElement,
  type DataHandle,
  DisposedTensorError,
  type DType,
  DTypeError,
  type MemoryInfo,
  type StorageArray,
  sizeOf,
  type TensorInfo,
} from '@liger-mhc/core';
import { CudaHandle } from './cuda-handle.js';
import { CudaUnavailableError, mapNativeError } from './errors.js';
import { applyNativeEnv } from './flags.js';
import { CudaGenericKernels } from './generic/cuda-generic-kernels.js';
import { CudaMhcKernels } from './mhc/cuda-mhc-kernels.js';
import {
  type Addon,
  loadAddon,
  type NativeBuffer,
  type NativeDevice,
  type NativeDeviceInfo,
} from './native.js';

export interface CudaBackendOptions {
  /** CUDA device ordinal (default 0). */
  device?: number;
}

/** Extra memory figures beyond the Backend contract (for benchmarks). */
export interface CudaMemoryInfo extends MemoryInfo {
  reservedBytes: number;
  peakReservedBytes: number;
}

/**
 * The CUDA backend: storage is device memory from a caching allocator in the addon; kernels are
 * enqueued on the backend's one stream and return at once; `read` and `sync` resolve once the stream
 * has reached them, waited for on a worker thread so the event loop stays free.
 */
export class CudaBackend implements Backend {
  readonly name = 'cuda';
  readonly capabilities: BackendCapabilities;
  readonly mhc: CudaMhcKernels;
  readonly ops: CudaGenericKernels;
  readonly info: NativeDeviceInfo;
  private disposed = false;

  constructor(readonly device: NativeDevice) {
    this.info = device.info();
    this.capabilities = {
      dtypes: ['f32', 'f16', 'bf16', 'i32'],
      device: `${this.info.name} (sm_${this.info.computeCapability.replace('.', '')}, ${this.info.sms} SMs) via CUDA; matmul: ${
        this.info.cublas ? `cuBLAS ${this.info.cublas}` : 'built-in kernel (cuBLAS not found)'
      }`,
    };
    this.mhc = new CudaMhcKernels(this);
    this.ops = new CudaGenericKernels(this);
  }

  alloc(dtype: DType, size: number): DataHandle {
    return this.allocHandle(dtype, size, true);
  }

  /** A TensorInfo for a kernel output (contents undefined until the kernel writes it). */
  output(shape: readonly number[], dtype: DType, zero = false): TensorInfo {
    return { handle: this.allocHandle(dtype, sizeOf(shape), zero), shape: [...shape], dtype };
  }

  private allocHandle(dtype: DType, size: number, zero: boolean): CudaHandle {
    this.checkLive();
    if (!Number.isInteger(size) || size < 0)
      throw new ArgumentError('size', `expected a non-negative integer, got ${size}`);
    try {
      return new CudaHandle(this, this.device.alloc(size * bytesPerElement(dtype), zero), dtype, size);
    } catch (e) {
      throw mapNativeError(e);
    }
  }

  write(handle: DataHandle, data: StorageArray): void {
    const h = this.handle(handle, 'handle');
    if (data.length !== h.size)
      throw new ArgumentError('data', `expected ${h.size} elements, got ${data.length}`);
    const expected = allocStorage(h.dtype, 0).constructor;
    if (data.constructor !== expected)
      throw new DTypeError('data', `${expected.name} storage for ${h.dtype}`, data.constructor.name);
    try {
      this.device.write(h.buffer!, data);
    } catch (e) {
      throw mapNativeError(e);
    }
  }

  async read(handle: DataHandle): Promise<StorageArray> {
    const h = this.handle(handle, 'handle');
    let ab: ArrayBuffer;
    try {
      ab = await this.device.read(h.buffer!);
    } catch (e) {
      throw mapNativeError(e);
    }
    switch (h.dtype) {
      case 'f32':
        return new Float32Array(ab);
      case 'i32':
        return new Int32Array(ab);
      default:
        return new Uint16Array(ab);
    }
  }

  disposeData(handle: DataHandle): void {
    if (!(handle instanceof CudaHandle) || handle.owner !== this) return;
    const b = handle.buffer;
    handle.buffer = null;
    if (b && !b.freed) b.free();
  }

  memory(): CudaMemoryInfo {
    if (this.disposed)
      return {
        liveBuffers: 0,
        liveBytes: 0,
        pooledBuffers: 0,
        pooledBytes: 0,
        peakBytes: 0,
        reservedBytes: 0,
        peakReservedBytes: 0,
      };
    return this.device.memory();
  }

  resetPeak(): void {
    this.checkLive();
    this.device.resetPeak();
  }

  /** Give the pooled (unused) device memory back to the driver. */
  emptyCache(): void {
    this.checkLive();
    this.device.emptyCache();
  }

  async sync(): Promise<void> {
    this.checkLive();
    try {
      await this.device.sync();
    } catch (e) {
      throw mapNativeError(e);
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.device.dispose();
  }

  /** The native buffer of a tensor argument, after checking it is live and ours. */
  buf(t: TensorInfo, name: string): NativeBuffer {
    return this.handle(t.handle, name).buffer!;
  }

  /** Enqueue a kernel from the addon's op table. */
  launch(kernel: string, buffers: (NativeBuffer | null)[], params: readonly number[]): void {
    this.checkLive();
    try {
      this.device.launch(kernel, buffers, Float64Array.from(params));
    } catch (e) {
      throw mapNativeError(e);
    }
  }

  private handle(handle: DataHandle, name: string): CudaHandle {
    if (!(handle instanceof CudaHandle))
      throw new BackendError(
        `${name}: expected a tensor on backend 'cuda', got one from another backend; move it with await t.to('cuda')`,
      );
    if (handle.owner !== this)
      throw new BackendError(`${name}: the tensor belongs to another CUDA backend instance`);
    if (handle.disposed) throw new DisposedTensorError(name);
    return handle;
  }

  private checkLive(): void {
    if (this.disposed) throw new BackendError('the CUDA backend has been disposed');
  }
}

/**
 * Create a CUDA backend. Rejects with `CUDA backend unavailable: <reason>` where the addon was not
 * built, no driver or device exists, or CUDA cannot start; never crashes the process.
 */
export async function createCudaBackend(options: CudaBackendOptions = {}): Promise<CudaBackend> {
  const loaded = loadAddon();
  if ('error' in loaded) throw new CudaUnavailableError(loaded.error);
  const addon: Addon = loaded.addon;
  let probe: ReturnType<Addon['probe']>;
  try {
    probe = addon.probe();
  } catch (e) {
    throw new CudaUnavailableError(e instanceof Error ? e.message : String(e));
  }
  if (!probe.ok) throw new CudaUnavailableError(probe.reason || 'no CUDA device found');
  const index = options.device ?? 0;
  applyNativeEnv();
  try {
    return new CudaBackend(new addon.Device(index));
  } catch (e) {
    throw new CudaUnavailableError(e instanceof Error ? e.message : String(e));
  }
}

/** Whether a CUDA device can be used here (no backend is created). */
export function cudaAvailable(): { ok: boolean; reason: string } {
  const loaded = loadAddon();
  if ('error' in loaded) return { ok: false, reason: loaded.error };
  const p = loaded.addon.probe();
  return { ok: p.ok, reason: p.ok ? '' : p.reason };
}
