import type { Backend, TensorInfo } from '../backend/contract.js';
import type { PostResCoeffsPreForwardResult } from '../backend/mhc-kernels.js';
import { BackendError } from '../errors.js';
import { sizeOf } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { castTo } from './cast.js';
import { backendOf, needsGrad, record, wrap } from './dispatch.js';
import { transpose } from './layout.js';
import {
  checkCoeffParams,
  type MhcCoefficients,
  mhcCoeffsPre,
  mhcPostRes,
  Temps,
  takeAccumulated,
} from './mhc.js';
import { coeffsConfig, type MhcOptions, resolveMhcOptions } from './mhc-options.js';
import {
  checkActivationDType,
  checkFinite,
  checkFloat,
  expectShape,
  streamDims,
  toF32,
} from './mhc-validate.js';
import { saveForBackward, viewInfo } from './save.js';

/** What one boundary between two consecutive mHC sublayers produces. */
export interface MhcBoundary {
  /** [..., hc, c] in x's dtype: sublayer l's output streams (post_res). */
  xOut: Tensor;
  /** Sublayer l+1's coefficients of xOut. */
  coeffs: MhcCoefficients;
  /** [..., c] in x's dtype: sublayer l+1's layer input, pre(xOut, coeffs.hPre). */
  xIn: Tensor;
}

/**
 * Whether `be` runs the cross-layer boundary as one fused kernel pair: the one place core decides
 * (a backend sets `mhc.crossLayer` only where it implements both methods).
 */
export function hasCrossLayerKernels(be: Backend): boolean {
  return (
    be.mhc.crossLayer === true &&
    typeof be.mhc.postResCoeffsPreForward === 'function' &&
    typeof be.mhc.postResCoeffsPreBackward === 'function'
  );
}

/**
 * The boundary between mHC sublayers l and l+1: xOut = post_res(x, f, hPost, hRes) of sublayer l,
 * then sublayer l+1's coefficients of xOut (φ, b, α its parameters) and xIn = pre(xOut, hPre).
 * Values and gradients are those of `mhcPostRes` followed by the coefficients and pre of the layer
 * forward; on a backend with the cross-layer kernels (hasCrossLayerKernels) it is one pass over the
 * streams forward and one backward, else exactly those separate ops.
 *
 * `options` carries both sublayers' settings: `orientation` (and allowFp32) for sublayer l's
 * post_res, the coefficient settings (preset, tmax, eps, phiLayout, sinkhornSave) for l+1's.
 */
export function mhcPostResCoeffsPre(
  x: Tensor,
  f: Tensor,
  hPost: Tensor,
  hRes: Tensor,
  phi: Tensor,
  b: Tensor,
  alphaPre: Tensor,
  alphaPost: Tensor,
  alphaRes: Tensor,
  options: MhcOptions = {},
): MhcBoundary {
  const be = backendOf({ x, f, hPost, hRes, phi, b, alphaPre, alphaPost, alphaRes });
  // A backend whose post_res takes one activation dtype gets a mixed boundary as the separate ops:
  // mhcPostRes knows how to run that case without rounding f through x's dtype.
  if (!hasCrossLayerKernels(be) || (f.dtype !== x.dtype && !be.mhc.mixedPostResDTypes)) {
    const xOut = mhcPostRes(x, f, hPost, hRes, options);
    const { coeffs, xIn } = mhcCoeffsPre(xOut, phi, b, alphaPre, alphaPost, alphaRes, options);
    return { xOut, coeffs, xIn };
  }
  return fusedBoundary(be, x, f, hPost, hRes, phi, b, alphaPre, alphaPost, alphaRes, options);
}

