/**
 * Sinkhorn-Knopp for one token's hc x hc residual matrix, forward and backward (golden README):
 *   P_0 = softmax(L, over the last axis) + eps
 *   P_1 = P_0 / (column sums + eps)
 *   then tmax-1 times: row-normalise, column-normalise, each dividing by (sum + eps).
 * That is T = 2*tmax - 1 normalisation steps; step t (1-based) normalises columns when t is odd and
 * rows when t is even. Everything is f64 in scratch arrays the caller allocates once per kernel call.
 *
 * History of one token (what 'history' mode saves, `historyLength` f64 values):
 *   [0, hc*hc)                      S, the softmax of L (row-major, before + eps)
 *   [hc*hc + (t-1)*hc, + hc)        d_t, the denominators (sum + eps) of step t = 1..T
 * From these the backward replays every P_t with divisions only, bit for bit as the forward made
 * them, so 'history' and 'recompute' give identical gradients.
 */

export function sinkhornSteps(tmax: number): number {
  return 2 * tmax - 1;
}

export function historyLength(hc: number, tmax: number): number {
  return hc * hc + sinkhornSteps(tmax) * hc;
}

/** Per-call scratch: S, denominators and the matrices P_0..P_T, plus two gradient buffers. */
export class SinkhornScratch {
  readonly s: Float64Array;
  readonly dens: Float64Array;
  readonly mats: Float64Array;
  readonly grad: Float64Array;
  readonly gradLogits: Float64Array;
  constructor(
    readonly hc: number,
    readonly tmax: number,
  ) {
    const hh = hc * hc;
    this.s = new Float64Array(hh);
    this.dens = new Float64Array(sinkhornSteps(tmax) * hc);
    this.mats = new Float64Array((sinkhornSteps(tmax) + 1) * hh);
    this.grad = new Float64Array(hh);
    this.gradLogits = new Float64Array(hh);
  }
}

/**
 * Forward from logits (logits[lOff .. lOff+hc*hc)). Writes S to s[sOff..], the denominators to
 * dens[dOff..] and P_0..P_T to `mats`; the result is P_T at mats[T*hc*hc].
 */
export function sinkhornForward(
  logits: Float64Array,
  lOff: number,
  hc: number,
  tmax: number,
  eps: number,
  s: Float64Array,
  sOff: number,
  dens: Float64Array,
  dOff: number,
  mats: Float64Array,
): void {
  // Row softmax with the row maximum subtracted, so large logits cannot overflow exp.
  for (let i = 0; i < hc; i++) {
    const r = i * hc;
    let max = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < hc; j++) if (logits[lOff + r + j] > max) max = logits[lOff + r + j];
    let sum = 0;
    for (let j = 0; j < hc; j++) {
      const e = Math.exp(logits[lOff + r + j] - max);
      s[sOff + r + j] = e;
      sum += e;
    }
    const inv = 1 / sum;
    for (let j = 0; j < hc; j++) s[sOff + r + j] *= inv;
  }
  const hh = hc * hc;
  for (let k = 0; k < hh; k++) mats[k] = s[sOff + k] + eps;
  const steps = sinkhornSteps(tmax);
  for (let t = 1; t <= steps; t++) {
    const src = (t - 1) * hh;
    const dst = t * hh;
    const d = dOff + (t - 1) * hc;
    if (t & 1) {
      for (let j = 0; j < hc; j++) {
        let sum = 0;
        for (let i = 0; i < hc; i++) sum += mats[src + i * hc + j];
        dens[d + j] = sum + eps;
      }
      for (let i = 0; i < hc; i++)
        for (let j = 0; j < hc; j++) mats[dst + i * hc + j] = mats[src + i * hc + j] / dens[d + j];
    } else {
      for (let i = 0; i < hc; i++) {
        let sum = 0;
        for (let j = 0; j < hc; j++) sum += mats[src + i * hc + j];
        const den = sum + eps;
        dens[d + i] = den;
        for (let j = 0; j < hc; j++) mats[dst + i * hc + j] = mats[src + i * hc + j] / den;
      }
    }
  }
}

