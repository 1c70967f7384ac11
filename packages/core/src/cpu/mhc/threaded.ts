import type { CpuBackend } from '../cpu-backend.js';
import type { CpuThreadPool } from '../threads/pool.js';
import { reserve } from './wasm/gemm.js';

/**
 * Below this many stream elements (N·hc·C) the pre and post_res backward stay on the calling thread:
 * copying their operands to the memory the threads share and waking the workers costs more.
 */
const THREADED_MIN_ELEMENTS = 1 << 18;

export interface SharedF32 {
  pool: CpuThreadPool;
  /** Byte offsets of the regions in the shared memory (the chunks' parameters). */
  ptrs: number[];
  /** The regions as f32 views, valid until the next `sharedF32` (growing replaces the buffer). */
  views: Float32Array[];
}

/**
 * f32 regions of the given lengths in the memory the pool's threads share (the wasm kernels'), or
 * null where the call stays on this thread: one thread, no shared memory, or too little work.
 */
export function sharedF32(cpu: CpuBackend, elements: number, lengths: readonly number[]): SharedF32 | null {
  if (elements < THREADED_MIN_ELEMENTS) return null;
  const pool = cpu.pool();
  const w = pool?.wasmKernels;
  if (!pool || !w) return null;
  const ptrs = reserve(
    w,
    lengths.map((l) => l * 4),
  );
  if (!ptrs) return null;
  const buf = w.memory.buffer;
  return { pool, ptrs, views: lengths.map((l, i) => new Float32Array(buf, ptrs[i], l)) };
}

/** Tokens per chunk: about eight chunks per thread, so that uneven progress evens out. */
export function tokensPerChunk(n: number, threads: number): number {
  return Math.max(8, Math.ceil(n / (8 * threads)));
}

/**
 * dst[i] = src[i] (+ acc[i]): a kernel's gradX leaving the shared memory with the running gradient
 * added in the same pass (f64 sum, one rounding to f32, as adding it afterwards would give).
 */
export function copyOut(dst: Float32Array, src: Float32Array, acc: Float32Array | null): void {
  if (!acc) {
    if (dst !== src) dst.set(src);
    return;
  }
  for (let i = 0; i < dst.length; i++) dst[i] = src[i]! + acc[i]!;
}
