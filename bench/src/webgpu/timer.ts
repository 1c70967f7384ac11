/**
 * GPU time on the WebGPU backend: timestamp queries around batches of calls, with a spin kernel
 * ("heater") before each trial. Cards lower their clocks whenever they idle (between host-side
 * setup and the first timed burst, and between trials), which made the first compute-bound rows of
 * a run read slow; the heater keeps the card busy so timed work starts on warm clocks.
 */
import type { TensorInfo } from '@liger-mhc/core';
import type { WebGpuBackend } from '@liger-mhc/webgpu-wgsl';
import { type KernelDef, kernelParams } from '@liger-mhc/webgpu-wgsl/internals';
import type { Timer } from '../lib/mhc-rows.js';
import { median } from '../lib/stats.js';

const HEATER_PARAMS = kernelParams({ iters: 'u32' });
const HEATER: KernelDef<typeof HEATER_PARAMS.schema> = {
  key: 'bench_heater',
  params: HEATER_PARAMS,
  bufs: [{ name: 'o', dtype: 'f32', access: 'rw' }],
  body: `
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  var a = f32(lid + wid.x);
  for (var i = 0u; i < params.iters; i++) { a = fma(a, 0.9999, 1.0); }
  if (a == -1.0) { o[0] = a; }
}
`,
};

/** A plain copy kernel: the bandwidth a WebGPU kernel can reach on this card. */
const COPY_PARAMS = kernelParams({ n: 'u32' });
const COPY: KernelDef<typeof COPY_PARAMS.schema> = {
  key: 'bench_copy',
  params: COPY_PARAMS,
  bufs: [
    { name: 'a', dtype: 'i32', access: 'read', wgsl: 'vec4<u32>' },
    { name: 'o', dtype: 'i32', access: 'rw', wgsl: 'vec4<u32>' },
  ],
  body: `
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n = params.n;
  let stride = nwg.x * nwg.y * 256u;
  let t = (wid.x + wid.y * nwg.x) * 256u + lid;
  for (var k = 0u; k < 4u; k++) {
    let i = t + k * stride;
    if (i < n) { o[i] = a[i]; }
  }
}
`,
};

export class WebGpuTimer implements Timer {
  private heaterOut: TensorInfo | null = null;
  private itersPerMs = 1000;

  constructor(
    private readonly be: WebGpuBackend,
    private readonly trials: number,
    private readonly reps = 10,
  ) {}

  private heat(ms: number): void {
    this.heaterOut ??= this.be.zeros([1], 'f32');
    const iters = Math.max(1, Math.round(ms * this.itersPerMs));
    this.be.dispatch(HEATER, [this.heaterOut], { iters }, 1056);
  }

  /** Measures the heater's iterations per millisecond on a warm card. */
  async calibrate(): Promise<void> {
    const t0 = performance.now();
    while (performance.now() - t0 < 1500) {
      this.heat(20);
      await this.be.sync();
    }
    this.be.beginTimer();
    this.heat(20);
    this.itersPerMs = (20 * this.itersPerMs) / (await this.be.endTimer());
  }

  /** GPU ms per call (timestamp queries over `reps` calls), median over `trials`. */
  async time(fn: () => void, warmMs = 200): Promise<number> {
    const w0 = performance.now();
    while (performance.now() - w0 < warmMs) {
      this.heat(2);
      for (let i = 0; i < 5; i++) fn();
      await this.be.sync();
    }
    const ts: number[] = [];
    for (let t = 0; t < this.trials; t++) {
      this.heat(2);
      this.be.beginTimer();
      for (let r = 0; r < this.reps; r++) fn();
      ts.push((await this.be.endTimer()) / this.reps);
    }
    return median(ts);
  }

  /** Bandwidth of the copy kernel over 512 MiB (less where the binding limit is lower), GB/s. */
  async copyGbps(): Promise<number> {
    const be = this.be;
    const n = Math.min(128 * 1024 * 1024, Math.floor(be.limits.maxBinding / 4));
    const src = be.output([n], 'i32');
    const dst = be.output([n], 'i32');
    // A long warm-up: after the host-side setup the card has idled down.
    const ms = await this.time(
      () => be.dispatch(COPY, [src, dst], { n: n / 4 }, Math.ceil(n / 4 / 1024)),
      3000,
    );
    be.disposeData(src.handle);
    be.disposeData(dst.handle);
    return (2 * n * 4) / ms / 1e6;
  }

  dispose(): void {
    if (this.heaterOut) this.be.disposeData(this.heaterOut.handle);
    this.heaterOut = null;
  }
}
