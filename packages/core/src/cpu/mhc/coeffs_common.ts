// What the coeffs forward (coeffs_fwd.ts) and backward (coeffs_bwd.ts) share: the shapes and the
// chunked dispatch of the wasm kernels onto the worker pool.
import type { TensorInfo } from '../../backend/contract.js';
import type { CoeffsConfig } from '../../backend/mhc-kernels.js';
import { ArgumentError, ShapeError } from '../../errors.js';
import type { CpuBackend } from '../cpu-backend.js';
import { expectSize } from './storage.js';
import type { GemmKernels } from './wasm/gemm.js';

/**
 * coeffs: mix = (x·φ)·invr with invr = 1/sqrt(mean(x²) + rmsEps), then per token
 *   hPre  = sigmoid(mix[0:hc]·αpre + b[0:hc]) + preEps
 *   hPost = sigmoid(mix[hc:2hc]·αpost + b[hc:2hc]) · postMult
 *   hRes  = sinkhorn(mix[2hc:]·αres + b[2hc:])
 *
 * Saved tensors (each f64 packed as two f32 words, see storage.ts):
 *   saved[0]  mix   [N, M]   the normalised projection, so the backward needs no second x·φ
 *   saved[1]  invr  [N]
 *   saved[2]  ('history' only) Sinkhorn history [N, hc² + (2·tmax-1)·hc]: per token the softmax S
 *             and the denominators of every normalisation step (layout in sinkhorn.ts).
 * 'recompute' keeps only saved[0..1] and reruns Sinkhorn from mix in the backward.
 */

export interface Dims {
  n: number;
  k: number;
  hc: number;
  m: number;
  /** M rounded up to a multiple of 4: the projection works on blocks of 4 outputs. */
  mp: number;
}

export function dims(x: TensorInfo, phi: TensorInfo, b: TensorInfo, config: CoeffsConfig): Dims {
  const hc = config.hc;
  if (!Number.isInteger(hc) || hc < 1)
    throw new ArgumentError('config.hc', `expected an integer >= 1, got ${hc}`);
  if (!Number.isInteger(config.tmax) || config.tmax < 1)
    throw new ArgumentError('config.tmax', `expected an integer >= 1, got ${config.tmax}`);
  if (x.shape.length !== 2 || x.shape[1] % hc !== 0)
    throw new ShapeError('x', `[N, hc*c] with hc=${hc}`, x.shape);
  const [n, k] = x.shape;
  const m = hc * hc + 2 * hc;
  if (phi.shape.length !== 2 || phi.shape[0] !== k || phi.shape[1] !== m)
    throw new ShapeError('phi', `[${k}, ${m}]`, phi.shape);
  expectSize(b, 'b', `[${m}]`, m);
  return { n, k, hc, m, mp: (m + 3) & ~3 };
}

/** Below this many tokens the per-token tail of the forward stays on the calling thread. */
export const THREADED_MIN_TOKENS = 256;

/** Tokens per chunk of project and gradX (even: the kernels pair tokens). */
export const TOKENS_PER_CHUNK = 64;

/** Below this many multiply-adds a call stays on the calling thread (waking workers costs more). */
export const THREADED_MIN_MACS = 1 << 20;

export type WasmChunk = (
  f32: Float32Array,
  f64: Float64Array,
  P: Int32Array,
  p0: number,
  c: number,
  w: GemmKernels,
) => void;

/**
 * The chunks of one wasm kernel call: on the worker pool when it shares the kernels' memory and the
 * call is large enough, else one after another on this thread. The chunks compute the same values
 * either way (gemm-chunks.ts), so the thread count never changes the results.
 */
export function runChunks(
  cpu: CpuBackend,
  w: GemmKernels,
  macs: number,
  kernel: number,
  chunk: WasmChunk,
  params: readonly number[],
  chunks: number,
): void {
  const pool = macs >= THREADED_MIN_MACS ? cpu.pool() : null;
  if (pool && pool.wasmKernels === w) {
    pool.run(kernel, params, chunks);
    return;
  }
  const P = Int32Array.from(params);
  const none = new Float32Array(0);
  for (let c = 0; c < chunks; c++) chunk(none, new Float64Array(0), P, 0, c, w);
}
