import { BackendError } from '../../errors.js';
import { dot, gemmChunk, gemmNT } from '../generic/gemm-nt.js';
import {
  coeffsTokens,
  coeffsTokensBackward,
  coeffsTokensBackwardChunk,
  coeffsTokensChunk,
  sinkhornBackward,
  sinkhornForward,
  sinkhornReplay,
  sinkhornSteps,
} from '../mhc/sinkhorn.js';
import {
  postResBackward4,
  postResBackwardChunk,
  preBackward4,
  preBackwardChunk,
} from '../mhc/streams_hc4.js';
import { type GemmKernels, gemmKernels, type SharedGemm, sharedGemm } from '../mhc/wasm/gemm.js';
import { gradPhiChunk, gradXChunk, projectChunk } from '../mhc/wasm/gemm-chunks.js';

/**
 * Worker threads for the CPU backend's heavy kernels. The kernels' API is synchronous, so a call
 * hands its operands to the workers through shared memory and the calling thread works too:
 *
 * - One SharedArrayBuffer holds the operands and results (`reserve`); a small control block holds
 *   the job (kernel, parameters, chunk count) and three counters: a generation the idle workers wait
 *   on, the next chunk to take and the chunks done.
 * - Every thread, the caller included, takes chunks from the shared counter until none are left, so
 *   a worker that is slow to start (or never starts) only means the caller does more of the job: the
 *   caller never waits for a chunk nobody has taken.
 * - A chunk computes the same elements with the same function, in the same order, whichever thread
 *   takes it, so results do not depend on the thread count (bit-identical).
 *
 * - Where the wasm kernels of coeffs run on a shared memory (mhc/wasm/gemm.ts), every worker
 *   instantiates the same module on that memory, so their jobs need no copy into the pool's buffer.
 *
 * Node gets workers from node:worker_threads; browsers get them only when cross-origin isolated
 * (SharedArrayBuffer exists). Elsewhere `CpuThreadPool.create` returns null and kernels run on the
 * calling thread.
 */

/** Kernel ids of the control block. */
export const KERNEL_GEMM = 1;
/** The wasm kernels of coeffs (mhc/wasm/gemm-chunks.ts); jobs only for a pool with `wasm`. */
export const KERNEL_PROJECT = 2;
export const KERNEL_GRAD_X = 3;
export const KERNEL_GRAD_PHI = 4;
/** The hc = 4 pre and post_res backward on the same shared memory (mhc/streams_hc4.ts). */
export const KERNEL_PRE_BACKWARD = 5;
export const KERNEL_POST_RES_BACKWARD = 6;
/** The per-token sigmoids and Sinkhorn of the coeffs forward (mhc/sinkhorn.ts). */
export const KERNEL_COEFFS_TOKENS = 7;
/** Its backward: the per-token gradients, before the token-ordered sums (mhc/sinkhorn.ts). */
export const KERNEL_COEFFS_TOKENS_BACKWARD = 8;
const CHUNKS = [
  gemmChunk,
  projectChunk,
  gradXChunk,
  gradPhiChunk,
  preBackwardChunk,
  postResBackwardChunk,
  coeffsTokensChunk,
  coeffsTokensBackwardChunk,
];
const KERNELS: readonly (ChunkKernel | null)[] = [null, ...CHUNKS];

// Control block layout (Int32 slots).
const GEN = 0;
const NEXT = 1;
const DONE = 2;
const TOTAL = 3;
const KERNEL = 4;
const FAILED = 5;
const PARAMS = 8;
const CTRL_SLOTS = 64;
/** NEXT between jobs: far past any chunk count, so a worker that wakes late takes nothing. */
const PARKED = 1 << 30;

interface WorkerHandle {
  terminate(): unknown;
}

/**
 * Take the next chunk of the current job, or -1 when none is left. A compare-and-swap rather than
 * a plain add: a thread that read NEXT during one job and compares after the next job opened can
 * only take a chunk by moving NEXT from exactly that value, which is then a chunk nobody else gets.
 * (Stringified into the worker; self-contained, slots 1 = NEXT, 3 = TOTAL.)
 */
function takeChunk(ctrl: Int32Array): number {
  for (;;) {
    const c = Atomics.load(ctrl, 1);
    if (c >= Atomics.load(ctrl, 3)) return -1;
    if (Atomics.compareExchange(ctrl, 1, c, c + 1) === c) return c;
  }
}

