/**
 * One chunk of a call of the wasm kernels (gemm.wat) on their shared memory, as the CPU worker
 * threads and the calling thread run it (threads/pool.ts hands each worker these functions' source):
 * every function must stay self-contained (no imports, no closures over module state).
 *
 * Chunks split only what the kernels compute independently: project and gradX split the tokens
 * (each token's outputs are the same sums whichever chunk holds it), gradPhi splits the rows k of
 * the gradient (each row still sums over every token in ascending order). So a chunked call gives
 * the same bits as one call over everything, whatever the thread count.
 *
 * P[p0 ...] holds the parameters: byte pointers into the wasm memory, then sizes.
 */

import type { GemmKernels } from './gemm.js';

/** What the chunks call: the exports of gemm.wat (a type-only import: nothing reaches the source). */
type WasmGemm = Pick<GemmKernels, 'project' | 'gradX' | 'gradPhi'>;

/** project on tokens [c·R, c·R + R): P = px, pphi, pacc, pss, N, K, MP, R. */
export function projectChunk(
  _f32: Float32Array,
  _f64: Float64Array,
  P: Int32Array,
  p0: number,
  c: number,
  w: WasmGemm | null,
): void {
  if (!w) throw new Error('projectChunk: no wasm kernels on this thread');
  const N = P[p0 + 4]!;
  const K = P[p0 + 5]!;
  const MP = P[p0 + 6]!;
  const R = P[p0 + 7]!;
  const n0 = c * R;
  const count = Math.min(R, N - n0);
  w.project(P[p0]! + n0 * K * 4, P[p0 + 1]!, P[p0 + 2]! + n0 * MP * 8, P[p0 + 3]! + n0 * 8, count, K, MP);
}

/** gradX on tokens [c·R, c·R + R): P = pg, pphiT, px, pfactor, pout, N, K, M, MP, R. */
export function gradXChunk(
  _f32: Float32Array,
  _f64: Float64Array,
  P: Int32Array,
  p0: number,
  c: number,
  w: WasmGemm | null,
): void {
  if (!w) throw new Error('gradXChunk: no wasm kernels on this thread');
  const N = P[p0 + 5]!;
  const K = P[p0 + 6]!;
  const M = P[p0 + 7]!;
  const MP = P[p0 + 8]!;
  const R = P[p0 + 9]!;
  const n0 = c * R;
  const count = Math.min(R, N - n0);
  w.gradX(
    P[p0]! + n0 * MP * 8,
    P[p0 + 1]!,
    P[p0 + 2]! + n0 * K * 4,
    P[p0 + 3]! + n0 * 8,
    P[p0 + 4]! + n0 * K * 4,
    count,
    K,
    M,
    MP,
  );
}

/**
 * gradPhi rows [c·KR, c·KR + KR) over all tokens, in blocks of B tokens (the rows of x being read
 * stay in cache); acc must be zero before. P = px, pg, pacc, N, K, MP, KR, B.
 */
export function gradPhiChunk(
  _f32: Float32Array,
  _f64: Float64Array,
  P: Int32Array,
  p0: number,
  c: number,
  w: WasmGemm | null,
): void {
  if (!w) throw new Error('gradPhiChunk: no wasm kernels on this thread');
  const N = P[p0 + 3]!;
  const K = P[p0 + 4]!;
  const MP = P[p0 + 5]!;
  const KR = P[p0 + 6]!;
  const B = P[p0 + 7]!;
  const k0 = c * KR;
  const kn = Math.min(KR, K - k0);
  const px = P[p0]! + k0 * 4;
  const pacc = P[p0 + 2]! + k0 * MP * 8;
  for (let n = 0; n < N; n += B) w.gradPhi(px, P[p0 + 1]!, pacc, n, Math.min(n + B, N), K, MP, kn);
}
