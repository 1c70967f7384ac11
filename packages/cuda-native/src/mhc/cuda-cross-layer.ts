import {
  type MhcKernels,
  type PostResCoeffsPreBackwardArgs,
  type PostResCoeffsPreBackwardResult,
  type PostResCoeffsPreForwardArgs,
  type PostResCoeffsPreForwardResult,
  ShapeError,
  sizeOf,
  type TensorInfo,
} from '@liger-mhc/core';
import type { CudaBackend } from '../cuda-backend.js';
import { DTYPE_CODE } from '../native.js';
import { expectDType, expectFloat, expectSameDType, expectScalar } from '../validate.js';
import { coeffsLaunchConfig } from './coeffs-launch-config.js';

/**
 * The cross-layer boundary on CUDA (native/kernels/mhc/post_res_coeffs_pre.cu): post_res of sublayer
 * l with sublayer l+1's coefficients and pre in one pass over the streams. Its saved tensors are
 * coeffs_fwd's ([mix, invr] and in 'history' mode the Sinkhorn divisors), so the backward runs
 * pre_bwd, coeffs_bwd and post_res_bwd, each folding the running stream gradient into what it writes
 * (accumulatesGradX), in the order the separate ops' autograd nodes would run.
 */
export function postResCoeffsPreForward(
  be: CudaBackend,
  a: PostResCoeffsPreForwardArgs,
): PostResCoeffsPreForwardResult {
  const { x, f, hPost, hRes, phi, b, config, save } = a;
  if (x.shape.length < 3) throw new ShapeError('x', '[N, hc, c]', x.shape);
  const hc = x.shape[x.shape.length - 2]!;
  const c = x.shape[x.shape.length - 1]!;
  const n = sizeOf(x.shape.slice(0, -2));
  if (hc !== config.hc) throw new ShapeError('x', `[N, ${config.hc}, c] (config.hc)`, x.shape);
  expectFloat(x, 'x');
  expectSameDType(x, 'x', f, 'f');
  if (sizeOf(f.shape) !== n * c) throw new ShapeError('f', `[${n}, ${c}]`, f.shape);
  expectDType(hPost, 'hPost', 'f32');
  expectDType(hRes, 'hRes', 'f32');
  if (sizeOf(hPost.shape) !== n * hc) throw new ShapeError('hPost', `[${n}, ${hc}]`, hPost.shape);
  if (sizeOf(hRes.shape) !== n * hc * hc) throw new ShapeError('hRes', `[${n}, ${hc}, ${hc}]`, hRes.shape);
  expectFloat(phi, 'phi');
  const m = hc * hc + 2 * hc;
  if (phi.shape.length !== 2 || phi.shape[0] !== hc * c || phi.shape[1] !== m)
    throw new ShapeError('phi', `[${hc * c}, ${m}]`, phi.shape);
  expectDType(b, 'b', 'f32');
  if (sizeOf(b.shape) !== m) throw new ShapeError('b', `[${m}]`, b.shape);
  for (const [name, t] of [
    ['alphaPre', a.alphaPre],
    ['alphaPost', a.alphaPost],
    ['alphaRes', a.alphaRes],
  ] as const) {
    expectScalar(t, name);
    expectDType(t, name, 'f32');
  }
  const xOut = be.output(x.shape, x.dtype);
  const hPreN = be.output([n, hc], 'f32');
  const hPostN = be.output([n, hc], 'f32');
  const hResN = be.output([n, hc, hc], 'f32');
  const xIn = be.output([n, c], x.dtype);
  const saved: TensorInfo[] = [];
  if (save !== 'none') {
    saved.push(be.output([n, m], 'f32'), be.output([n], 'f32'));
    if (save === 'history') saved.push(be.output([n, 2 * config.tmax - 1, hc], 'f32'));
  }
  const opt = (i: number) => (saved[i] ? be.buf(saved[i]!, 'saved') : null);
  try {
    be.launch(
      'post_res_coeffs_pre_fwd',
      [
        be.buf(x, 'x'),
        be.buf(f, 'f'),
        be.buf(hPost, 'hPost'),
        be.buf(hRes, 'hRes'),
        be.buf(phi, 'phi'),
        be.buf(b, 'b'),
        be.buf(a.alphaPre, 'alphaPre'),
        be.buf(a.alphaPost, 'alphaPost'),
        be.buf(a.alphaRes, 'alphaRes'),
        be.buf(xOut, 'xOut'),
        be.buf(hPreN, 'hPre'),
        be.buf(hPostN, 'hPost'),
        be.buf(hResN, 'hRes'),
        opt(0),
        opt(1),
        opt(2),
        be.buf(xIn, 'xIn'),
      ],
      {
        ...coeffsLaunchConfig(config),
        tokens: n,
        hc,
        c,
        xDtype: DTYPE_CODE[x.dtype],
        phiDtype: DTYPE_CODE[phi.dtype],
        deepseek: a.orientation === 'deepseek',
      },
    );
  } catch (e) {
    for (const t of [xOut, hPreN, hPostN, hResN, xIn, ...saved]) be.disposeData(t.handle);
    throw e;
  }
  return { xOut, hPre: hPreN, hPost: hPostN, hRes: hResN, xIn, saved };
}

