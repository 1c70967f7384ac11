import type { CudaBackend } from '@liger-mhc/cuda-native';
import type { Timer } from '../lib/mhc-rows.js';

/** Median of per-call CUDA-event times after a warm-up (the events bracket each call). */
export class CudaTimer implements Timer {
  constructor(
    private readonly be: CudaBackend,
    private readonly warmup = 5,
    private readonly reps = 30,
  ) {}

  async time(fn: () => void): Promise<number> {
    const be = this.be;
    for (let i = 0; i < this.warmup; i++) fn();
    await be.sync();
    const ev: [number, number][] = [];
    for (let i = 0; i < this.reps; i++) {
      const a = be.device.recordEvent();
      fn();
      ev.push([a, be.device.recordEvent()]);
    }
    await be.sync();
    const ms = ev.map(([a, b]) => be.device.elapsedMs(a, b)).sort((p, q) => p - q);
    be.device.clearEvents();
    return ms[Math.floor(ms.length / 2)]!;
  }

  /** Device-to-device copy of 1 GiB (bytes read plus written over time), GB/s. */
  async copyGbps(): Promise<number> {
    const be = this.be;
    const bytes = 1 << 30;
    const src = be.output([bytes / 4], 'f32', true);
    const dst = be.output([bytes / 4], 'f32');
    const ms = await this.time(() =>
      be.launch('copy_d2d', [be.buf(src, 'src'), be.buf(dst, 'dst')], { bytes }),
    );
    be.disposeData(src.handle);
    be.disposeData(dst.handle);
    return (2 * bytes) / ms / 1e6;
  }
}
