import type { Backend } from '../backend/contract.js';
import type { MhcV4Kernels } from '../backend/mhc-v4-kernels.js';
import { ShapeError, UnsupportedKernelError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { castTo } from './cast.js';
import { backendOf, needsGrad, record, wrap } from './dispatch.js';
import { type MhcOptions, resolveMhcOptions } from './mhc-options.js';
import {
  checkActivationDType,
  checkFloat,
  expectScalar,
  expectShape,
  streamDims,
  toF32,
} from './mhc-validate.js';
import { saveForBackward, viewInfo } from './save.js';

/**
 * DeepSeek-V4's hyper-connection ops that Liger's mHC lacks: the head, expand, and pre with the
 * layer's weighted RMSNorm fused in. Each runs one backend kernel forward and one backward; the
 * gradients are defined here, once, against the kernel set.
 */

type V4Kernel = keyof Omit<MhcV4Kernels, 'phiLayouts'>;

function kernel<K extends V4Kernel>(be: Backend, name: K): NonNullable<MhcV4Kernels[K]> {
  const fn = be.mhc[name];
  if (typeof fn !== 'function') throw new UnsupportedKernelError(name, be.name);
  return (fn as (...a: unknown[]) => unknown).bind(be.mhc) as NonNullable<MhcV4Kernels[K]>;
}

/**
 * DeepSeek-V4's hc_head: x [..., hc, c] -> y [..., c] in x's dtype,
 *   mix = (x flattened to hc·c)·φᵀ · rsqrt(mean(x²) + rmsEps),  w = σ(mix·scale + base) + eps,
 *   y = Σ_s w[s]·x[s].
 * φ is hc_head_fn [hc, hc·c], base hc_head_base [hc], scale hc_head_scale [1] (any float dtypes,
 * read as f32). Defaults: rmsEps and eps (= preEps) of the preset ('deepseek-v4': 1e-6 and 1e-6).
 */
export function mhcHead(
  x: Tensor,
  phi: Tensor,
  base: Tensor,
  scale: Tensor,
  options: Pick<MhcOptions, 'preset' | 'rmsEps' | 'preEps' | 'allowFp32'> = {},
): Tensor {
  const be = backendOf({ x, phi, base, scale });
  const o = resolveMhcOptions({ preset: 'deepseek-v4', ...options });
  const { hc, c, outer, n } = streamDims(x);
  checkActivationDType(x, 'x', o.allowFp32);
  checkFloat(phi, 'phi');
  expectShape(phi, 'phi', [hc, hc * c]);
  checkFloat(base, 'base');
  expectShape(base, 'base', [hc]);
  checkFloat(scale, 'scale');
  expectScalar(scale, 'scale');
  const fwd = kernel(be, 'headForward');
  const bwd = kernel(be, 'headBackward');
  const b32 = toF32(base);
  const s32 = toF32(scale);
  const config = { hc, rmsEps: o.rmsEps, eps: o.preEps };
  const grad = needsGrad(x, phi, base, scale);
  const r = fwd({
    x: viewInfo(x, [n, hc, c]),
    phi,
    base: b32,
    scale: viewInfo(s32, []),
    config,
    save: grad,
  });
  const y = wrap(be, viewInfo(r.y, [...outer, c]));
  const weights = wrap(be, r.weights);
  const saved = r.saved.map((t) => wrap(be, t));
  if (!grad) {
    weights.dispose();
    for (const t of saved) t.dispose();
    if (b32 !== base) b32.dispose();
    if (s32 !== scale) s32.dispose();
    return y;
  }
  const keep = [x, phi, b32, s32].map(saveForBackward) as [Tensor, Tensor, Tensor, Tensor];
  const [sx, sphi, sb, ss] = keep;
  record([y], {
    name: 'mhcHead',
    inputs: [x, phi, base, scale],
    owned: [...keep, weights, ...saved],
    backward: ([g]) => {
      const res = bwd({
        gradY: viewInfo(g!, [n, c]),
        x: viewInfo(sx, [n, hc, c]),
        phi: sphi,
        base: sb,
        scale: viewInfo(ss, []),
        weights,
        saved,
        config,
        needs: {
          x: x.requiresGrad,
          phi: phi.requiresGrad,
          base: base.requiresGrad,
          scale: scale.requiresGrad,
        },
      });
      const out = (info: typeof res.gradX, like: Tensor) =>
        info === null ? null : castTo(wrap(be, viewInfo(info, like.shape)), like.dtype);
      return [out(res.gradX, x), out(res.gradPhi, phi), out(res.gradBase, base), out(res.gradScale, scale)];
    },
  });
  if (b32 !== base) b32.dispose();
  if (s32 !== scale) s32.dispose();
  return y;
}

/** DeepSeek-V4's expand: the embedding x [..., c] repeated into hc streams [..., hc, c]. */
export function mhcExpand(x: Tensor, hc: number): Tensor {
  const be = backendOf({ x });
  if (x.rank < 1) throw new ShapeError('x', '[..., c] (rank >= 1)', x.shape);
  if (!Number.isInteger(hc) || hc < 1) throw new ShapeError('hc', 'an integer >= 1', String(hc));
  checkFloat(x, 'x');
  const c = x.shape[x.rank - 1]!;
  const outer = x.shape.slice(0, -1);
  const n = outer.reduce((a, d) => a * d, 1);
  const fwd = kernel(be, 'expandForward');
  const y = wrap(be, viewInfo(fwd(viewInfo(x, [n, c]), hc), [...outer, hc, c]));
  if (!needsGrad(x)) return y;
  const bwd = kernel(be, 'expandBackward');
  record([y], {
    name: 'mhcExpand',
    inputs: [x],
    backward: ([g]) => [wrap(be, viewInfo(bwd(viewInfo(g!, [n, hc, c]), x.dtype), x.shape))],
  });
  return y;
}

/**
 * pre with the layer's weighted RMSNorm over c fused in (what serving stacks do for DeepSeek-V4's
 * attn_norm / ffn_norm after hc_pre):  y = rmsnorm(Σ_s hPre[s]·x[s]; eps)·weight, in x's dtype.
 * The pre sum is not rounded to x's dtype before the norm (the unfused path rounds it once more).
 * weight [c] may be any float dtype; eps defaults to the preset's normEps (1e-6).
 */
export function mhcPreNorm(
  x: Tensor,
  hPre: Tensor,
  weight: Tensor,
  options: Pick<MhcOptions, 'preset' | 'normEps'> = {},
): Tensor {
  const be = backendOf({ x, hPre, weight });
  const o = resolveMhcOptions(options);
  const { hc, c, outer, n } = streamDims(x);
  checkActivationDType(x, 'x', true);
  checkFloat(hPre, 'hPre');
  expectShape(hPre, 'hPre', [...outer, hc]);
  checkFloat(weight, 'weight');
  expectShape(weight, 'weight', [c]);
  const fwd = kernel(be, 'preNormForward');
  const bwd = kernel(be, 'preNormBackward');
  const h32 = toF32(hPre);
  const eps = o.normEps;
  const r = fwd(viewInfo(x, [n, hc, c]), viewInfo(h32, [n, hc]), weight, eps);
  const y = wrap(be, viewInfo(r.y, [...outer, c]));
  const rstd = wrap(be, r.rstd);
  if (!needsGrad(x, hPre, weight)) {
    rstd.dispose();
    if (h32 !== hPre) h32.dispose();
    return y;
  }
  const keep = [x, h32, weight].map(saveForBackward) as [Tensor, Tensor, Tensor];
  const [sx, sh, sw] = keep;
  record([y], {
    name: 'mhcPreNorm',
    inputs: [x, h32, weight],
    owned: [...keep, rstd],
    backward: ([g]) => {
      const res = bwd(viewInfo(g!, [n, c]), viewInfo(sx, [n, hc, c]), viewInfo(sh, [n, hc]), sw, rstd, eps);
      return [
        wrap(be, viewInfo(res.gradX, x.shape)),
        wrap(be, viewInfo(res.gradHPre, hPre.shape)),
        castTo(wrap(be, res.gradWeight), weight.dtype),
      ];
    },
  });
  if (h32 !== hPre) h32.dispose();
  return y;
}
