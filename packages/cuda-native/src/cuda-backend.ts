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
import { loadAddon } from './addon-loader.js';
import { CudaHandle } from './cuda-handle.js';
import { CudaUnavailableError, mapNativeError } from './errors.js';
import { applyNativeEnv, NO_CLUSTER, readBoolFlag } from './flags.js';
import { CudaGenericKernels } from './generic/cuda-generic-kernels.js';
import { chooseKernelPath, type KernelPath } from './kernel-path.js';
import { type LaunchName, type LaunchParams, packLaunchParams } from './launch-params.js';
import { CudaMhcKernels } from './mhc/cuda-mhc-kernels.js';
import type { Addon, NativeBuffer, NativeDevice, NativeDeviceInfo, ProbeResult } from './native.js';
import { classifyProbe } from './probe.js';

/** The device as the backend reports it: the addon's device info plus the kernel path chosen for it. */
export interface CudaDeviceInfo extends NativeDeviceInfo {
  kernelPath: KernelPath;
}

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
  readonly info: CudaDeviceInfo;
  private disposed = false;

  constructor(readonly device: NativeDevice) {
    const native = device.info();
    this.info = { ...native, kernelPath: chooseKernelPath(native) };
    this.capabilities = {
      dtypes: ['f32', 'f16', 'bf16', 'i32'],
      device: `${this.info.name} (sm_${this.info.computeCapability.replace('.', '')}, ${this.info.sms} SMs) via CUDA; kernel path: ${
        this.info.kernelPath
      }; matmul: ${this.info.cublas ? `cuBLAS ${this.info.cublas}` : 'built-in kernel (cuBLAS not found)'}`,
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

  /** Enqueue a kernel from the addon's op table, its parameters named as launch-params-decl.ts declares. */
  launch<K extends LaunchName>(kernel: K, buffers: (NativeBuffer | null)[], params: LaunchParams<K>): void {
    this.checkLive();
    const packed = packLaunchParams(kernel, params);
    try {
      this.device.launch(kernel, buffers, packed);
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
 * Load the addon and probe the machine, throwing the CudaUnavailableError that says what is missing
 * (no addon, addon of another version, no driver, driver too old, no device, unsupported device).
 */
export function probeCuda(device = 0): { addon: Addon; probe: ProbeResult } {
  const loaded = loadAddon();
  if (!loaded.ok) throw loaded.error;
  const addon = loaded.addon;
  let probe: ProbeResult;
  try {
    probe = addon.probe();
  } catch (e) {
    throw new CudaUnavailableError('no-driver', e instanceof Error ? e.message : String(e));
  }
  const verdict = classifyProbe(probe, device);
  if (!verdict.ok) throw new CudaUnavailableError(verdict.kind, verdict.reason);
  return { addon, probe };
}

/**
 * Create a CUDA backend. Rejects with a CudaUnavailableError whose `kind` says why CUDA cannot start
 * here (see CudaUnavailableKind) and whose message says what to do; never crashes the process.
 * Invalid configuration (LIGER_MHC_CUDA_ADDON, LIGER_MHC_CUDA_NO_CLUSTER, the device index) is an
 * ArgumentError naming it.
 */
export async function createCudaBackend(options: CudaBackendOptions = {}): Promise<CudaBackend> {
  const index = options.device ?? 0;
  if (!Number.isInteger(index) || index < 0)
    throw new ArgumentError('device', `expected a non-negative integer, got ${index}`);
  // Configuration errors first: they are the user's to fix whatever the hardware.
  readBoolFlag(NO_CLUSTER);
  applyNativeEnv();
  const { addon, probe } = probeCuda(index);
  if (index >= probe.count)
    throw new ArgumentError('device', `CUDA device ${index} does not exist (${probe.count} found)`);
  let device: NativeDevice;
  try {
    device = new addon.Device(index);
  } catch (e) {
    const mapped = mapNativeError(e);
    if (mapped instanceof CudaUnavailableError) throw mapped;
    throw new CudaUnavailableError('no-device', `device ${index} could not be opened: ${mapped.message}`);
  }
  try {
    return new CudaBackend(device);
  } catch (e) {
    device.dispose();
    throw e;
  }
}

/** Whether a CUDA device can be used here (no backend is created); `kind` says why not. */
export function cudaAvailable(): { ok: boolean; reason: string; kind: CudaUnavailableError['kind'] | null } {
  try {
    probeCuda(0);
    return { ok: true, reason: '', kind: null };
  } catch (e) {
    return {
      ok: false,
      reason: e instanceof Error ? e.message : String(e),
      kind: e instanceof CudaUnavailableError ? e.kind : null,
    };
  }
}
