/**
 * The mHC benchmark rows, defined once against core's Backend contract: every backend's entry point
 * supplies a timer hook and gets the same ops, modes and byte counts.
 *
 * bf16, identity inner layer (f = xIn), tmax 20. Minimal bytes as the PyTorch anchor counts them
 * (X = N·hc·c·2, F = N·c·2): coeffs fwd X, fwd+bwd 3X; pre fwd X+F, fwd+bwd 3X+2F; post_res fwd
 * 2X+F, fwd+bwd 5X+3F; coeffs+pre fwd X+F; layer fwd 3X+2F, fwd+bwd 7X+5F. The cross-layer boundary
 * (post_res of one sublayer with coeffs and pre of the next, where the backend fuses it) reads x and f
 * and writes the new streams and the next layer input: fwd 2X+2F; its backward reads the two
 * cotangents, x and f and writes their gradients: fwd+bwd 5X+5F.
 */
import type {
  Backend,
  CoeffsForwardArgs,
  PostResCoeffsPreForwardResult,
  SinkhornSaveMode,
  TensorInfo,
} from '@liger-mhc/core';
import { f32ToBf16, runCoeffsPre } from '@liger-mhc/core';
import { composedPostResCoeffsPreForward } from '@liger-mhc/core/internals';

/** Times a function that enqueues work and frees its outputs: median milliseconds per call. */
export interface Timer {
  time(fn: () => void): Promise<number>;
}

/** One measured row before it becomes a results-table row. */
export interface Measured {
  op: string;
  mode: 'fwd' | 'fwd+bwd';
  /** '' for the production path; otherwise the variant's name (the row is not a headline). */
  variant: string;
  ms: number;
  bytes: number;
  peakBytes?: number;
}

export interface LayerInputs {
  x: TensorInfo;
  phi: TensorInfo;
  b: TensorInfo;
  aPre: TensorInfo;
  aPost: TensorInfo;
  aRes: TensorInfo;
  gOut: TensorInfo;
  N: number;
  hc: number;
  c: number;
}

/** Uniform values in [-scale, scale) as bf16 bits from a fixed seed (same data every run). */
export function bf16Random(n: number, seed: number, scale: number): Uint16Array {
  const out = new Uint16Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = f32ToBf16(((s / 2 ** 32) * 2 - 1) * scale);
  }
  return out;
}

function put(
  be: Backend,
  data: Uint16Array | Float32Array,
  shape: number[],
  dtype: 'bf16' | 'f32',
): TensorInfo {
  const h = be.alloc(dtype, data.length);
  be.write(h, data);
  return { handle: h, shape, dtype };
}

/** Inputs of the anchor's layer: x ~ U(-1, 1), φ ~ U(-0.02, 0.02), b = 0, alphas = 1. */
export function layerInputs(be: Backend, N: number, hc: number, c: number): LayerInputs {
  const K = hc * c;
  const M = hc * hc + 2 * hc;
  return {
    x: put(be, bf16Random(N * K, 1, 1), [N, hc, c], 'bf16'),
    phi: put(be, bf16Random(K * M, 2, 0.02), [K, M], 'bf16'),
    b: put(be, new Float32Array(M), [M], 'f32'),
    aPre: put(be, Float32Array.of(1), [], 'f32'),
    aPost: put(be, Float32Array.of(1), [], 'f32'),
    aRes: put(be, Float32Array.of(1), [], 'f32'),
    gOut: put(be, bf16Random(N * K, 4, 1), [N, hc, c], 'bf16'),
    N,
    hc,
    c,
  };
}

export function free(be: Backend, ...ts: (TensorInfo | null | undefined)[]): void {
  for (const t of ts) if (t) be.disposeData(t.handle);
}

function coeffsArgs(L: LayerInputs): Omit<CoeffsForwardArgs, 'save'> {
  const { N, hc, c } = L;
  return {
    x: { ...L.x, shape: [N, hc * c] },
    phi: L.phi,
    b: L.b,
    alphaPre: L.aPre,
    alphaPost: L.aPost,
    alphaRes: L.aRes,
    config: { hc, tmax: 20, rmsEps: 1e-6, preEps: 0, sinkhornEps: 1e-6, postMult: 2 },
  };
}

