import {
  ArgumentError,
  type MhcKernels,
  type PostResCoeffsPreBackwardArgs,
  type PostResCoeffsPreBackwardResult,
  type PostResCoeffsPreForwardArgs,
  type PostResCoeffsPreForwardResult,
  ShapeError,
  sizeOf,
  type TensorInfo,
} from '@liger-mhc/core';
import { composedPostResCoeffsPreForward } from '@liger-mhc/core/internals';
import type { WebGpuBackend } from '../../backend.js';
import { coeffsShape } from './coeffs.wgsl.js';
import { pairOutDtype } from './common.js';
import { POST_RES_COEFFS_PRE_MAX_HC, postResCoeffsPreForwardKernel } from './post_res_coeffs_pre.wgsl.js';

/**
 * Host side of the cross-layer boundary (post_res of sublayer l, coefficients and pre of l+1):
 * the forward is post_res_coeffs_pre.wgsl.ts, one dispatch per call, for hc up to
 * POST_RES_COEFFS_PRE_MAX_HC; above it the boundary runs as the separate post_res, coeffs and pre
 * kernels. Its saved tensors are those of coeffsForward ([N, M+1] mix and invr, and in 'history' mode
 * the Sinkhorn history), so the backward runs pre's, coeffs' and post_res's backward kernels in the
 * order the separate ops' autograd nodes would, adding the stream gradients between them.
 */

type Kernels = Pick<
  MhcKernels,
  'postResForward' | 'coeffsForward' | 'preForward' | 'preBackward' | 'coeffsBackward' | 'postResBackward'
>;

const view = (t: TensorInfo, shape: readonly number[]): TensorInfo => ({
  handle: t.handle,
  shape: [...shape],
  dtype: t.dtype,
});

function f32(t: TensorInfo, name: string): void {
  if (t.dtype !== 'f32') throw new ArgumentError(name, `expected dtype f32, got ${t.dtype}`);
}

function count(t: TensorInfo, name: string, shape: readonly number[]): void {
  if (sizeOf(t.shape) !== sizeOf(shape)) throw new ShapeError(name, `[${shape.join(', ')}]`, t.shape);
}

