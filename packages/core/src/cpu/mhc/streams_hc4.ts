/**
 * The hc = 4 loops of the pre and post_res backward on plain arrays (token n at n·4·C in the streams,
 * n·C in the single-stream tensors), and their chunks of tokens on the shared wasm memory. The
 * calling thread and the CPU worker threads both run them (threads/pool.ts hands each worker their
 * source), so everything here must stay self-contained: no imports, no module state, and calls
 * only to functions of this file (a bundler may rename what is imported).
 *
 * A token's outputs depend on that token only, so the chunking never changes a bit. The chunks'
 * P[p0 ...] holds byte pointers into the memory, then sizes; R is the tokens per chunk.
 */

/**
 * hc = 4: gradX[n, s, :] = hPre[n, s]·gradXIn[n, :] and gradHPre[n, s] = x[n, s, :]·gradXIn[n, :]
 * in one pass per token, each gradient value loaded once for the four streams.
 */
export function preBackward4(
  x: Float32Array,
  gIn: Float32Array,
  h: Float32Array,
  N: number,
  C: number,
  gxv: Float32Array,
  ghv: Float32Array,
): void {
  // One pass per token: each gradient value is loaded once for the four streams.
  for (let n = 0; n < N; n++) {
    const gb = n * C;
    const b = n * 4 * C;
    const h0 = h[n * 4];
    const h1 = h[n * 4 + 1];
    const h2 = h[n * 4 + 2];
    const h3 = h[n * 4 + 3];
    let d0 = 0;
    let d1 = 0;
    let d2 = 0;
    let d3 = 0;
    for (let c = 0; c < C; c++) {
      const gv = gIn[gb + c];
      gxv[b + c] = h0 * gv;
      gxv[b + C + c] = h1 * gv;
      gxv[b + 2 * C + c] = h2 * gv;
      gxv[b + 3 * C + c] = h3 * gv;
      d0 += x[b + c] * gv;
      d1 += x[b + C + c] * gv;
      d2 += x[b + 2 * C + c] * gv;
      d3 += x[b + 3 * C + c] * gv;
    }
    ghv[n * 4] = d0;
    ghv[n * 4 + 1] = d1;
    ghv[n * 4 + 2] = d2;
    ghv[n * 4 + 3] = d3;
  }
}

/**
 * hc = 4: one pass over the channels for gradX and gradF (four gradient streams loaded once, 20
 * weights in locals), then two passes for the 20 coefficient dot products, ten accumulators each
 * so they stay in registers.
 */
