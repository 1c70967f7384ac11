import type { TakeGrad } from '../autograd/node.js';
import type { Backend, TensorInfo } from '../backend/contract.js';
import { BackendError, ShapeError } from '../errors.js';
import { sizeOf } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { castTo } from './cast.js';
import { backendOf, needsGrad, record, wrap } from './dispatch.js';
import { coeffsConfig, type MhcOptions, resolveMhcOptions } from './mhc-options.js';
import {
  checkActivationDType,
  checkF32,
  checkFinite,
  checkFloat,
  expectScalar,
  expectShape,
  streamDims,
} from './mhc-validate.js';
import { saveForBackward, viewInfo } from './save.js';

export interface MhcCoefficients {
  /** [..., hc] f32 */
  hPre: Tensor;
  /** [..., hc] f32 */
  hPost: Tensor;
  /** [..., hc, hc] f32, doubly stochastic (row-major out, in) */
  hRes: Tensor;
}

/**
 * The mHC coefficients of x [..., hc, c] (Liger's liger_mhc_coeffs): one fused pass over x for
 * x·φ and the RMS, then sigmoid / 2·sigmoid / Sinkhorn-Knopp per token.
 */
export function mhcCoeffs(
  x: Tensor,
  phi: Tensor,
  b: Tensor,
  alphaPre: Tensor,
  alphaPost: Tensor,
  alphaRes: Tensor,
  options: MhcOptions = {},
): MhcCoefficients {
  return coeffsImpl(x, phi, b, alphaPre, alphaPost, alphaRes, options, false).coeffs;
}

/** The coefficients and the pre step of one layer forward: what mhcCoeffs then mhcPre give. */
export interface MhcCoefficientsAndPre {
  coeffs: MhcCoefficients;
  /** [..., c] in x's dtype: mhcPre(x, coeffs.hPre), with the same autograd node. */
  xIn: Tensor;
}

/**
 * Internal (not exported from the package): mhcCoeffs followed by mhcPre(x, hPre) on the same x,
 * as the layer forward does. Asks the backend for pre in the coefficient pass (CoeffsForwardArgs
 * withPre, one read of x less); when it returns xIn, xIn gets exactly the node mhcPre would record
 * (recordPre, under the same needsGrad(x, hPre) condition), otherwise mhcPre runs as usual. Values,
 * graph and gradients are those of the two separate calls (up to the backend's rounding of xIn).
 */
export function mhcCoeffsAndPre(
  x: Tensor,
  phi: Tensor,
  b: Tensor,
  alphaPre: Tensor,
  alphaPost: Tensor,
  alphaRes: Tensor,
  options: MhcOptions = {},
): MhcCoefficientsAndPre {
  const { coeffs, xIn } = coeffsImpl(x, phi, b, alphaPre, alphaPost, alphaRes, options, true);
  if (xIn === null) return { coeffs, xIn: mhcPre(x, coeffs.hPre, options) };
  recordPre(backendOf({ x }), x, coeffs.hPre, xIn);
  return { coeffs, xIn };
}

/**
 * mhcCoeffs; with `withPre`, also the backend's fused pre output wrapped as [..., c] (null when the
 * backend did not return one). An xIn the caller did not ask for is disposed.
 */