export function postResCoeffsPreForward(
  b: WebGpuBackend,
  k: Kernels,
  a: PostResCoeffsPreForwardArgs,
): PostResCoeffsPreForwardResult {
  const { x, f, hPost, hRes, phi, config, save } = a;
  b.check({
    x,
    f,
    hPost,
    hRes,
    phi,
    b: a.b,
    alphaPre: a.alphaPre,
    alphaPost: a.alphaPost,
    alphaRes: a.alphaRes,
  });
  if (x.shape.length !== 3) throw new ShapeError('x', '[N, hc, c]', x.shape);
  const [N, hc, c] = x.shape as [number, number, number];
  if (hc !== config.hc) throw new ShapeError('x', `[N, ${config.hc}, c] (config.hc)`, x.shape);
  if (a.orientation !== 'liger' && a.orientation !== 'deepseek')
    throw new ArgumentError('orientation', `expected 'liger' or 'deepseek', got '${String(a.orientation)}'`);
  if (a.phiLayout !== undefined && a.phiLayout !== 'liger')
    throw new ArgumentError(
      'phiLayout',
      `expected 'liger' (this backend's only φ layout), got '${a.phiLayout}'`,
    );
  // Above what the fused kernel takes, the boundary runs as the separate kernels.
  if (hc > POST_RES_COEFFS_PRE_MAX_HC) return composedPostResCoeffsPreForward(b, k, a, N, hc, c);

  const K = hc * c;
  const { M } = coeffsShape(hc);
  if (!Number.isInteger(config.tmax) || config.tmax < 1)
    throw new ArgumentError('config.tmax', `expected an integer >= 1, got ${config.tmax}`);
  for (const [name, t] of [
    ['x', x],
    ['f', f],
  ] as const)
    if (t.dtype === 'i32') throw new ArgumentError(name, 'expected a float dtype, got i32');
  if (phi.dtype === 'i32') throw new ArgumentError('phi', 'expected a float dtype, got i32');
  count(f, 'f', [N, c]);
  f32(hPost, 'hPost');
  f32(hRes, 'hRes');
  count(hPost, 'hPost', [N, hc]);
  count(hRes, 'hRes', [N, hc, hc]);
  if (phi.shape.length !== 2 || phi.shape[0] !== K || phi.shape[1] !== M)
    throw new ShapeError('phi', `[${K}, ${M}]`, phi.shape);
  f32(a.b, 'b');
  count(a.b, 'b', [M]);
  for (const [name, t] of [
    ['alphaPre', a.alphaPre],
    ['alphaPost', a.alphaPost],
    ['alphaRes', a.alphaRes],
  ] as const) {
    f32(t, name);
    count(t, name, []);
  }

  // b, the alphas and sublayer l's coefficients in one binding (see the kernel's binding list).
  const coef = b.output([M + 3 + N * (hc + hc * hc)], 'f32');
  const cb = b.buf(coef, 'coef');
  b.copy(b.buf(a.b, 'b'), 0, cb, 0, M * 4);
  b.copy(b.buf(a.alphaPre, 'alphaPre'), 0, cb, M * 4, 4);
  b.copy(b.buf(a.alphaPost, 'alphaPost'), 0, cb, (M + 1) * 4, 4);
  b.copy(b.buf(a.alphaRes, 'alphaRes'), 0, cb, (M + 2) * 4, 4);
  b.copy(b.buf(hPost, 'hPost'), 0, cb, (M + 3) * 4, N * hc * 4);
  b.copy(b.buf(hRes, 'hRes'), 0, cb, (M + 3 + N * hc) * 4, N * hc * hc * 4);

  // Halves in rows of odd length are written as f32 scratch and packed afterwards (as post_res, pre).
  const od = pairOutDtype(x.dtype, c);
  const xo = b.output([N, hc, c], od);
  const xi = b.output([N, c], od);
  const HS = hc * hc + (2 * config.tmax - 1) * hc;
  const planes = N * M + (save === 'none' ? 0 : N * (M + 1)) + (save === 'history' ? N * HS : 0);
  const ho = b.output([Math.max(planes, 1)], 'f32');
  b.dispatch(
    postResCoeffsPreForwardKernel(hc, a.orientation, x.dtype, f.dtype, phi.dtype, od, od, c, save),
    [x, f, coef, phi, xo, xi, ho],
    {
      N,
      K,
      c,
      CP: Math.ceil(c / 2),
      tmax: config.tmax,
      rmsEps: config.rmsEps,
      preEps: config.preEps,
      sinkhornEps: config.sinkhornEps,
      postMult: config.postMult,
    },
    N,
  );
  b.disposeData(coef.handle);
  const hb = b.buf(ho, 'ho');
  const plane = (shape: number[], at: number): TensorInfo => {
    const t = b.output(shape, 'f32');
    b.copy(hb, at * 4, b.buf(t, 'plane'), 0, sizeOf(shape) * 4);
    return t;
  };
  const hPreN = plane([N, hc], 0);
  const hPostN = plane([N, hc], N * hc);
  const hResN = plane([N, hc, hc], 2 * N * hc);
  const saved: TensorInfo[] = [];
  if (save !== 'none') saved.push(plane([N, M + 1], N * M));
  if (save === 'history') saved.push(plane([N, HS], N * (2 * M + 1)));
  b.disposeData(ho.handle);
  const finish = (t: TensorInfo): TensorInfo => {
    if (od === x.dtype) return t;
    const r = b.ops.cast(t, x.dtype);
    b.disposeData(t.handle);
    return r;
  };
  return { xOut: finish(xo), hPre: hPreN, hPost: hPostN, hRes: hResN, xIn: finish(xi), saved };
}

