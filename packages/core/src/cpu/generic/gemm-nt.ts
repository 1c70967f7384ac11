/**
 * The matmul's inner kernel, in a file of its own because the CPU worker threads run the same
 * function (its source is handed to each worker, see threads/pool.ts): both functions must stay
 * self-contained (no imports, no closures over module state).
 */

/**
 * C[i, j] = Σ_k A[i, k] · BT[j, k] for A [M, K] at aOff, BT [N, K] at bOff, C [M, N] at cOff.
 * 4×4 register tiles; the edges (M or N not a multiple of 4) take one dot product per element.
 */
// biome-ignore format: the 4×4 tile reads best as a 4×4 grid of statements.
export function gemmNT(
  A: Float32Array,
  aOff: number,
  BT: Float32Array,
  bOff: number,
  C: Float32Array | Float64Array,
  cOff: number,
  M: number,
  K: number,
  N: number,
): void {
  const M4 = M - (M % 4);
  const N4 = N - (N % 4);
  for (let i = 0; i < M4; i += 4) {
    const a0 = aOff + i * K;
    const a1 = a0 + K;
    const a2 = a1 + K;
    const a3 = a2 + K;
    for (let j = 0; j < N4; j += 4) {
      const b0 = bOff + j * K;
      const b1 = b0 + K;
      const b2 = b1 + K;
      const b3 = b2 + K;
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
      let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
      let c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      for (let k = 0; k < K; k++) {
        const x0 = A[a0 + k];
        const x1 = A[a1 + k];
        const x2 = A[a2 + k];
        const x3 = A[a3 + k];
        const y0 = BT[b0 + k];
        const y1 = BT[b1 + k];
        const y2 = BT[b2 + k];
        const y3 = BT[b3 + k];
        c00 += x0 * y0; c01 += x0 * y1; c02 += x0 * y2; c03 += x0 * y3;
        c10 += x1 * y0; c11 += x1 * y1; c12 += x1 * y2; c13 += x1 * y3;
        c20 += x2 * y0; c21 += x2 * y1; c22 += x2 * y2; c23 += x2 * y3;
        c30 += x3 * y0; c31 += x3 * y1; c32 += x3 * y2; c33 += x3 * y3;
      }
      let o = cOff + i * N + j;
      C[o] = c00; C[o + 1] = c01; C[o + 2] = c02; C[o + 3] = c03;
      o += N;
      C[o] = c10; C[o + 1] = c11; C[o + 2] = c12; C[o + 3] = c13;
      o += N;
      C[o] = c20; C[o + 1] = c21; C[o + 2] = c22; C[o + 3] = c23;
      o += N;
      C[o] = c30; C[o + 1] = c31; C[o + 2] = c32; C[o + 3] = c33;
    }
    for (let r = i; r < i + 4; r++) for (let j = N4; j < N; j++) C[cOff + r * N + j] = dot(A, aOff + r * K, BT, bOff + j * K, K);
  }
  for (let r = M4; r < M; r++) for (let j = 0; j < N; j++) C[cOff + r * N + j] = dot(A, aOff + r * K, BT, bOff + j * K, K);
}

export function dot(x: Float32Array, xo: number, y: Float32Array, yo: number, n: number): number {
  let s = 0;
  for (let k = 0; k < n; k++) s += x[xo + k] * y[yo + k];
  return s;
}

/**
 * One chunk of a (batched) gemmNT job on shared memory: chunk c is rows [r0, r0 + R) of batch
 * c / blocksPerBatch. A and BT are f32, C is f64 (every thread stores the exact f64 sum; the caller
 * rounds once into the output). P holds, in order: aOff, bOff, cOff (element offsets), aStride,
 * bStride, cStride (per batch; bStride 0 for a shared B), M, K, N, R, blocksPerBatch.
 */
export function gemmChunk(f32: Float32Array, f64: Float64Array, P: Int32Array, p0: number, c: number): void {
  const M = P[p0 + 6];
  const K = P[p0 + 7];
  const N = P[p0 + 8];
  const R = P[p0 + 9];
  const nb = P[p0 + 10];
  const batch = Math.floor(c / nb);
  const r0 = (c % nb) * R;
  const rows = Math.min(R, M - r0);
  if (rows <= 0) return;
  const aOff = P[p0] + batch * P[p0 + 3] + r0 * K;
  const bOff = P[p0 + 1] + batch * P[p0 + 4];
  const cOff = P[p0 + 2] + batch * P[p0 + 5] + r0 * N;
  gemmNT(f32, aOff, f32, bOff, f64, cOff, rows, K, N);
}