function coeffsImpl(
  x: Tensor,
  phi: Tensor,
  b: Tensor,
  alphaPre: Tensor,
  alphaPost: Tensor,
  alphaRes: Tensor,
  options: MhcOptions,
  withPre: boolean,
): { coeffs: MhcCoefficients; xIn: Tensor | null } {
  const be = backendOf({ x, phi, b, alphaPre, alphaPost, alphaRes });
  const o = resolveMhcOptions(options);
  const { hc, c, outer, n } = streamDims(x);
  const k = hc * c;
  const m = hc * hc + 2 * hc;
  checkActivationDType(x, 'x', o.allowFp32);
  checkFloat(phi, 'phi');
  expectShape(phi, 'phi', [k, m]);
  checkF32(b, 'b');
  expectShape(b, 'b', [m]);
  for (const [name, a] of [
    ['alphaPre', alphaPre],
    ['alphaPost', alphaPost],
    ['alphaRes', alphaRes],
  ] as const) {
    checkF32(a, name);
    expectScalar(a, name);
  }
  if (o.checkFinite !== false)
    for (const [name, t] of Object.entries({ x, phi, b, alphaPre, alphaPost, alphaRes }))
      checkFinite(t, name);

  const config = coeffsConfig(hc, o);
  const grad = needsGrad(x, phi, b, alphaPre, alphaPost, alphaRes);
  const scalar = (t: Tensor) => viewInfo(t, []);
  const res = be.mhc.coeffsForward({
    x: viewInfo(x, [n, k]),
    phi,
    b,
    alphaPre: scalar(alphaPre),
    alphaPost: scalar(alphaPost),
    alphaRes: scalar(alphaRes),
    config,
    save: grad ? o.sinkhornSave : 'none',
    withPre,
  });
  if (res.xIn && (res.xIn.dtype !== x.dtype || sizeOf(res.xIn.shape) !== n * c))
    throw new BackendError(
      `${be.name}: coeffsForward returned xIn ${res.xIn.dtype} [${res.xIn.shape.join(', ')}], expected ${x.dtype} [${n}, ${c}]`,
    );
  const hPre = wrap(be, viewInfo(res.hPre, [...outer, hc]));
  const hPost = wrap(be, viewInfo(res.hPost, [...outer, hc]));
  const hRes = wrap(be, viewInfo(res.hRes, [...outer, hc, hc]));
  const saved = res.saved.map((s) => wrap(be, s));
  // coeffs sees x as [N, K]; the fused pre output comes back as [N, c] and is shaped [..., c].
  const xIn = res.xIn ? wrap(be, viewInfo(res.xIn, [...outer, c])) : null;
  if (xIn && !withPre) xIn.dispose();
  if (!grad) {
    for (const s of saved) s.dispose();
    return { coeffs: { hPre, hPost, hRes }, xIn: withPre ? xIn : null };
  }

  const keep = [x, phi, b, alphaPre, alphaPost, alphaRes, hPre, hPost, hRes].map(saveForBackward);
  const [sx, sphi, sb, sap, sapo, sar, shPre, shPost, shRes] = keep as [
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
  record([hPre, hPost, hRes], {
    name: 'mhcCoeffs',
    inputs: [x, phi, b, alphaPre, alphaPost, alphaRes],
    owned: [...keep, ...saved],
    backward: ([gPre, gPost, gRes], take) => {
      const acc = x.requiresGrad ? takeAccumulated(be, take, x) : null;
      const r = be.mhc.coeffsBackward({
        gradHPre: gPre ? viewInfo(gPre, [n, hc]) : null,
        gradHPost: gPost ? viewInfo(gPost, [n, hc]) : null,
        gradHRes: gRes ? viewInfo(gRes, [n, hc, hc]) : null,
        x: viewInfo(sx, [n, k]),
        phi: sphi,
        b: sb,
        alphaPre: scalar(sap),
        alphaPost: scalar(sapo),
        alphaRes: scalar(sar),
        hPre: viewInfo(shPre, [n, hc]),
        hPost: viewInfo(shPost, [n, hc]),
        hRes: viewInfo(shRes, [n, hc, hc]),
        saved,
        config,
        save: o.sinkhornSave,
        needs: {
          x: x.requiresGrad,
          phi: phi.requiresGrad,
          b: b.requiresGrad,
          alphas: alphaPre.requiresGrad || alphaPost.requiresGrad || alphaRes.requiresGrad,
        },
        ...(acc ? { accumulateGradX: viewInfo(acc, [n, k]) } : {}),
      });
      acc?.dispose();
      const out = (info: TensorInfo | null, like: Tensor) =>
        info === null ? null : castTo(wrap(be, viewInfo(info, like.shape)), like.dtype);
      return [
        out(r.gradX, x),
        out(r.gradPhi, phi),
        out(r.gradB, b),
        out(r.gradAlphaPre, alphaPre),
        out(r.gradAlphaPost, alphaPost),
        out(r.gradAlphaRes, alphaRes),
      ];
    },
  });
  return { coeffs: { hPre, hPost, hRes }, xIn: withPre ? xIn : null };
}

/** xIn = Σ_s hPre[s] · x[s]: x [..., hc, c], hPre [..., hc] f32 -> [..., c] (Liger's liger_mhc_pre). */
export function mhcPre(x: Tensor, hPre: Tensor, options: Pick<MhcOptions, 'allowFp32'> = {}): Tensor {
  const be = backendOf({ x, hPre });
  const { hc, c, outer, n } = streamDims(x);
  checkActivationDType(x, 'x', options.allowFp32 ?? false);
  checkF32(hPre, 'hPre');
  expectShape(hPre, 'hPre', [...outer, hc]);
  const xIn = wrap(
    be,
    viewInfo(be.mhc.preForward(viewInfo(x, [n, hc, c]), viewInfo(hPre, [n, hc])), [...outer, c]),
  );
  recordPre(be, x, hPre, xIn);
  return xIn;
}

/**
 * The autograd node of xIn = pre(x, hPre), x [..., hc, c], hPre [..., hc], xIn [..., c]: the one
 * implementation for mhcPre and the fused coefficients + pre path. Records nothing unless
 * needsGrad(x, hPre).
 */
function recordPre(be: Backend, x: Tensor, hPre: Tensor, xIn: Tensor): void {
  if (!needsGrad(x, hPre)) return;
  const { hc, c, n } = streamDims(x);
  const sx = saveForBackward(x);
  const sh = saveForBackward(hPre);
  record([xIn], {
    name: 'mhcPre',
    inputs: [x, hPre],
    owned: [sx, sh],
    backward: ([g], take) => {
      const acc = x.requiresGrad ? takeAccumulated(be, take, x) : null;
      const r = be.mhc.preBackward(
        viewInfo(g!, [n, c]),
        viewInfo(sx, [n, hc, c]),
        viewInfo(sh, [n, hc]),
        acc ? viewInfo(acc, [n, hc, c]) : null,
      );
      acc?.dispose();
      return [wrap(be, viewInfo(r.gradX, x.shape)), wrap(be, viewInfo(r.gradHPre, hPre.shape))];
    },
  });
}

/**
 * xOut[o] = Σ_i hRes[o, i] · x[i] + hPost[o] · f (Liger's liger_mhc_post_res); with
 * orientation 'deepseek' the residual matrix is applied transposed.
 */
export function mhcPostRes(
  x: Tensor,
  f: Tensor,
  hPost: Tensor,
  hRes: Tensor,
  options: Pick<MhcOptions, 'allowFp32' | 'orientation'> = {},
): Tensor {
  const be = backendOf({ x, f, hPost, hRes });
  const o = resolveMhcOptions(options);
  const { hc, c, outer, n } = streamDims(x);
  checkActivationDType(x, 'x', o.allowFp32);
  checkActivationDType(f, 'f', o.allowFp32);
  expectShape(f, 'f', [...outer, c]);
  checkF32(hPost, 'hPost');
  expectShape(hPost, 'hPost', [...outer, hc]);
  checkF32(hRes, 'hRes');
  expectShape(hRes, 'hRes', [...outer, hc, hc]);
  const info = {
    x: viewInfo(x, [n, hc, c]),
    f: viewInfo(f, [n, c]),
    hPost: viewInfo(hPost, [n, hc]),
    hRes: viewInfo(hRes, [n, hc, hc]),
  };
  const xOut = wrap(
    be,
    viewInfo(be.mhc.postResForward(info.x, info.f, info.hPost, info.hRes, o.orientation), x.shape),
  );
  if (!needsGrad(x, f, hPost, hRes)) return xOut;
  const saved = [x, f, hPost, hRes].map(saveForBackward) as [Tensor, Tensor, Tensor, Tensor];
  const [sx, sf, sp, sr] = saved;
  record([xOut], {
    name: 'mhcPostRes',
    inputs: [x, f, hPost, hRes],
    owned: saved,
    backward: ([g], take) => {
      const acc = x.requiresGrad ? takeAccumulated(be, take, x) : null;
      const r = be.mhc.postResBackward(
        viewInfo(g!, [n, hc, c]),
        viewInfo(sx, [n, hc, c]),
        viewInfo(sf, [n, c]),
        viewInfo(sp, [n, hc]),
        viewInfo(sr, [n, hc, hc]),
        o.orientation,
        acc ? viewInfo(acc, [n, hc, c]) : null,
      );
      acc?.dispose();
      return [
        wrap(be, viewInfo(r.gradX, x.shape)),
        wrap(be, viewInfo(r.gradF, f.shape)),
        wrap(be, viewInfo(r.gradHPost, hPost.shape)),
        wrap(be, viewInfo(r.gradHRes, hRes.shape)),
      ];
    },
  });
  return xOut;
}

/** A layer [..., c] -> [..., c] wrapped by mHC. */
export type MhcLayerFn = (xIn: Tensor) => Tensor;

/**
 * Apply precomputed coefficients around a layer: xIn = pre(x), f = layer(xIn), xOut = post_res(x, f).
 */
export function mhcApply(
  x: Tensor,
  layer: MhcLayerFn,
  coeffs: MhcCoefficients,
  options: Pick<MhcOptions, 'allowFp32' | 'orientation'> = {},
): Tensor {
  return mhcApplyAfterPre(x, mhcPre(x, coeffs.hPre, options), layer, coeffs, options);
}

/**
 * Internal (not exported from the package): the rest of mhcApply once xIn = pre(x, coeffs.hPre) is
 * known (e.g. from mhcCoeffsAndPre): f = layer(xIn), xOut = post_res(x, f).
 */
export function mhcApplyAfterPre(
  x: Tensor,
  xIn: Tensor,
  layer: MhcLayerFn,
  coeffs: MhcCoefficients,
  options: Pick<MhcOptions, 'allowFp32' | 'orientation'> = {},
): Tensor {
  const f = layer(xIn);
  if (f.rank !== xIn.rank || f.shape.some((d, i) => d !== xIn.shape[i]))
    throw new ShapeError(
      'layer output',
      `[${xIn.shape.join(', ')}] (the layer must map [..., c] to [..., c])`,
      f.shape,
    );
  return mhcPostRes(x, f, coeffs.hPost, coeffs.hRes, options);
}

/**
 * The whole mHC layer: coefficients from x, then pre -> layer -> post_res. Pre runs in the
 * coefficient pass where the backend offers it (see mhcCoeffsAndPre).
 */
export function mhcForward(
  x: Tensor,
  layer: MhcLayerFn,
  phi: Tensor,
  b: Tensor,
  alphaPre: Tensor,
  alphaPost: Tensor,
  alphaRes: Tensor,
  options: MhcOptions = {},
): Tensor {
  const { coeffs, xIn } = mhcCoeffsAndPre(x, phi, b, alphaPre, alphaPost, alphaRes, options);
  return mhcApplyAfterPre(x, xIn, layer, coeffs, options);
}

/**
 * The x gradient accumulated so far by other consumers of x, for a backend that folds it into the
 * gradX it writes (MhcKernels.accumulatesGradX); null otherwise, and core adds the pieces itself.
 */
function takeAccumulated(be: Backend, take: TakeGrad, x: Tensor): Tensor | null {
  if (!be.mhc.accumulatesGradX) return null;
  const g = take(0);
  return g === null ? null : castTo(g, x.dtype);
}