/** Rebuild P_0..P_T in `mats` from a saved history (S and denominators): divisions only. */
export function sinkhornReplay(
  hist: Float64Array,
  hOff: number,
  hc: number,
  tmax: number,
  eps: number,
  mats: Float64Array,
): void {
  const hh = hc * hc;
  for (let k = 0; k < hh; k++) mats[k] = hist[hOff + k] + eps;
  const steps = sinkhornSteps(tmax);
  for (let t = 1; t <= steps; t++) {
    const src = (t - 1) * hh;
    const dst = t * hh;
    const d = hOff + hh + (t - 1) * hc;
    if (t & 1) {
      for (let i = 0; i < hc; i++)
        for (let j = 0; j < hc; j++) mats[dst + i * hc + j] = mats[src + i * hc + j] / hist[d + j];
    } else {
      for (let i = 0; i < hc; i++) {
        const den = hist[d + i];
        for (let j = 0; j < hc; j++) mats[dst + i * hc + j] = mats[src + i * hc + j] / den;
      }
    }
  }
}

/**
 * Backward: given dLoss/dP_T in gOut[gOff..], writes dLoss/dL into `gradLogits`. Needs P_1..P_T in
 * `mats`, the denominators at dens[dOff..] and S at s[sOff..]. For a step P_t = P_{t-1} / d (d the
 * sums + eps along one axis): dP_{t-1} = (G - sum_along_axis(G * P_t)) / d. For the softmax:
 * dL = S * (G - rowsum(G * S)); the + eps has no gradient.
 */
export function sinkhornBackward(
  gOut: Float32Array,
  gOff: number,
  hc: number,
  tmax: number,
  s: Float64Array,
  sOff: number,
  dens: Float64Array,
  dOff: number,
  mats: Float64Array,
  grad: Float64Array,
  gradLogits: Float64Array,
): void {
  const hh = hc * hc;
  for (let k = 0; k < hh; k++) grad[k] = gOut[gOff + k];
  for (let t = sinkhornSteps(tmax); t >= 1; t--) {
    const p = t * hh;
    const d = dOff + (t - 1) * hc;
    if (t & 1) {
      for (let j = 0; j < hc; j++) {
        let dot = 0;
        for (let i = 0; i < hc; i++) dot += grad[i * hc + j] * mats[p + i * hc + j];
        const den = dens[d + j];
        for (let i = 0; i < hc; i++) grad[i * hc + j] = (grad[i * hc + j] - dot) / den;
      }
    } else {
      for (let i = 0; i < hc; i++) {
        let dot = 0;
        for (let j = 0; j < hc; j++) dot += grad[i * hc + j] * mats[p + i * hc + j];
        const den = dens[d + i];
        for (let j = 0; j < hc; j++) grad[i * hc + j] = (grad[i * hc + j] - dot) / den;
      }
    }
  }
  for (let i = 0; i < hc; i++) {
    const r = i * hc;
    let dot = 0;
    for (let j = 0; j < hc; j++) dot += grad[r + j] * s[sOff + r + j];
    for (let j = 0; j < hc; j++) gradLogits[r + j] = s[sOff + r + j] * (grad[r + j] - dot);
  }
}

/**
 * The per-token tail of the coeffs forward for tokens [n0, n1): hPre and hPost from sigmoids of mix
 * [N, M], hRes by Sinkhorn from its logits, the history into `hist` when given. sc holds αpre,
 * αpost, αres, preEps, postMult, sinkhornEps. The CPU worker threads run it too (threads/pool.ts
 * hands them this file's functions), so it calls only functions of this file.
 */
export function coeffsTokens(
  mix: Float64Array,
  b: Float32Array,
  sc: Float64Array,
  hc: number,
  tmax: number,
  n0: number,
  n1: number,
  pre: Float32Array,
  post: Float32Array,
  res: Float32Array,
  hist: Float64Array | null,
): void {
  const hh = hc * hc;
  const M = hh + 2 * hc;
  const steps = sinkhornSteps(tmax);
  const histLen = hh + steps * hc;
  const aPre = sc[0]!;
  const aPost = sc[1]!;
  const aRes = sc[2]!;
  const preEps = sc[3]!;
  const postMult = sc[4]!;
  const eps = sc[5]!;
  const s = new Float64Array(hh);
  const dens = new Float64Array(steps * hc);
  const mats = new Float64Array((steps + 1) * hh);
  const logits = new Float64Array(hh);
  const final = steps * hh;
  for (let n = n0; n < n1; n++) {
    const mo = n * M;
    for (let i = 0; i < hc; i++) {
      pre[n * hc + i] = 1 / (1 + Math.exp(-(mix[mo + i]! * aPre + b[i]!))) + preEps;
      post[n * hc + i] = (1 / (1 + Math.exp(-(mix[mo + hc + i]! * aPost + b[hc + i]!)))) * postMult;
    }
    for (let j = 0; j < hh; j++) logits[j] = mix[mo + 2 * hc + j]! * aRes + b[2 * hc + j]!;
    if (hist) {
      const h = n * histLen;
      sinkhornForward(logits, 0, hc, tmax, eps, hist, h, hist, h + hh, mats);
    } else sinkhornForward(logits, 0, hc, tmax, eps, s, 0, dens, 0, mats);
    for (let j = 0; j < hh; j++) res[n * hh + j] = mats[final + j]!;
  }
}

