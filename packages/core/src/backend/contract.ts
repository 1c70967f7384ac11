import type { DType, StorageArray } from '../dtype.js';
import type { GenericKernels } from './generic-kernels.js';
import type { MhcKernels } from './mhc-kernels.js';

/**
 * The one interface of the project. Like TensorFlow.js's KernelBackend, a backend owns storage only
 * (alloc / write / read / dispose); the math is the typed kernel sets `mhc` and `ops`. Kernels take
 * and return `TensorInfo`s (a handle plus shape and dtype) and never see autograd: gradients are
 * written once in core against these kernels.
 */

/** An opaque reference to backend storage. Each backend has its own handle class. */
export type DataHandle = object;

/** What a kernel sees of a tensor: contiguous row-major storage of `shape`, in `dtype`. */
export interface TensorInfo {
  readonly handle: DataHandle;
  readonly shape: readonly number[];
  readonly dtype: DType;
}

export interface MemoryInfo {
  /** Buffers currently owned by live tensors. */
  liveBuffers: number;
  liveBytes: number;
  /** Buffers kept by the backend's pool for reuse (not owned by any tensor). */
  pooledBuffers: number;
  pooledBytes: number;
  /** High-water mark of liveBytes since the backend started or `resetPeak()`. */
  peakBytes: number;
}

export interface BackendCapabilities {
  /** Storage dtypes the backend can hold. */
  dtypes: readonly DType[];
  /** Human-readable device description ("cpu", "nvidia-h100 via Vulkan", ...). */
  device: string;
  /**
   * True when the device is a software emulation of a GPU (Mesa lavapipe, SwiftShader): correct,
   * but slower than the CPU reference, so automatic selection passes over it. Explicit selection
   * (setBackend, the environment variable, configuration) still uses it.
   */
  software?: boolean;
}

export interface Backend {
  readonly name: string;
  readonly capabilities: BackendCapabilities;
  readonly mhc: MhcKernels;
  readonly ops: GenericKernels;

  /** Zero-initialised storage for `size` elements of `dtype`. */
  alloc(dtype: DType, size: number): DataHandle;
  /** Overwrite the whole storage with raw values (layout of `allocStorage(dtype, n)`). */
  write(handle: DataHandle, data: StorageArray): void;
  /** Raw storage, after all enqueued work that writes it has finished. */
  read(handle: DataHandle): Promise<StorageArray>;
  /** Synchronous read, where the backend can (the CPU can; GPUs cannot). */
  readSync?(handle: DataHandle): StorageArray;
  /** Release storage. Idempotent per handle: a second call is a no-op. */
  disposeData(handle: DataHandle): void;
  memory(): MemoryInfo;
  resetPeak(): void;
  /** Resolves when all enqueued work has finished. */
  sync(): Promise<void>;
  /** Release every resource (pools, device). The backend is unusable afterwards. */
  dispose(): void;
}

/** For kernels a backend does not implement: the error names kernel and backend. */
export type BackendFactory = () => Backend | Promise<Backend>;

/**
 * A cheap look, before initialising, at what a backend would find: 'none' (it cannot start here),
 * 'software' (only a CPU emulation of a GPU), 'hardware', or 'unknown'. Automatic selection skips
 * 'none' and tries 'software' only when nothing else starts, without initialising them first: a
 * GPU runtime's driver probing (and its warnings) is then left out of runs that end on the CPU.
 */
export type BackendProbe = () => Promise<'none' | 'software' | 'hardware' | 'unknown'>;