export function postResCoeffsPreBackward(
  be: CudaBackend,
  k: MhcKernels,
  a: PostResCoeffsPreBackwardArgs,
): PostResCoeffsPreBackwardResult {
  const n = sizeOf(a.xOut.shape.slice(0, -2));
  const hc = a.config.hc;
  const kk = sizeOf(a.xOut.shape.slice(-2));
  const c = kk / hc;
  const view = (t: TensorInfo, shape: number[]): TensorInfo => ({ handle: t.handle, shape, dtype: t.dtype });
  const temps: TensorInfo[] = [];
  try {
    let gStreams: TensorInfo | null = a.gradXOut;
    let gHPre: TensorInfo | null = a.gradHPre;
    if (a.gradXIn) {
      const p = k.preBackward(a.gradXIn, view(a.xOut, [n, hc, c]), a.hPre, gStreams);
      temps.push(p.gradX, p.gradHPre);
      gStreams = p.gradX;
      if (gHPre) {
        const sum = be.ops.binary('add', p.gradHPre, gHPre);
        temps.push(sum);
        gHPre = sum;
      } else gHPre = p.gradHPre;
    }
    const upstream = a.needs.x || a.needs.f || a.needs.hPostIn || a.needs.hResIn;
    let r = null;
    if (gHPre || a.gradHPost || a.gradHRes) {
      r = k.coeffsBackward({
        gradHPre: gHPre,
        gradHPost: a.gradHPost,
        gradHRes: a.gradHRes,
        x: view(a.xOut, [n, kk]),
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
        ...(upstream && gStreams ? { accumulateGradX: view(gStreams, [n, kk]) } : {}),
      });
      if (r.gradX) {
        temps.push(r.gradX);
        gStreams = view(r.gradX, [n, hc, c]);
      }
    }
    const out: PostResCoeffsPreBackwardResult = {
      gradX: null,
      gradF: null,
      gradHPostIn: null,
      gradHResIn: null,
      gradPhi: r?.gradPhi ?? null,
      gradB: r?.gradB ?? null,
      gradAlphaPre: r?.gradAlphaPre ?? null,
      gradAlphaPost: r?.gradAlphaPost ?? null,
      gradAlphaRes: r?.gradAlphaRes ?? null,
    };
    if (upstream && gStreams) {
      const pr = k.postResBackward(gStreams, a.x, a.f, a.hPostIn, a.hResIn, a.orientation, a.accumulateGradX);
      out.gradX = pr.gradX;
      out.gradF = pr.gradF;
      out.gradHPostIn = pr.gradHPost;
      out.gradHResIn = pr.gradHRes;
      for (const [keep, t] of [
        [a.needs.x, pr.gradX],
        [a.needs.f, pr.gradF],
        [a.needs.hPostIn, pr.gradHPost],
        [a.needs.hResIn, pr.gradHRes],
      ] as const)
        if (!keep) temps.push(t);
      if (!a.needs.x) out.gradX = null;
      if (!a.needs.f) out.gradF = null;
      if (!a.needs.hPostIn) out.gradHPostIn = null;
      if (!a.needs.hResIn) out.gradHResIn = null;
    }
    return out;
  } finally {
    for (const t of temps) be.disposeData(t.handle);
  }
}
