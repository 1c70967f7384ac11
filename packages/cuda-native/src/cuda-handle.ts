import type { DataHandle, DType } from '@liger-mhc/core';
import type { NativeBuffer } from './native.js';

/**
 * Device storage of one tensor. The native buffer is released by `dispose()` (through the backend's
 * disposeData); if a handle is dropped without it, the addon's finalizer returns the memory to the
 * backend's pool at garbage collection.
 */
export class CudaHandle implements DataHandle {
  constructor(
    readonly owner: object,
    public buffer: NativeBuffer | null,
    readonly dtype: DType,
    readonly size: number,
  ) {}

  get disposed(): boolean {
    return this.buffer === null || this.buffer.freed;
  }
}