/**
 * `coeffsTokens` on tokens [c·R, c·R + R) with its operands in the shared wasm memory:
 * P = pmix, pb, psc, ppre, ppost, pres, phist (-1: none), N, hc, tmax, R.
 */
export function coeffsTokensChunk(
  _f32: Float32Array,
  _f64: Float64Array,
  P: Int32Array,
  p0: number,
  c: number,
  w: { readonly memory: WebAssembly.Memory } | null,
): void {
  if (!w) throw new Error('coeffsTokensChunk: no shared memory on this thread');
  const buf = w.memory.buffer;
  const N = P[p0 + 7]!;
  const hc = P[p0 + 8]!;
  const tmax = P[p0 + 9]!;
  const R = P[p0 + 10]!;
  const hh = hc * hc;
  const M = hh + 2 * hc;
  const histLen = hh + (2 * tmax - 1) * hc;
  const n0 = c * R;
  const n1 = Math.min(N, n0 + R);
  const ph = P[p0 + 6]!;
  coeffsTokens(
    new Float64Array(buf, P[p0]!, N * M),
    new Float32Array(buf, P[p0 + 1]!, M),
    new Float64Array(buf, P[p0 + 2]!, 6),
    hc,
    tmax,
    n0,
    n1,
    new Float32Array(buf, P[p0 + 3]!, N * hc),
    new Float32Array(buf, P[p0 + 4]!, N * hc),
    new Float32Array(buf, P[p0 + 5]!, N * hh),
    ph < 0 ? null : new Float64Array(buf, ph, N * histLen),
  );
}

/**
 * The per-token part of the coeffs backward for tokens [n0, n1), from the saved mix [N, M] (and the
 * Sinkhorn history, or a rerun from mix when `hist` is null) and the coefficient gradients (null:
 * none): g[n, 0:M] = dLoss/dmix·invr (the padding up to MP zeroed), factor[n] = the rsqrt term, and
 * each token's addends of gradB (tb [N, M]) and of the α gradients (ta [N, M]), which the caller
 * sums over the tokens in order. sc holds αpre, αpost, αres, postMult, sinkhornEps, K. The CPU
 * worker threads run it too (threads/pool.ts), so it calls only functions of this file.
 */
