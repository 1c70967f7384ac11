import type { DType } from '@liger-mhc/core';

/** The JS face of native/addon.cc. */
export interface NativeBuffer {
  free(): void;
  readonly bytes: number;
  readonly freed: boolean;
}

export interface NativeMemory {
  liveBuffers: number;
  liveBytes: number;
  pooledBuffers: number;
  pooledBytes: number;
  peakBytes: number;
  /** Bytes held from the driver (live blocks rounded up, plus the pool). */
  reservedBytes: number;
  peakReservedBytes: number;
}

export interface NativeDeviceInfo {
  name: string;
  index: number;
  sms: number;
  computeCapability: string;
  memTotal: number;
  /** cuBLAS version when it could be loaded, else null (matmul then runs a built-in kernel). */
  cublas: string | null;
  cublasError: string;
  /** Tensor-core paths on (LIGER_MHC_CUDA_NO_MMA unset). */
  mma: boolean;
  /** Architecture of the addon code the driver loaded for the device (80 for sm_80 SASS, ...). */
  loadedArch: number;
  /** The device can launch thread-block clusters. */
  clusterLaunch: boolean;
  /** The loaded code has the cluster kernels' bodies (compiled for sm_90 or newer). */
  clusterKernels: boolean;
}

export interface NativeDevice {
  alloc(bytes: number, zero: boolean): NativeBuffer;
  launch(name: string, buffers: (NativeBuffer | null)[], params: Float64Array): void;
  write(buffer: NativeBuffer, data: ArrayBufferView): void;
  read(buffer: NativeBuffer): Promise<ArrayBuffer>;
  sync(): Promise<void>;
  memory(): NativeMemory;
  resetPeak(): void;
  emptyCache(): void;
  info(): NativeDeviceInfo;
  ops(): string[];
  dispose(): void;
  /** Benchmark timing: enqueue an event, returning its index. */
  recordEvent(): number;
  /** Milliseconds between two recorded events (both must have completed: sync first). */
  elapsedMs(from: number, to: number): number;
  clearEvents(): void;
}

export interface ProbeDevice {
  index: number;
  name: string;
  computeCapability: string;
  memTotal: number;
}

/** What native/addon.cc's probe() found (it never throws and creates no CUDA context). */
export interface ProbeResult {
  /** CUDART_VERSION the addon was built with, e.g. 13000. */
  runtimeVersion: number;
  /** libcuda.so.1 could be opened. */
  libcuda: boolean;
  libcudaError: string;
  /** cuDriverGetVersion, e.g. 13000 (0 when unknown). */
  driverVersion: number;
  /** cudaGetDeviceCount's error name ('' on success), code and text. */
  error: string;
  errorCode: number;
  errorMessage: string;
  count: number;
  devices: ProbeDevice[];
}

export interface Addon {
  Device: new (index: number) => NativeDevice;
  probe(): ProbeResult;
  /** The package version compiled into the addon (from package.json, by CMake). */
  version: string;
  /** The CUDA targets compiled in, e.g. 'sm_80 sm_86 ... compute_120'. */
  cudaArchs: string;
}

/** dtype codes shared with native/runtime/ops.h. */
export const DTYPE_CODE: Readonly<Record<DType, number>> = { f32: 0, f16: 1, bf16: 2, i32: 3 };