type ChunkKernel = (
  f32: Float32Array,
  f64: Float64Array,
  P: Int32Array,
  p0: number,
  c: number,
  wasm: GemmKernels | null,
) => void;

/**
 * The worker's main loop (stringified into the worker; it must be self-contained: the kernels come
 * as an argument because module bindings may be renamed by whatever compiled this file).
 */
function workerLoop(
  init: { ctrl: SharedArrayBuffer; data: SharedArrayBuffer; wasm: SharedGemm | null },
  kernels: readonly (ChunkKernel | null)[],
): void {
  const ctrl = new Int32Array(init.ctrl);
  const f32 = new Float32Array(init.data);
  const f64 = new Float64Array(init.data);
  let wasm: GemmKernels | null = null;
  if (init.wasm) {
    const { module, memory } = init.wasm;
    const exports = new WebAssembly.Instance(module, { env: { memory } }).exports;
    wasm = { ...(exports as unknown as Omit<GemmKernels, 'memory'>), memory };
  }
  let seen = 0;
  for (;;) {
    Atomics.wait(ctrl, 0, seen);
    seen = Atomics.load(ctrl, 0);
    for (let c = takeChunk(ctrl); c >= 0; c = takeChunk(ctrl)) {
      try {
        const k = kernels[ctrl[4]!];
        if (!k) throw new Error(`no kernel ${ctrl[4]}`);
        k(f32, f64, ctrl, 8, c, wasm);
      } catch {
        Atomics.store(ctrl, 5, 1);
      }
      Atomics.add(ctrl, 2, 1);
      Atomics.notify(ctrl, 2);
    }
  }
}

function workerSource(node: boolean): string {
  const helpers = [
    dot,
    gemmNT,
    preBackward4,
    postResBackward4,
    sinkhornSteps,
    sinkhornForward,
    coeffsTokens,
    sinkhornReplay,
    sinkhornBackward,
    coeffsTokensBackward,
  ];
  const fns = [...helpers, ...CHUNKS, takeChunk, workerLoop].map((f) => f.toString()).join('\n');
  // Index = kernel id (KERNEL_GEMM = 1, KERNEL_PROJECT = 2, ...).
  const kernels = `[null, ${CHUNKS.map((f) => f.name).join(', ')}]`;
  return node
    ? `${fns}\n${workerLoop.name}(require('node:worker_threads').workerData, ${kernels});`
    : `${fns}\nself.onmessage = (e) => ${workerLoop.name}(e.data, ${kernels});`;
}

type Spawn = (ctrl: SharedArrayBuffer, data: SharedArrayBuffer, wasm: SharedGemm | null) => WorkerHandle;

/** A way to start workers here, or null (no SharedArrayBuffer, no workers, not isolated). */
function spawner(): Spawn | null {
  if (typeof SharedArrayBuffer !== 'function' || typeof Atomics !== 'object') return null;
  const proc = (
    globalThis as { process?: { getBuiltinModule?: (m: string) => unknown; versions?: { node?: string } } }
  ).process;
  if (proc?.versions?.node && typeof proc.getBuiltinModule === 'function') {
    const wt = proc.getBuiltinModule('node:worker_threads') as {
      Worker: new (
        code: string,
        o: { eval: boolean; workerData: unknown },
      ) => WorkerHandle & { unref(): void };
    };
    const code = workerSource(true);
    return (ctrl, data, wasm) => {
      const w = new wt.Worker(code, { eval: true, workerData: { ctrl, data, wasm } });
      // Idle workers block in Atomics.wait; they must not keep the process alive.
      w.unref();
      return w;
    };
  }
  const g = globalThis as {
    crossOriginIsolated?: boolean;
    Worker?: new (url: string) => WorkerHandle & { postMessage(m: unknown): void };
    Blob?: typeof Blob;
    URL?: typeof URL;
  };
  if (g.crossOriginIsolated === true && g.Worker && g.Blob && g.URL) {
    const url = g.URL.createObjectURL(new g.Blob([workerSource(false)], { type: 'text/javascript' }));
    const W = g.Worker;
    return (ctrl, data, wasm) => {
      const w = new W(url);
      w.postMessage({ ctrl, data, wasm });
      return w;
    };
  }
  return null;
}

/** Whether this thread may block in Atomics.wait (not a browser's main thread). */
function canBlock(): boolean {
  const g = globalThis as { process?: { versions?: { node?: string } }; document?: unknown };
  return Boolean(g.process?.versions?.node) || g.document === undefined;
}

