import type { TakeGrad } from '../autograd/node.js';
import { runCoeffsPre } from '../backend/coeffs-pre.js';
import type { Backend, TensorInfo } from '../backend/contract.js';
import type { CoeffsForwardArgs, CoeffsForwardResult } from '../backend/mhc-kernels.js';
import { ArgumentError, BackendError, ShapeError } from '../errors.js';
import type { LayerLike } from '../nn/layers.js';
import { sizeOf } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { isTensor } from '../tensor/tensor.js';
import { fmt } from '../util/options.js';
import { cast, castTo } from './cast.js';
import { backendOf, needsGrad, record, wrap } from './dispatch.js';
import { callLayer, checkLayer } from './layer-call.js';
import { slice, transpose } from './layout.js';
import { coeffsConfig, type MhcOptions, resolveMhcOptions } from './mhc-options.js';
import {
  checkActivationDType,
  checkFinite,
  checkFloat,
  expectScalar,
  expectShape,
  streamDims,
  toF32,
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
 * The coefficient parameters' checks (mhcCoeffs and the cross-layer boundary): φ float in its
 * layout's shape ([K, M] for Liger, [M, K] for DeepSeek-V4), b float [M], each α a float scalar.
 */
export function checkCoeffParams(
  phiLayout: MhcOptions['phiLayout'],
  k: number,
  m: number,
  phi: Tensor,
  b: Tensor,
  alphaPre: Tensor,
  alphaPost: Tensor,
  alphaRes: Tensor,
): void {
  checkFloat(phi, 'phi');
  const deepseek = phiLayout === 'deepseek';
  expectShape(phi, deepseek ? `phi (phiLayout 'deepseek')` : 'phi', deepseek ? [m, k] : [k, m]);
  checkFloat(b, 'b');
  expectShape(b, 'b', [m]);
  for (const [name, a] of [
    ['alphaPre', alphaPre],
    ['alphaPost', alphaPost],
    ['alphaRes', alphaRes],
  ] as const) {
    checkFloat(a, name);
    expectScalar(a, name);
  }
}

/**
 * The mHC coefficients of x [..., hc, c] (Liger's liger_mhc_coeffs): one fused pass over x for
 * x·φ and the RMS, then sigmoid / 2·sigmoid / Sinkhorn-Knopp per token.
 *
 * Also callable with DeepSeek-V4's parameters as they are stored: `mhcCoeffs(x, hc_attn_fn,
 * hc_attn_base, hc_attn_scale, { preset: 'deepseek-v4' })`, the three α as one [3] tensor
 * (pre, post, res) and φ as [M, hc·c] (phiLayout 'deepseek', which that preset sets).
 */
export function mhcCoeffs(
  x: Tensor,
  phi: Tensor,
  b: Tensor,
  alphaPre: Tensor,
  alphaPost: Tensor,
  alphaRes: Tensor,
  options?: MhcOptions,
): MhcCoefficients;
export function mhcCoeffs(
  x: Tensor,
  phi: Tensor,
  b: Tensor,
  scale: Tensor,
  options?: MhcOptions,
): MhcCoefficients;
export function mhcCoeffs(
  x: Tensor,
  phi: Tensor,
  b: Tensor,
  a: Tensor,
  b2?: Tensor | MhcOptions,
  b3?: Tensor,
  options: MhcOptions = {},
): MhcCoefficients {
  backendOf({ x, phi, b, [isTensor(b2) ? 'alphaPre' : 'scale']: a });
  if (b2 === null) throw new ArgumentError('options', 'expected an options object or alphaPost, got null');
  if (isTensor(b2)) return coeffsImpl(x, phi, b, a, b2, b3!, options, false).coeffs;
  const alphas = splitScale(a);
  try {
    return coeffsImpl(x, phi, b, ...alphas, b2 ?? {}, false).coeffs;
  } finally {
    for (const t of alphas) t.dispose();
  }
}

/** DeepSeek-V4's hc_*_scale [3] as the three α (views with autograd: gradients flow back to it). */
export function splitScale(scale: Tensor): [Tensor, Tensor, Tensor] {
  if (scale.size !== 3 || scale.rank !== 1)
    throw new ShapeError('scale', '[3] (the three α: pre, post, res)', scale.shape);
  checkFloat(scale, 'scale');
  return [0, 1, 2].map((i) => slice(scale, 0, i, i + 1).reshape([])) as [Tensor, Tensor, Tensor];
}

/** The coefficients and the pre step of one layer forward: what mhcCoeffs then mhcPre give. */
export interface MhcCoefficientsAndPre {
  coeffs: MhcCoefficients;
  /** [..., c] in x's dtype: mhcPre(x, coeffs.hPre), with the same autograd node. */
  xIn: Tensor;
}

/**
 * mhcCoeffs followed by mhcPre(x, hPre) on the same x, as a layer forward runs them: in one pass
 * over x where the backend has the fused kernel for these arguments (runCoeffsPre chooses). Values,
 * graph (the same 'mhcCoeffs' and 'mhcPre' nodes) and gradients are those of the two separate calls.
 */
export function mhcCoeffsPre(
  x: Tensor,
  phi: Tensor,
  b: Tensor,
  alphaPre: Tensor,
  alphaPost: Tensor,
  alphaRes: Tensor,
  options: MhcOptions = {},
): MhcCoefficientsAndPre {
  const { coeffs, xIn } = coeffsImpl(x, phi, b, alphaPre, alphaPost, alphaRes, options, true);
  recordPre(backendOf({ x }), x, coeffs.hPre, xIn!);
  return { coeffs, xIn: xIn! };
}

/** mhcCoeffs; with `andPre` also xIn = pre(x, hPre) (runCoeffsPre) as [..., c], without its node. */
function coeffsImpl(
  x: Tensor,
  phi: Tensor,
  b: Tensor,
  alphaPre: Tensor,
  alphaPost: Tensor,
  alphaRes: Tensor,
  options: MhcOptions,
  andPre: boolean,
): { coeffs: MhcCoefficients; xIn: Tensor | null } {
  const be = backendOf({ x, phi, b, alphaPre, alphaPost, alphaRes });
  const o = resolveMhcOptions(options);
  const { hc, c, outer, n } = streamDims(x);
  const k = hc * c;
  const m = hc * hc + 2 * hc;
  checkActivationDType(x, 'x', o.allowFp32);
  checkCoeffParams(o.phiLayout, k, m, phi, b, alphaPre, alphaPost, alphaRes);
  const deepseek = o.phiLayout === 'deepseek';
  // Liger reads b and the α in f32 whatever their dtype; cast() sends their gradients back cast.
  const temps = new Temps();
  b = temps.own(b, toF32(b));
  alphaPre = temps.own(alphaPre, toF32(alphaPre));
  alphaPost = temps.own(alphaPost, toF32(alphaPost));
  alphaRes = temps.own(alphaRes, toF32(alphaRes));
  // A backend that cannot read V4's layout gets φ transposed here (small: M·K next to x's N·K).
  const nativeLayout = !deepseek || (be.mhc.phiLayouts ?? ['liger']).includes('deepseek');
  if (!nativeLayout) phi = temps.own(phi, transpose(phi));
  const phiLayout = deepseek && nativeLayout ? 'deepseek' : 'liger';
  if (o.checkFinite !== false)
    for (const [name, t] of Object.entries({ x, phi, b, alphaPre, alphaPost, alphaRes }))
      checkFinite(t, name);

  const config = coeffsConfig(hc, o);
  const grad = needsGrad(x, phi, b, alphaPre, alphaPost, alphaRes);
  const scalar = (t: Tensor) => viewInfo(t, []);
  const args: CoeffsForwardArgs = {
    x: viewInfo(x, [n, k]),
    phi,
    ...(phiLayout === 'deepseek' ? { phiLayout } : {}),
    b,
    alphaPre: scalar(alphaPre),
    alphaPost: scalar(alphaPost),
    alphaRes: scalar(alphaRes),
    config,
    save: grad ? o.sinkhornSave : 'none',
  };
  const res: CoeffsForwardResult & { xIn?: TensorInfo } = andPre
    ? runCoeffsPre(be.mhc, args)
    : be.mhc.coeffsForward(args);
  if (res.xIn && (res.xIn.dtype !== x.dtype || sizeOf(res.xIn.shape) !== n * c))
    throw new BackendError(
      `${be.name}: coeffsPreForward returned xIn ${res.xIn.dtype} [${res.xIn.shape.join(', ')}], expected ${x.dtype} [${n}, ${c}]`,
    );
  const hPre = wrap(be, viewInfo(res.hPre, [...outer, hc]));
  const hPost = wrap(be, viewInfo(res.hPost, [...outer, hc]));
  const hRes = wrap(be, viewInfo(res.hRes, [...outer, hc, hc]));
  const saved = res.saved.map((s) => wrap(be, s));
  // coeffs sees x as [N, K]; the fused pre output comes back as [N, c] and is shaped [..., c].
  const xIn = res.xIn ? wrap(be, viewInfo(res.xIn, [...outer, c])) : null;
  if (!grad) {
    for (const s of saved) s.dispose();
    temps.dispose();
    return { coeffs: { hPre, hPost, hRes }, xIn };
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
        ...(phiLayout === 'deepseek' ? { phiLayout } : {}),
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
  temps.dispose();
  return { coeffs: { hPre, hPost, hRes }, xIn };
}

/**
 * xIn = Σ_s hPre[s] · x[s]: x [..., hc, c], hPre [..., hc] -> [..., c] in x's dtype (Liger's
 * liger_mhc_pre). As in Liger, x may be bf16, f16 or f32 (allowFp32 only gates coeffs), and hPre
 * of any float dtype is read as f32.
 */
export function mhcPre(x: Tensor, hPre: Tensor, _options: Pick<MhcOptions, 'allowFp32'> = {}): Tensor {
  const be = backendOf({ x, hPre });
  const { hc, c, outer, n } = streamDims(x);
  checkActivationDType(x, 'x', true);
  checkFloat(hPre, 'hPre');
  expectShape(hPre, 'hPre', [...outer, hc]);
  const temps = new Temps();
  hPre = temps.own(hPre, toF32(hPre));
  const xIn = wrap(
    be,
    viewInfo(be.mhc.preForward(viewInfo(x, [n, hc, c]), viewInfo(hPre, [n, hc])), [...outer, c]),
  );
  recordPre(be, x, hPre, xIn);
  temps.dispose();
  return xIn;
}

/**
 * The autograd node of xIn = pre(x, hPre), x [..., hc, c], hPre [..., hc], xIn [..., c]: the one
 * implementation for mhcPre and mhcCoeffsPre. Records nothing unless
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
 * orientation 'deepseek' the residual matrix is applied transposed. Liger's dtype rules: x and f
 * may each be bf16, f16 or f32 and need not match (its mini-LM feeds an f32 layer output over bf16
 * streams); xOut has x's dtype, the gradient of f has f's; hPost and hRes of any float dtype are
 * read as f32.
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
  checkActivationDType(x, 'x', true);
  checkActivationDType(f, 'f', true);
  expectShape(f, 'f', [...outer, c]);
  checkFloat(hPost, 'hPost');
  expectShape(hPost, 'hPost', [...outer, hc]);
  checkFloat(hRes, 'hRes');
  expectShape(hRes, 'hRes', [...outer, hc, hc]);
  if (f.dtype !== x.dtype && !be.mhc.mixedPostResDTypes) {
    // A backend whose post_res takes one activation dtype runs in f32 (which holds bf16 and f16
    // exactly): its kernels compute in f32 either way, so rounding once at the end gives Liger's
    // values, and f's gradient keeps f's precision instead of passing through x's dtype.
    const wide = 'f32';
    if (x.dtype !== wide) {
      const temps = new Temps();
      const xw = temps.own(x, cast(x, wide));
      const fw = temps.own(f, cast(f, wide));
      const yw = temps.own(x, mhcPostRes(xw, fw, hPost, hRes, options));
      const y = cast(yw, x.dtype);
      temps.dispose();
      return y;
    }
  }
  const temps = new Temps();
  hPost = temps.own(hPost, toF32(hPost));
  hRes = temps.own(hRes, toF32(hRes));
  // Here x is f32 and f narrower: widening f is exact.
  if (f.dtype !== x.dtype && !be.mhc.mixedPostResDTypes) f = temps.own(f, cast(f, x.dtype));
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
  if (!needsGrad(x, f, hPost, hRes)) {
    temps.dispose();
    return xOut;
  }
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
  temps.dispose();
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
  checkLayer('layer', layer);
  checkCoefficients(coeffs);
  const xIn = mhcPre(x, coeffs.hPre, options);
  return mhcPostRes(x, callLayerChecked(layer, xIn), coeffs.hPost, coeffs.hRes, options);
}

/** coeffs must be what mhcCoeffs returns: hPre, hPost and hRes tensors. */
function checkCoefficients(coeffs: unknown): asserts coeffs is MhcCoefficients {
  if (coeffs === null || typeof coeffs !== 'object')
    throw new ArgumentError('coeffs', `expected the result of mhcCoeffs, got ${fmt(coeffs)}`);
  const c = coeffs as Record<string, unknown>;
  for (const k of ['hPre', 'hPost', 'hRes'])
    if (!isTensor(c[k])) throw new ArgumentError(`coeffs.${k}`, `expected a Tensor, got ${fmt(c[k])}`);
}

/** f = layer(xIn), which must return a tensor of xIn's shape. */
export function callLayerChecked(layer: LayerLike, xIn: Tensor): Tensor {
  const f = callLayer(layer, xIn);
  if (f.rank !== xIn.rank || f.shape.some((d, i) => d !== xIn.shape[i]))
    throw new ShapeError(
      'layer output',
      `[${xIn.shape.join(', ')}] (the layer must map [..., c] to [..., c])`,
      f.shape,
    );
  return f;
}

/** The whole mHC layer: mhcCoeffsPre, then layer -> post_res. */
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
  checkLayer('layer', layer);
  const { coeffs, xIn } = mhcCoeffsPre(x, phi, b, alphaPre, alphaPost, alphaRes, options);
  return mhcPostRes(x, callLayerChecked(layer, xIn), coeffs.hPost, coeffs.hRes, options);
}

/**
 * The x gradient accumulated so far by other consumers of x, for a backend that folds it into the
 * gradX it writes (MhcKernels.accumulatesGradX); null otherwise, and core adds the pieces itself.
 */
export function takeAccumulated(be: Backend, take: TakeGrad, x: Tensor): Tensor | null {
  if (!be.mhc.accumulatesGradX) return null;
  const g = take(0);
  return g === null ? null : castTo(g, x.dtype);
}

/**
 * Tensors an op made from its arguments (dtype casts, φ transposed): disposed when the op returns.
 * The graph keeps what the backward needs through saveForBackward views and the nodes themselves.
 */
export class Temps {
  private list: Tensor[] = [];
  own(original: Tensor, t: Tensor): Tensor {
    if (t !== original) this.list.push(t);
    return t;
  }
  dispose(): void {
    for (const t of this.list) t.dispose();
    this.list = [];
  }
}
