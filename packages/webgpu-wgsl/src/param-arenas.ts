import type { ParamViews } from './kernel-params.js';
import { USAGE } from './pool.js';

/** Bytes of one dispatch's parameter block (WebGPU's minimum uniform-offset alignment). */
export const SLOT_BYTES = 256;
const ARENA_SLOTS = 256;

/** One uniform buffer holding the parameter blocks of up to 256 dispatches, plus its CPU mirror. */
interface Arena extends ParamViews {
  buffer: GPUBuffer;
  data: ArrayBuffer;
}

/**
 * The parameter blocks of one submitted batch: each dispatch takes the next 256-byte slot, written
 * on the CPU mirror and uploaded with one writeBuffer per arena at submit (one upload instead of
 * one per dispatch). Arenas are kept and reused across batches.
 */
export class ParamArenas {
  private arenas: Arena[] = [];
  private slot = 0;

  constructor(private readonly device: GPUDevice) {}

  /**
   * The next slot: its uniform buffer and byte offset, and the arena's word views with the slot's
   * first word (`base`); the slot's words are zeroed.
   */
  next(): { buffer: GPUBuffer; offset: number; views: ParamViews; base: number } {
    const ai = Math.floor(this.slot / ARENA_SLOTS);
    let arena = this.arenas[ai];
    if (!arena) {
      const data = new ArrayBuffer(SLOT_BYTES * ARENA_SLOTS);
      arena = {
        buffer: this.device.createBuffer({ size: data.byteLength, usage: USAGE.UNIFORM | USAGE.COPY_DST }),
        data,
        u: new Uint32Array(data),
        f: new Float32Array(data),
        i: new Int32Array(data),
      };
      this.arenas.push(arena);
    }
    const s = this.slot % ARENA_SLOTS;
    this.slot++;
    const base = (s * SLOT_BYTES) / 4;
    arena.u.fill(0, base, base + SLOT_BYTES / 4);
    return {
      buffer: arena.buffer,
      offset: s * SLOT_BYTES,
      views: arena,
      base,
    };
  }

  /** Upload the slots written since the last reset (before the batch that reads them is submitted). */
  upload(): void {
    const usedArenas = Math.ceil(this.slot / ARENA_SLOTS);
    for (let a = 0; a < usedArenas; a++) {
      const slots = a === usedArenas - 1 ? this.slot - a * ARENA_SLOTS : ARENA_SLOTS;
      const arena = this.arenas[a]!;
      this.device.queue.writeBuffer(arena.buffer, 0, arena.data, 0, slots * SLOT_BYTES);
    }
  }

  /** Start the next batch at slot 0. */
  reset(): void {
    this.slot = 0;
  }

  destroy(): void {
    for (const a of this.arenas) a.buffer.destroy();
    this.arenas = [];
  }
}