export function postResBackward4(
  g: Float32Array,
  x: Float32Array,
  f: Float32Array,
  hp: Float32Array,
  hr: Float32Array,
  N: number,
  C: number,
  so: number,
  si: number,
  gx: Float32Array,
  gf: Float32Array,
  ghp: Float32Array,
  ghr: Float32Array,
): void {
  for (let n = 0; n < N; n++) {
    const w = n * 16;
    const b = n * 4 * C;
    const fb = n * C;
    const p0 = hp[n * 4];
    const p1 = hp[n * 4 + 1];
    const p2 = hp[n * 4 + 2];
    const p3 = hp[n * 4 + 3];
    // W[o, i] for input stream i, as the coefficients of Σ_o W[o, i]·g[o].
    // biome-ignore format: one tile row per line
    const w00 = hr[w], w10 = hr[w + so], w20 = hr[w + 2 * so], w30 = hr[w + 3 * so];
    // biome-ignore format: one tile row per line
    const w01 = hr[w + si], w11 = hr[w + so + si], w21 = hr[w + 2 * so + si], w31 = hr[w + 3 * so + si];
    // biome-ignore format: one tile row per line
    const w02 = hr[w + 2 * si], w12 = hr[w + so + 2 * si], w22 = hr[w + 2 * so + 2 * si], w32 = hr[w + 3 * so + 2 * si];
    // biome-ignore format: one tile row per line
    const w03 = hr[w + 3 * si], w13 = hr[w + so + 3 * si], w23 = hr[w + 2 * so + 3 * si], w33 = hr[w + 3 * so + 3 * si];
    for (let c = 0; c < C; c++) {
      const g0 = g[b + c];
      const g1 = g[b + C + c];
      const g2 = g[b + 2 * C + c];
      const g3 = g[b + 3 * C + c];
      gx[b + c] = w00 * g0 + w10 * g1 + w20 * g2 + w30 * g3;
      gx[b + C + c] = w01 * g0 + w11 * g1 + w21 * g2 + w31 * g3;
      gx[b + 2 * C + c] = w02 * g0 + w12 * g1 + w22 * g2 + w32 * g3;
      gx[b + 3 * C + c] = w03 * g0 + w13 * g1 + w23 * g2 + w33 * g3;
      gf[fb + c] = p0 * g0 + p1 * g1 + p2 * g2 + p3 * g3;
    }
    for (let o = 0; o < 4; o += 2) {
      const ga = b + o * C;
      const gb = ga + C;
      // biome-ignore format: one tile row per line
      let fa = 0, x0a = 0, x1a = 0, x2a = 0, x3a = 0;
      // biome-ignore format: one tile row per line
      let fc = 0, x0c = 0, x1c = 0, x2c = 0, x3c = 0;
      for (let c = 0; c < C; c++) {
        const u = g[ga + c];
        const v = g[gb + c];
        const fv = f[fb + c];
        const x0 = x[b + c];
        const x1 = x[b + C + c];
        const x2 = x[b + 2 * C + c];
        const x3 = x[b + 3 * C + c];
        fa += u * fv;
        x0a += u * x0;
        x1a += u * x1;
        x2a += u * x2;
        x3a += u * x3;
        fc += v * fv;
        x0c += v * x0;
        x1c += v * x1;
        x2c += v * x2;
        x3c += v * x3;
      }
      ghp[n * 4 + o] = fa;
      ghp[n * 4 + o + 1] = fc;
      const ra = w + o * so;
      const rc = ra + so;
      ghr[ra] = x0a;
      ghr[ra + si] = x1a;
      ghr[ra + 2 * si] = x2a;
      ghr[ra + 3 * si] = x3a;
      ghr[rc] = x0c;
      ghr[rc + si] = x1c;
      ghr[rc + 2 * si] = x2c;
      ghr[rc + 3 * si] = x3c;
    }
  }
}

/** What the chunks need of the wasm kernels: their (shared) memory. */
interface SharedMemory {
  readonly memory: WebAssembly.Memory;
}

/** pre backward on tokens [c·R, c·R + R): P = px, pgIn, ph, pgx, pgh, N, C, R. */
export function preBackwardChunk(
  _f32: Float32Array,
  _f64: Float64Array,
  P: Int32Array,
  p0: number,
  c: number,
  w: SharedMemory | null,
): void {
  if (!w) throw new Error('preBackwardChunk: no shared memory on this thread');
  const N = P[p0 + 5]!;
  const C = P[p0 + 6]!;
  const R = P[p0 + 7]!;
  const n0 = c * R;
  const count = Math.min(R, N - n0);
  const buf = w.memory.buffer;
  const at = (i: number, per: number) => new Float32Array(buf, P[p0 + i]! + n0 * per * 4, count * per);
  preBackward4(at(0, 4 * C), at(1, C), at(2, 4), count, C, at(3, 4 * C), at(4, 4));
}

/** post_res backward on tokens [c·R, c·R + R): P = pg, px, pf, php, phr, pgx, pgf, pghp, pghr, N, C, so, si, R. */
export function postResBackwardChunk(
  _f32: Float32Array,
  _f64: Float64Array,
  P: Int32Array,
  p0: number,
  c: number,
  w: SharedMemory | null,
): void {
  if (!w) throw new Error('postResBackwardChunk: no shared memory on this thread');
  const N = P[p0 + 9]!;
  const C = P[p0 + 10]!;
  const R = P[p0 + 13]!;
  const n0 = c * R;
  const count = Math.min(R, N - n0);
  const buf = w.memory.buffer;
  const at = (i: number, per: number) => new Float32Array(buf, P[p0 + i]! + n0 * per * 4, count * per);
  postResBackward4(
    at(0, 4 * C),
    at(1, 4 * C),
    at(2, C),
    at(3, 4),
    at(4, 16),
    count,
    C,
    P[p0 + 11]!,
    P[p0 + 12]!,
    at(5, 4 * C),
    at(6, C),
    at(7, 4),
    at(8, 16),
  );
}
