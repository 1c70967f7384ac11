import { BackendError } from '@liger-mhc/core';
import { USAGE } from './pool.js';

/** Timestamp slots of one timing window (two per compute pass). */
const QUERY_SLOTS = 4096;

/**
 * GPU timing by timestamp queries: while active, every compute pass the backend begins writes its
 * start and end into the next two slots, so a window's time is the last end minus the first start
 * (what the benchmark's timer hook reads). Needs the 'timestamp-query' feature.
 */
export class PassTimer {
  private querySet: GPUQuerySet | null = null;
  private next = 0;
  private active = false;

  constructor(private readonly device: GPUDevice) {}

  /** Start a window: passes begun from now on are timestamped. */
  begin(): void {
    this.querySet ??= this.device.createQuerySet({ type: 'timestamp', count: QUERY_SLOTS });
    this.next = 0;
    this.active = true;
  }

  /** The timestamp writes of the next compute pass, or undefined outside a window. */
  passWrites(): GPUComputePassTimestampWrites | undefined {
    if (!this.active || !this.querySet) return undefined;
    if (this.next + 2 > this.querySet.count) throw new BackendError('webgpu: too many timed passes');
    const writes = {
      querySet: this.querySet,
      beginningOfPassWriteIndex: this.next,
      endOfPassWriteIndex: this.next + 1,
    };
    this.next += 2;
    return writes;
  }

  /**
   * End the window: encodes the resolve of its timestamps into the encoder `enc` gives and returns
   * the staging buffer to read after submitting, with the resolve buffer to destroy after it; null
   * (and nothing encoded) when no pass ran.
   */
  end(enc: () => GPUCommandEncoder): { staging: GPUBuffer; resolve: GPUBuffer; count: number } | null {
    const count = this.next;
    this.active = false;
    if (count === 0 || !this.querySet) return null;
    const bytes = count * 8;
    const resolve = this.device.createBuffer({ size: bytes, usage: USAGE.QUERY_RESOLVE | USAGE.COPY_SRC });
    const staging = this.device.createBuffer({ size: bytes, usage: USAGE.MAP_READ | USAGE.COPY_DST });
    const e = enc();
    e.resolveQuerySet(this.querySet, 0, count, resolve, 0);
    e.copyBufferToBuffer(resolve, 0, staging, 0, bytes);
    return { staging, resolve, count };
  }

  destroy(): void {
    this.querySet?.destroy();
    this.querySet = null;
  }
}