/** The layer forward as core runs it: pre in the coeffs pass where the backend offers it. */
export function layerForward(be: Backend, L: LayerInputs): void {
  const r = runCoeffsPre(be.mhc, { ...coeffsArgs(L), save: 'none' });
  const xIn = r.xIn;
  free(be, r.hPre, r.hPost, r.hRes, xIn, be.mhc.postResForward(L.x, xIn, r.hPost, r.hRes, 'liger'));
}

/**
 * One forward+backward of the layer through the backend's kernels, as core's autograd runs it:
 * each buffer is released as soon as nothing needs it, and the x gradient of post_res, pre and
 * coeffs is summed the way core sums it (in the kernels where the backend accumulates gradX, else
 * by two add passes), so the time and the peak memory are those of a training step.
 */
export function layerStep(be: Backend, L: LayerInputs, save: SinkhornSaveMode = 'history'): void {
  const { N, hc, c } = L;
  const accumulate = be.mhc.accumulatesGradX === true;
  const args = coeffsArgs(L);
  const co = runCoeffsPre(be.mhc, { ...args, save });
  const xIn = co.xIn;
  free(be, be.mhc.postResForward(L.x, xIn, co.hPost, co.hRes, 'liger'));
  const pr = be.mhc.postResBackward(L.gOut, L.x, xIn, co.hPost, co.hRes, 'liger');
  free(be, xIn);
  // Identity inner layer: the gradient of xIn is the gradient of f.
  const pb = be.mhc.preBackward(pr.gradF, L.x, co.hPre, accumulate ? pr.gradX : null);
  free(be, pr.gradF);
  if (accumulate) free(be, pr.gradX);
  const cb = be.mhc.coeffsBackward({
    ...args,
    accumulateGradX: accumulate ? { ...pb.gradX, shape: [N, hc * c] } : null,
    gradHPre: pb.gradHPre,
    gradHPost: pr.gradHPost,
    gradHRes: pr.gradHRes,
    hPre: co.hPre,
    hPost: co.hPost,
    hRes: co.hRes,
    saved: co.saved,
    save,
    needs: { x: true, phi: true, b: true, alphas: true },
  });
  free(be, co.hPre, co.hPost, co.hRes, ...co.saved, pb.gradHPre, pr.gradHPost, pr.gradHRes);
  free(be, cb.gradPhi, cb.gradB, cb.gradAlphaPre, cb.gradAlphaPost, cb.gradAlphaRes);
  if (accumulate) {
    free(be, pb.gradX, cb.gradX);
    return;
  }
  const s1 = be.ops.binary('add', pr.gradX, pb.gradX);
  free(be, pr.gradX, pb.gradX);
  const gradX = be.ops.binary('add', s1, { ...cb.gradX!, shape: [N, hc, c] });
  free(be, s1, cb.gradX, gradX);
}