function fusedBoundary(
  be: Backend,
  x: Tensor,
  f: Tensor,
  hPost: Tensor,
  hRes: Tensor,
  phi: Tensor,
  b: Tensor,
  alphaPre: Tensor,
  alphaPost: Tensor,
  alphaRes: Tensor,
  options: MhcOptions,
): MhcBoundary {
  const o = resolveMhcOptions(options);
  const { hc, c, outer, n } = streamDims(x);
  const k = hc * c;
  const m = hc * hc + 2 * hc;
  // post_res's checks (x and f may be f32 there), then the coefficients' on the new streams (xOut
  // has x's dtype, so coeffs' allowFp32 gate applies to x).
  checkActivationDType(x, 'x', o.allowFp32);
  checkActivationDType(f, 'f', true);
  expectShape(f, 'f', [...outer, c]);
  checkFloat(hPost, 'hPost');
  expectShape(hPost, 'hPost', [...outer, hc]);
  checkFloat(hRes, 'hRes');
  expectShape(hRes, 'hRes', [...outer, hc, hc]);
  checkCoeffParams(o.phiLayout, k, m, phi, b, alphaPre, alphaPost, alphaRes);
  const deepseek = o.phiLayout === 'deepseek';
  // The same casts the separate ops make (their gradients flow back cast, as there).
  const temps = new Temps();
  hPost = temps.own(hPost, toF32(hPost));
  hRes = temps.own(hRes, toF32(hRes));
  b = temps.own(b, toF32(b));
  alphaPre = temps.own(alphaPre, toF32(alphaPre));
  alphaPost = temps.own(alphaPost, toF32(alphaPost));
  alphaRes = temps.own(alphaRes, toF32(alphaRes));
  const nativeLayout = !deepseek || (be.mhc.phiLayouts ?? ['liger']).includes('deepseek');
  if (!nativeLayout) phi = temps.own(phi, transpose(phi));
  const phiLayout = deepseek && nativeLayout ? 'deepseek' : 'liger';
  if (o.checkFinite !== false)
    for (const [name, t] of Object.entries({ phi, b, alphaPre, alphaPost, alphaRes })) checkFinite(t, name);

  const config = coeffsConfig(hc, o);
  const inputs = [x, f, hPost, hRes, phi, b, alphaPre, alphaPost, alphaRes] as const;
  const grad = needsGrad(...inputs);
  const scalar = (t: Tensor) => viewInfo(t, []);
  const args = {
    x: viewInfo(x, [n, hc, c]),
    f: viewInfo(f, [n, c]),
    hPost: viewInfo(hPost, [n, hc]),
    hRes: viewInfo(hRes, [n, hc, hc]),
    orientation: o.orientation,
    phi,
    ...(phiLayout === 'deepseek' ? { phiLayout: 'deepseek' as const } : {}),
    b,
    alphaPre: scalar(alphaPre),
    alphaPost: scalar(alphaPost),
    alphaRes: scalar(alphaRes),
    config,
  } as const;
  let res: PostResCoeffsPreForwardResult;
  try {
    res = be.mhc.postResCoeffsPreForward!({ ...args, save: grad ? o.sinkhornSave : 'none' });
  } catch (err) {
    temps.dispose();
    throw err;
  }
  const xOut = wrap(be, viewInfo(res.xOut, x.shape));
  const hPreN = wrap(be, viewInfo(res.hPre, [...outer, hc]));
  const hPostN = wrap(be, viewInfo(res.hPost, [...outer, hc]));
  const hResN = wrap(be, viewInfo(res.hRes, [...outer, hc, hc]));
  const xIn = wrap(be, viewInfo(res.xIn, [...outer, c]));
  const saved = res.saved.map((s) => wrap(be, s));
  const outputs = [xOut, hPreN, hPostN, hResN, xIn];
  const fail = (err: unknown): never => {
    for (const t of [...outputs, ...saved]) t.dispose();
    temps.dispose();
    throw err;
  };
  if (res.xOut.dtype !== x.dtype || res.xIn.dtype !== x.dtype || sizeOf(res.xIn.shape) !== n * c)
    fail(
      new BackendError(
        `${be.name}: postResCoeffsPreForward returned xOut ${res.xOut.dtype}, xIn ${res.xIn.dtype} [${res.xIn.shape.join(', ')}], expected ${x.dtype} and ${x.dtype} [${n}, ${c}]`,
      ),
    );
  // The separate path scans the coefficients' input for NaN/Inf; here that input is xOut.
  if (o.checkFinite !== false) {
    try {
      checkFinite(xOut, 'x (the streams after post_res)');
    } catch (err) {
      fail(err);
    }
  }
  if (!grad) {
    for (const s of saved) s.dispose();
    temps.dispose();
    return { xOut, coeffs: { hPre: hPreN, hPost: hPostN, hRes: hResN }, xIn };
  }

  const keep = [...inputs, xOut, hPreN, hPostN, hResN].map(saveForBackward);
  const [sx, sf, shp, shr, sphi, sb, sap, sapo, sar, sxo, sPre, sPost, sRes] = keep as Tensor[] as [
    Tensor,
    Tensor,
    Tensor,
    Tensor,
    Tensor,
    Tensor,
    Tensor,
    Tensor,
    Tensor,
    Tensor,
    Tensor,
    Tensor,
    Tensor,
  ];
  record(outputs, {
    name: 'mhcPostResCoeffsPre',
    inputs: [...inputs],
    owned: [...keep, ...saved],
    backward: ([gOut, gPre, gPost, gRes, gIn], take) => {
      const acc = x.requiresGrad ? takeAccumulated(be, take, x) : null;
      const r = be.mhc.postResCoeffsPreBackward!({
        gradXOut: gOut ? viewInfo(gOut, [n, hc, c]) : null,
        gradXIn: gIn ? viewInfo(gIn, [n, c]) : null,
        gradHPre: gPre ? viewInfo(gPre, [n, hc]) : null,
        gradHPost: gPost ? viewInfo(gPost, [n, hc]) : null,
        gradHRes: gRes ? viewInfo(gRes, [n, hc, hc]) : null,
        x: viewInfo(sx, [n, hc, c]),
        f: viewInfo(sf, [n, c]),
        hPostIn: viewInfo(shp, [n, hc]),
        hResIn: viewInfo(shr, [n, hc, hc]),
        orientation: o.orientation,
        xOut: viewInfo(sxo, [n, hc, c]),
        phi: sphi,
        ...(phiLayout === 'deepseek' ? { phiLayout: 'deepseek' as const } : {}),
        b: sb,
        alphaPre: scalar(sap),
        alphaPost: scalar(sapo),
        alphaRes: scalar(sar),
        hPre: viewInfo(sPre, [n, hc]),
        hPost: viewInfo(sPost, [n, hc]),
        hRes: viewInfo(sRes, [n, hc, hc]),
        saved,
        config,
        save: o.sinkhornSave,
        needs: {
          x: x.requiresGrad,
          f: f.requiresGrad,
          hPostIn: hPost.requiresGrad,
          hResIn: hRes.requiresGrad,
          phi: phi.requiresGrad,
          b: b.requiresGrad,
          alphas: alphaPre.requiresGrad || alphaPost.requiresGrad || alphaRes.requiresGrad,
        },
        ...(acc ? { accumulateGradX: viewInfo(acc, [n, hc, c]) } : {}),
      });
      acc?.dispose();
      const out = (info: TensorInfo | null, like: Tensor) =>
        info === null ? null : castTo(wrap(be, viewInfo(info, like.shape)), like.dtype);
      return [
        out(r.gradX, x),
        out(r.gradF, f),
        out(r.gradHPostIn, hPost),
        out(r.gradHResIn, hRes),
        out(r.gradPhi, phi),
        out(r.gradB, b),
        out(r.gradAlphaPre, alphaPre),
        out(r.gradAlphaPost, alphaPost),
        out(r.gradAlphaRes, alphaRes),
      ];
    },
  });
  temps.dispose();
  return { xOut, coeffs: { hPre: hPreN, hPost: hPostN, hRes: hResN }, xIn };
}
