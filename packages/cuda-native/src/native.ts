import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
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
  /** LIGER_MHC_CUDA_SAFE=1: the first, plain versions of kernels that have a faster variant. */
  safe: boolean;
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

export interface ProbeResult {
  ok: boolean;
  count: number;
  reason: string;
  runtimeVersion?: number;
  driverVersion?: number;
}

export interface Addon {
  Device: new (index: number) => NativeDevice;
  probe(): ProbeResult;
}

/** dtype codes shared with native/runtime/ops.h. */
export const DTYPE_CODE: Readonly<Record<DType, number>> = { f32: 0, f16: 1, bf16: 2, i32: 3 };

export const ADDON_FILE = 'liger_mhc_cuda.node';
export const ADDON_ENV = 'LIGER_MHC_CUDA_ADDON';

let cached: { addon: Addon } | { error: string } | null = null;

/**
 * Load the addon, or say why it cannot be loaded. Looked for, in order: $LIGER_MHC_CUDA_ADDON, the
 * package's build/Release (from src/ or dist/), and next to this module (bundles for the GPU machine
 * copy the .node beside the bundle).
 */
export function loadAddon(): { addon: Addon } | { error: string } {
  if (cached) return cached;
  const env = process.env[ADDON_ENV];
  const candidates = env
    ? [env]
    : [
        fileURLToPath(new URL(`../build/Release/${ADDON_FILE}`, import.meta.url)),
        fileURLToPath(new URL(`./${ADDON_FILE}`, import.meta.url)),
      ];
  const path = candidates.find((p) => existsSync(p));
  if (!path) {
    cached = {
      error: `native addon not found (looked for ${candidates.join(', ')}); build it with 'pnpm --filter @liger-mhc/cuda-native build:native' where nvcc is installed`,
    };
    return cached;
  }
  try {
    const req = createRequire(import.meta.url);
    cached = { addon: req(path) as Addon };
  } catch (e) {
    cached = { error: `native addon ${path} failed to load: ${e instanceof Error ? e.message : String(e)}` };
  }
  return cached;
}
