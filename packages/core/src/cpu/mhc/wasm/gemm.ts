import { GEMM_WASM_BASE64, GEMM_WASM_SHARED_BASE64 } from './gemm-bytes.js';

/**
 * The WebAssembly SIMD kernels of gemm.wat: the three GEMM-like loops of coeffs_fwd.ts and
 * coeffs_bwd.ts (x·φ with the row sums of squares, g·φᵀ + factor·x, xᵀ·g). Each output keeps one
 * f64 accumulator (one lane of an f64x2) summed in the same order as the JS loops, without FMA, so
 * both paths give bit-identical results; the JS loops remain the fallback wherever wasm SIMD is
 * unavailable.
 *
 * The module is small (about 3 KB), so it is compiled and instantiated synchronously, once, on
 * first use. It has one memory that the callers lay their operands out in (see `reserve`); the
 * memory grows as needed and is never shrunk. Where SharedArrayBuffer exists the memory is shared
 * (the second build of gemm.wat imports it), so the CPU worker threads instantiate the same module
 * on the same memory and take chunks of one call (gemm-chunks.ts) without copying the operands.
 */
export interface GemmKernels {
  readonly memory: WebAssembly.Memory;
  project(x: number, phi: number, acc: number, ss: number, n: number, k: number, mp: number): void;
  gradX(
    g: number,
    phiT: number,
    x: number,
    factor: number,
    out: number,
    n: number,
    k: number,
    m: number,
    mp: number,
  ): void;
  gradPhi(
    x: number,
    g: number,
    acc: number,
    nBegin: number,
    nEnd: number,
    k: number,
    mp: number,
    kCount: number,
  ): void;
}

/** The compiled module and its shared memory, for the worker threads to instantiate. */
export interface SharedGemm {
  readonly module: WebAssembly.Module;
  readonly memory: WebAssembly.Memory;
}

/** undefined: not tried yet; null: unavailable (no WebAssembly, no SIMD, or instantiation failed). */
let kernels: GemmKernels | null | undefined;
let shared: SharedGemm | null = null;
let disabled = false;

/** 2 GiB in 64 KiB pages: a shared memory must declare its maximum (gemm.wat's i32 bound). */
const SHARED_MAX_PAGES = 32768;

function decodeBase64(s: string): Uint8Array<ArrayBuffer> {
  const bin = atob(s);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

/** The kernels on a shared memory, or null where shared wasm memories are unavailable. */
function instantiateShared(): GemmKernels | null {
  if (typeof SharedArrayBuffer !== 'function') return null;
  try {
    const bytes = decodeBase64(GEMM_WASM_SHARED_BASE64);
    if (!WebAssembly.validate(bytes)) return null;
    const module = new WebAssembly.Module(bytes);
    const memory = new WebAssembly.Memory({ initial: 1, maximum: SHARED_MAX_PAGES, shared: true });
    const instance = new WebAssembly.Instance(module, { env: { memory } });
    shared = { module, memory };
    return { ...(instance.exports as unknown as Omit<GemmKernels, 'memory'>), memory };
  } catch {
    shared = null;
    return null;
  }
}

/** The kernels, or null when the JS loops must be used. */
export function gemmKernels(): GemmKernels | null {
  if (disabled) return null;
  if (kernels === undefined) {
    kernels = null;
    try {
      if (typeof WebAssembly === 'object' && typeof atob === 'function') {
        kernels = instantiateShared();
        const bytes = decodeBase64(GEMM_WASM_BASE64);
        if (!kernels && WebAssembly.validate(bytes)) {
          const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), {});
          kernels = instance.exports as unknown as GemmKernels;
        }
      }
    } catch {
      kernels = null;
    }
  }
  return kernels;
}

/** The module and memory of `gemmKernels()` when that memory is shared (worker threads can join). */
export function sharedGemm(): SharedGemm | null {
  return gemmKernels() ? shared : null;
}

/** Turns the wasm kernels off (false) or back on (true), e.g. to compare them with the JS loops. */
export function setGemmWasmEnabled(enabled: boolean): void {
  disabled = !enabled;
}

/** Pointers stay below 2 GiB so that every i32 address computation in gemm.wat is exact. */
const MAX_BYTES = 2 ** 31 - 2 ** 16;

/**
 * Byte offsets of consecutive 16-byte-aligned regions of the given sizes, growing the memory to
 * hold them; null when they would not fit (the caller then uses the JS loops). Views on
 * `memory.buffer` must be created after this call, since growing replaces the buffer.
 */
export function reserve(w: GemmKernels, sizes: readonly number[]): number[] | null {
  const ptrs: number[] = [];
  let end = 0;
  for (const s of sizes) {
    ptrs.push(end);
    end += Math.ceil(s / 16) * 16;
  }
  if (end > MAX_BYTES) return null;
  const have = w.memory.buffer.byteLength;
  if (end > have) {
    try {
      w.memory.grow(Math.ceil((end - have) / 65536));
    } catch {
      return null;
    }
  }
  return ptrs;
}