export function coeffsTokensBackward(
  mix: Float64Array,
  invr: Float64Array,
  b: Float32Array,
  sc: Float64Array,
  hc: number,
  tmax: number,
  n0: number,
  n1: number,
  gPre: Float32Array | null,
  gPost: Float32Array | null,
  gRes: Float32Array | null,
  hist: Float64Array | null,
  g: Float64Array | null,
  factor: Float64Array | null,
  MP: number,
  tb: Float64Array,
  ta: Float64Array,
): void {
  const hh = hc * hc;
  const M = hh + 2 * hc;
  const steps = sinkhornSteps(tmax);
  const histLen = hh + steps * hc;
  const aPre = sc[0]!;
  const aPost = sc[1]!;
  const aRes = sc[2]!;
  const postMult = sc[3]!;
  const eps = sc[4]!;
  const K = sc[5]!;
  const s = new Float64Array(hh);
  const dens = new Float64Array(steps * hc);
  const mats = new Float64Array((steps + 1) * hh);
  const grad = new Float64Array(hh);
  const gl = new Float64Array(hh);
  const logits = new Float64Array(hh);
  const gmix = new Float64Array(M);
  for (let n = n0; n < n1; n++) {
    const mo = n * M;
    for (let i = 0; i < hc; i++) {
      let dz = 0;
      if (gPre) {
        const sg = 1 / (1 + Math.exp(-(mix[mo + i]! * aPre + b[i]!)));
        dz = gPre[n * hc + i]! * sg * (1 - sg);
        ta[mo + i] = dz * mix[mo + i]!;
        tb[mo + i] = dz;
      }
      gmix[i] = dz * aPre;
      let dq = 0;
      if (gPost) {
        const sg = 1 / (1 + Math.exp(-(mix[mo + hc + i]! * aPost + b[hc + i]!)));
        dq = gPost[n * hc + i]! * postMult * sg * (1 - sg);
        ta[mo + hc + i] = dq * mix[mo + hc + i]!;
        tb[mo + hc + i] = dq;
      }
      gmix[hc + i] = dq * aPost;
    }
    if (gRes) {
      if (hist) {
        const h = n * histLen;
        sinkhornReplay(hist, h, hc, tmax, eps, mats);
        sinkhornBackward(gRes, n * hh, hc, tmax, hist, h, hist, h + hh, mats, grad, gl);
      } else {
        for (let j = 0; j < hh; j++) logits[j] = mix[mo + 2 * hc + j]! * aRes + b[2 * hc + j]!;
        sinkhornForward(logits, 0, hc, tmax, eps, s, 0, dens, 0, mats);
        sinkhornBackward(gRes, n * hh, hc, tmax, s, 0, dens, 0, mats, grad, gl);
      }
      for (let j = 0; j < hh; j++) {
        ta[mo + 2 * hc + j] = gl[j]! * mix[mo + 2 * hc + j]!;
        tb[mo + 2 * hc + j] = gl[j]!;
        gmix[2 * hc + j] = gl[j]! * aRes;
      }
    } else for (let j = 0; j < hh; j++) gmix[2 * hc + j] = 0;
    if (g) {
      const r = invr[n]!;
      let dot = 0;
      for (let m = 0; m < M; m++) {
        g[n * MP + m] = gmix[m]! * r;
        dot += gmix[m]! * mix[mo + m]!;
      }
      for (let m = M; m < MP; m++) g[n * MP + m] = 0;
      // d invr / dx = -invr³·x/K and mix = acc·invr, so the rsqrt term is -(gmix·mix)·invr²/K · x.
      if (factor) factor[n] = (-dot * r * r) / K;
    }
  }
}

/**
 * `coeffsTokensBackward` on tokens [c·R, c·R + R) with its operands in the shared wasm memory:
 * P = pmix, pinvr, pb, psc, pgPre, pgPost, pgRes, phist, pg, pfactor (-1: none), ptb, pta, N, hc,
 * tmax, MP, R.
 */
export function coeffsTokensBackwardChunk(
  _f32: Float32Array,
  _f64: Float64Array,
  P: Int32Array,
  p0: number,
  c: number,
  w: { readonly memory: WebAssembly.Memory } | null,
): void {
  if (!w) throw new Error('coeffsTokensBackwardChunk: no shared memory on this thread');
  const buf = w.memory.buffer;
  const N = P[p0 + 12]!;
  const hc = P[p0 + 13]!;
  const tmax = P[p0 + 14]!;
  const MP = P[p0 + 15]!;
  const R = P[p0 + 16]!;
  const hh = hc * hc;
  const M = hh + 2 * hc;
  const histLen = hh + (2 * tmax - 1) * hc;
  const n0 = c * R;
  const n1 = Math.min(N, n0 + R);
  const f32 = (i: number, len: number) => (P[p0 + i]! < 0 ? null : new Float32Array(buf, P[p0 + i]!, len));
  const f64 = (i: number, len: number) => (P[p0 + i]! < 0 ? null : new Float64Array(buf, P[p0 + i]!, len));
  coeffsTokensBackward(
    f64(0, N * M)!,
    f64(1, N)!,
    f32(2, M)!,
    f64(3, 6)!,
    hc,
    tmax,
    n0,
    n1,
    f32(4, N * hc),
    f32(5, N * hc),
    f32(6, N * hh),
    f64(7, N * histLen),
    f64(8, N * MP),
    f64(9, N),
    MP,
    f64(10, N * M)!,
    f64(11, N * M)!,
  );
}
