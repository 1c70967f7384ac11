import type { Backend, DataHandle } from '../backend/contract.js';

/**
 * Reference-counted backend storage. Views made by `reshape` share one Storage; the backend's
 * buffer is released when the last tensor that uses it is disposed (or, as a safety net only,
 * finalised by the garbage collector).
 */
export class Storage {
  private refs = 1;

  constructor(
    readonly backend: Backend,
    readonly handle: DataHandle,
    readonly size: number,
  ) {}

  get released(): boolean {
    return this.refs <= 0;
  }

  retain(): void {
    this.refs++;
  }

  release(): void {
    if (this.refs <= 0) return;
    this.refs--;
    if (this.refs === 0) this.backend.disposeData(this.handle);
  }
}

/**
 * GC safety net: a tensor that was never disposed releases its reference when collected. Holds the
 * Storage (not the tensor), so registration does not keep the tensor alive.
 */
export const storageFinalizer = new FinalizationRegistry<Storage>((storage) => {
  storage.release();
});
