/** WebGPU usage bits, spelled out so the code does not depend on the browser globals existing. */
export const USAGE = {
  MAP_READ: 0x1,
  COPY_SRC: 0x4,
  COPY_DST: 0x8,
  UNIFORM: 0x40,
  STORAGE: 0x80,
  QUERY_RESOLVE: 0x200,
} as const;

export const STORAGE_USAGE = USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST;

/**
 * Size bucket of a request: the next of 2^k and 1.5·2^k, at least 256 bytes. Two buckets per octave
 * keep waste under 50% while letting the buffers of a training step (which repeat exactly step after
 * step) find each other again.
 */
export function bucketBytes(bytes: number): number {
  const b = Math.max(256, Math.ceil(bytes / 4) * 4);
  const p = 2 ** Math.floor(Math.log2(b));
  if (b === p) return p;
  if (b <= p * 1.5) return p * 1.5;
  return p * 2;
}

/**
 * Storage buffers kept for reuse, by bucket size. A buffer returns here when its tensor is disposed,
 * even while commands that read it are still pending: every later use is encoded after those commands
 * and the queue runs them in order, so handing it out again is safe. Destroying is not (a destroyed
 * buffer invalidates the unsubmitted encoder), so trimming asks the owner to flush first.
 */
export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  pooledBuffers = 0;
  pooledBytes = 0;

  constructor(
    private device: GPUDevice,
    private maxPooledBytes: number,
    private beforeDestroy: () => void,
  ) {}

  /** A buffer of at least `bytes` (bucketed). `fresh` says whether it was just created (zeroed). */
  acquire(bytes: number): { buffer: GPUBuffer; size: number; fresh: boolean } {
    const size = bucketBytes(bytes);
    const list = this.free.get(size);
    const reused = list?.pop();
    if (reused) {
      this.pooledBuffers--;
      this.pooledBytes -= size;
      return { buffer: reused, size, fresh: false };
    }
    const buffer = this.device.createBuffer({ size, usage: STORAGE_USAGE });
    return { buffer, size, fresh: true };
  }

  release(buffer: GPUBuffer, size: number): void {
    let list = this.free.get(size);
    if (!list) {
      list = [];
      this.free.set(size, list);
    }
    list.push(buffer);
    this.pooledBuffers++;
    this.pooledBytes += size;
    if (this.pooledBytes > this.maxPooledBytes) this.trim(this.maxPooledBytes / 2);
  }

  /** Destroy pooled buffers, largest first, until at most `keepBytes` remain. */
  trim(keepBytes = 0): void {
    if (this.pooledBytes <= keepBytes) return;
    this.beforeDestroy();
    const sizes = [...this.free.keys()].sort((a, b) => b - a);
    for (const size of sizes) {
      const list = this.free.get(size)!;
      while (list.length > 0 && this.pooledBytes > keepBytes) {
        list.pop()!.destroy();
        this.pooledBuffers--;
        this.pooledBytes -= size;
      }
    }
  }
}