export function postResCoeffsPreBackward(
  b: WebGpuBackend,
  k: Kernels,
  a: PostResCoeffsPreBackwardArgs,
): PostResCoeffsPreBackwardResult {
  if (a.xOut.shape.length < 2) throw new ShapeError('xOut', '[N, hc, c]', a.xOut.shape);
  const hc = a.config.hc;
  const K = sizeOf(a.xOut.shape.slice(-2));
  const N = sizeOf(a.xOut.shape.slice(0, -2));
  const c = K / hc;
  if (!Number.isInteger(c)) throw new ShapeError('xOut', `[N, ${hc}, c] (config.hc)`, a.xOut.shape);
  if (a.phiLayout !== undefined && a.phiLayout !== 'liger')
    throw new ArgumentError(
      'phiLayout',
      `expected 'liger' (this backend's only φ layout), got '${a.phiLayout}'`,
    );
  const temps: TensorInfo[] = [];
  const add = (x: TensorInfo | null, y: TensorInfo): TensorInfo => {
    if (!x) return y;
    const s = b.ops.binary('add', x, y);
    temps.push(s);
    return s;
  };
  const out: PostResCoeffsPreBackwardResult = {
    gradX: null,
    gradF: null,
    gradHPostIn: null,
    gradHResIn: null,
    gradPhi: null,
    gradB: null,
    gradAlphaPre: null,
    gradAlphaPost: null,
    gradAlphaRes: null,
  };
  try {
    // The stream gradient so far: from xOut's consumers outside the boundary (the next sublayer).
    let gStreams: TensorInfo | null = a.gradXOut ? view(a.gradXOut, [N, hc, c]) : null;
    let gHPre: TensorInfo | null = a.gradHPre;
    // 1. pre (its output is the newest, so its node runs first).
    if (a.gradXIn) {
      const p = k.preBackward(a.gradXIn, view(a.xOut, [N, hc, c]), a.hPre);
      temps.push(p.gradX, p.gradHPre);
      gStreams = gStreams ? add(p.gradX, gStreams) : p.gradX;
      gHPre = gHPre ? add(p.gradHPre, gHPre) : p.gradHPre;
    }
    // 2. coeffs of the new streams.
    const upstream = a.needs.x || a.needs.f || a.needs.hPostIn || a.needs.hResIn;
    if (gHPre || a.gradHPost || a.gradHRes) {
      const r = k.coeffsBackward({
        gradHPre: gHPre,
        gradHPost: a.gradHPost,
        gradHRes: a.gradHRes,
        x: view(a.xOut, [N, K]),
        phi: a.phi,
        b: a.b,
        alphaPre: a.alphaPre,
        alphaPost: a.alphaPost,
        alphaRes: a.alphaRes,
        hPre: a.hPre,
        hPost: a.hPost,
        hRes: a.hRes,
        saved: a.saved,
        config: a.config,
        save: a.save,
        needs: { x: upstream, phi: a.needs.phi, b: a.needs.b, alphas: a.needs.alphas },
      });
      ({
        gradPhi: out.gradPhi,
        gradB: out.gradB,
        gradAlphaPre: out.gradAlphaPre,
        gradAlphaPost: out.gradAlphaPost,
        gradAlphaRes: out.gradAlphaRes,
      } = r);
      if (r.gradX) {
        temps.push(r.gradX);
        const g = view(r.gradX, [N, hc, c]);
        gStreams = gStreams ? add(gStreams, g) : g;
      }
    }
    // 3. post_res of sublayer l, with the whole stream gradient.
    if (upstream && gStreams) {
      const pr = k.postResBackward(gStreams, a.x, a.f, a.hPostIn, a.hResIn, a.orientation);
      for (const [keep, key, t] of [
        [a.needs.x, 'gradX', pr.gradX],
        [a.needs.f, 'gradF', pr.gradF],
        [a.needs.hPostIn, 'gradHPostIn', pr.gradHPost],
        [a.needs.hResIn, 'gradHResIn', pr.gradHRes],
      ] as const) {
        if (keep) out[key] = t;
        else temps.push(t);
      }
    }
    return out;
  } catch (err) {
    for (const t of Object.values(out)) if (t) b.disposeData(t.handle);
    throw err;
  } finally {
    for (const t of temps) b.disposeData(t.handle);
  }
}