/** Every row of one shape, timed with `timer`. */
export async function mhcRows(
  be: Backend,
  timer: Timer,
  N: number,
  hc: number,
  c: number,
): Promise<Measured[]> {
  const L = layerInputs(be, N, hc, c);
  const X = N * hc * c * 2;
  const F = N * c * 2;
  const args = coeffsArgs(L);
  const rows: Measured[] = [];
  const row = async (op: string, mode: Measured['mode'], bytes: number, fn: () => void, variant = '') => {
    rows.push({ op, mode, variant, bytes, ms: await timer.time(fn) });
  };
  // Fixed coefficients and cotangents for the pre / post_res rows.
  const co = be.mhc.coeffsForward({ ...args, save: 'none' });
  const fIn = be.mhc.preForward(L.x, co.hPre);
  const gPre = be.ops.fill([N, hc], 'f32', 0.01);
  const gPost = be.ops.fill([N, hc], 'f32', 0.02);
  const gRes = be.ops.fill([N, hc, hc], 'f32', 0.03);

  await row('coeffs', 'fwd', X, () => {
    const r = be.mhc.coeffsForward({ ...args, save: 'none' });
    free(be, r.hPre, r.hPost, r.hRes);
  });
  await row('coeffs', 'fwd+bwd', 3 * X, () => {
    const r = be.mhc.coeffsForward({ ...args, save: 'history' });
    const g = be.mhc.coeffsBackward({
      ...args,
      gradHPre: gPre,
      gradHPost: gPost,
      gradHRes: gRes,
      hPre: r.hPre,
      hPost: r.hPost,
      hRes: r.hRes,
      saved: r.saved,
      save: 'history',
      needs: { x: true, phi: true, b: true, alphas: true },
    });
    free(be, r.hPre, r.hPost, r.hRes, ...r.saved);
    free(be, g.gradX, g.gradPhi, g.gradB, g.gradAlphaPre, g.gradAlphaPost, g.gradAlphaRes);
  });
  await row('coeffs+pre', 'fwd', X + F, () => {
    const r = runCoeffsPre(be.mhc, { ...args, save: 'none' });
    free(be, r.hPre, r.hPost, r.hRes, r.xIn);
  });
  await row('pre', 'fwd', X + F, () => free(be, be.mhc.preForward(L.x, co.hPre)));
  await row('pre', 'fwd+bwd', 3 * X + 2 * F, () => {
    const y = be.mhc.preForward(L.x, co.hPre);
    const g = be.mhc.preBackward(y, L.x, co.hPre);
    free(be, y, g.gradX, g.gradHPre);
  });
  await row('post_res', 'fwd', 2 * X + F, () =>
    free(be, be.mhc.postResForward(L.x, fIn, co.hPost, co.hRes, 'liger')),
  );
  await row('post_res', 'fwd+bwd', 5 * X + 3 * F, () => {
    const y = be.mhc.postResForward(L.x, fIn, co.hPost, co.hRes, 'liger');
    const g = be.mhc.postResBackward(L.gOut, L.x, fIn, co.hPost, co.hRes, 'liger');
    free(be, y, g.gradX, g.gradF, g.gradHPost, g.gradHRes);
  });
  await row('layer', 'fwd', 3 * X + 2 * F, () => layerForward(be, L));
  await row('layer', 'fwd+bwd', 7 * X + 5 * F, () => layerStep(be, L, 'history'));
  // Peak memory of one forward+backward above the inputs already live.
  await be.sync();
  be.resetPeak();
  layerStep(be, L, 'history');
  await be.sync();
  rows[rows.length - 1]!.peakBytes = be.memory().peakBytes;
  await row('layer', 'fwd+bwd', 7 * X + 5 * F, () => layerStep(be, L, 'recompute'), 'sinkhornSave=recompute');
  if (be.mhc.crossLayer) {
    // The coeffs arguments of the next sublayer, with the streams as [N, hc, c] and this sublayer's exit.
    const cl = { ...args, x: L.x, f: fIn, hPost: co.hPost, hRes: co.hRes, orientation: 'liger' as const };
    const outs = (r: PostResCoeffsPreForwardResult) => [r.xOut, r.hPre, r.hPost, r.hRes, r.xIn, ...r.saved];
    await row('boundary', 'fwd', 2 * X + 2 * F, () =>
      free(be, ...outs(be.mhc.postResCoeffsPreForward!({ ...cl, save: 'none' }))),
    );
    await row(
      'boundary',
      'fwd',
      2 * X + 2 * F,
      () => free(be, ...outs(composedPostResCoeffsPreForward(be, be.mhc, { ...cl, save: 'none' }, N, hc, c))),
      'separate',
    );
    await row('boundary', 'fwd+bwd', 5 * X + 5 * F, () => {
      const r = be.mhc.postResCoeffsPreForward!({ ...cl, save: 'history' });
      const g = be.mhc.postResCoeffsPreBackward!({
        ...cl,
        gradXOut: L.gOut,
        gradXIn: fIn,
        gradHPre: gPre,
        gradHPost: gPost,
        gradHRes: gRes,
        hPostIn: co.hPost,
        hResIn: co.hRes,
        xOut: r.xOut,
        hPre: r.hPre,
        hPost: r.hPost,
        hRes: r.hRes,
        saved: r.saved,
        save: 'history',
        needs: { x: true, f: true, hPostIn: true, hResIn: true, phi: true, b: true, alphas: true },
      });
      free(be, ...outs(r), g.gradX, g.gradF, g.gradHPostIn, g.gradHResIn, g.gradPhi, g.gradB);
      free(be, g.gradAlphaPre, g.gradAlphaPost, g.gradAlphaRes);
    });
  }

  free(be, co.hPre, co.hPost, co.hRes, fIn, gPre, gPost, gRes);
  free(be, L.x, L.phi, L.b, L.aPre, L.aPost, L.aRes, L.gOut);
  return rows;
}