export class CpuThreadPool {
  private readonly ctrl: Int32Array<SharedArrayBuffer>;
  private data: SharedArrayBuffer;
  private f32: Float32Array<SharedArrayBuffer>;
  private f64: Float64Array<SharedArrayBuffer>;
  private workers: WorkerHandle[] = [];
  private readonly blocking = canBlock();
  /**
   * The calling thread's wasm kernels when the workers run them on the same shared memory, else
   * null (then no KERNEL_PROJECT / GRAD_X / GRAD_PHI jobs: see `wasmKernels`).
   */
  private readonly wasm: GemmKernels | null;
  private readonly wasmShared: SharedGemm | null;

  private constructor(
    /** Threads working on a job, the calling thread included. */
    readonly threads: number,
    private readonly spawn: Spawn,
  ) {
    this.ctrl = new Int32Array(new SharedArrayBuffer(CTRL_SLOTS * 4));
    this.ctrl[NEXT] = PARKED;
    this.data = new SharedArrayBuffer(1 << 18);
    this.f32 = new Float32Array(this.data);
    this.f64 = new Float64Array(this.data);
    this.wasmShared = sharedGemm();
    this.wasm = this.wasmShared ? gemmKernels() : null;
    this.start();
  }

  /** The wasm kernels (on the memory the workers share) when this pool runs them, else null. */
  get wasmKernels(): GemmKernels | null {
    return this.wasm;
  }

  /** A pool of `threads` threads (threads − 1 workers), or null where workers are unavailable. */
  static create(threads: number): CpuThreadPool | null {
    if (threads <= 1) return null;
    const spawn = spawner();
    return spawn ? new CpuThreadPool(threads, spawn) : null;
  }

  private start(): void {
    for (let i = 1; i < this.threads; i++)
      this.workers.push(this.spawn(this.ctrl.buffer, this.data, this.wasmShared));
  }

  /**
   * Shared memory of at least `bytes` bytes, as f32 and f64 views of the same buffer. Growing it
   * restarts the workers on the new buffer (between jobs, when they are idle).
   */
  reserve(bytes: number): { f32: Float32Array<SharedArrayBuffer>; f64: Float64Array<SharedArrayBuffer> } {
    if (bytes > this.data.byteLength) {
      let size = this.data.byteLength;
      while (size < bytes) size *= 2;
      this.stop();
      this.data = new SharedArrayBuffer(size);
      this.f32 = new Float32Array(this.data);
      this.f64 = new Float64Array(this.data);
      this.start();
    }
    return { f32: this.f32, f64: this.f64 };
  }

  /** Run `chunks` chunks of `kernel` with integer parameters `params`; returns when all are done. */
  run(kernel: number, params: readonly number[], chunks: number): void {
    const ctrl = this.ctrl;
    if (chunks >= PARKED) throw new BackendError(`cpu: ${chunks} chunks is more than a job can hold`);
    for (let i = 0; i < params.length; i++) ctrl[PARAMS + i] = params[i]!;
    ctrl[KERNEL] = kernel;
    Atomics.store(ctrl, FAILED, 0);
    Atomics.store(ctrl, TOTAL, chunks);
    Atomics.store(ctrl, DONE, 0);
    // Opening NEXT last: everything a chunk reads is in place before any thread can take one.
    Atomics.store(ctrl, NEXT, 0);
    Atomics.add(ctrl, GEN, 1);
    Atomics.notify(ctrl, GEN);
    for (let c = takeChunk(ctrl); c >= 0; c = takeChunk(ctrl)) {
      const k = KERNELS[kernel];
      if (!k) throw new BackendError(`cpu: no thread kernel ${kernel}`);
      k(this.f32, this.f64, ctrl, PARAMS, c, this.wasm);
      Atomics.add(ctrl, DONE, 1);
    }
    // Only chunks that workers are computing right now remain.
    for (let d = Atomics.load(ctrl, DONE); d < chunks; d = Atomics.load(ctrl, DONE))
      if (this.blocking) Atomics.wait(ctrl, DONE, d, 10);
    Atomics.store(ctrl, TOTAL, 0);
    Atomics.store(ctrl, NEXT, PARKED);
    if (Atomics.load(ctrl, FAILED)) throw new BackendError('cpu: a worker thread failed in a kernel');
  }

  private stop(): void {
    for (const w of this.workers) w.terminate();
    this.workers = [];
  }

  dispose(): void {
    this.stop();
  }
}
