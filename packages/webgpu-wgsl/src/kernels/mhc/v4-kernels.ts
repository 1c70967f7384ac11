import {
  ArgumentError,
  type DType,
  type HeadBackwardArgs,
  type HeadBackwardResult,
  type HeadForwardArgs,
  type HeadForwardResult,
  type PreNormBackwardResult,
  type PreNormForwardResult,
  ShapeError,
  sizeOf,
  type TensorInfo,
} from '@liger-mhc/core';
import type { WebGpuBackend } from '../../backend.js';
import { coeffsBackwardReduceKernel } from './coeffs.wgsl.js';
import { EXPAND_WG, expandBackwardKernel, expandForwardKernel } from './expand.wgsl.js';
import { headBackwardKernel, headForwardKernel, headPhiGradKernel } from './head.wgsl.js';
import { dims3, expectF32, expectSize, pairOutput } from './host-helpers.js';
import { preNormBackwardKernel, preNormForwardKernel, preNormWeightGradKernel } from './pre_norm.wgsl.js';

/**
 * Host side of DeepSeek-V4's kernels (head, expand, pre with the RMSNorm fused): checks every
 * argument before allocating or encoding, then encodes the WGSL of head.wgsl.ts, expand.wgsl.ts and
 * pre_norm.wgsl.ts. Reductions over tokens run in fixed orders, so results are deterministic.
 */

/** base then scale as one f32 [hc + 1] buffer (the kernels' `coef`). */
function headCoef(b: WebGpuBackend, base: TensorInfo, scale: TensorInfo, hc: number): TensorInfo {
  const coef = b.output([hc + 1], 'f32');
  const dst = b.buf(coef, 'coef');
  b.copy(b.buf(base, 'base'), 0, dst, 0, hc * 4);
  b.copy(b.buf(scale, 'scale'), 0, dst, hc * 4, 4);
  return coef;
}

function headChecks(
  b: WebGpuBackend,
  x: TensorInfo,
  phi: TensorInfo,
  base: TensorInfo,
  scale: TensorInfo,
  hc: number,
) {
  b.check({ x, phi, base, scale });
  const d = dims3(x, 'x');
  if (d.hc !== hc) throw new ShapeError('x', `[N, ${hc}, c] (config.hc)`, x.shape);
  const K = hc * d.c;
  expectSize(phi, 'phi', [hc, K]);
  expectSize(base, 'base', [hc]);
  expectSize(scale, 'scale', []);
  expectF32(base, 'base');
  expectF32(scale, 'scale');
  return { ...d, K };
}

export function headForward(b: WebGpuBackend, args: HeadForwardArgs): HeadForwardResult {
  const { x, phi, base, scale, config } = args;
  const { N, hc, c, K } = headChecks(b, x, phi, base, scale, config.hc);
  const coef = headCoef(b, base, scale, hc);
  const y = pairOutput(b, [N, c], x.dtype, c);
  const weights = b.output([N, hc], 'f32');
  const sv = b.output(args.save ? [N, hc + 1] : [1], 'f32');
  b.dispatch(
    headForwardKernel(hc, x.dtype, phi.dtype, y.od),
    [x, phi, coef, y.t, weights, sv],
    { N, c, K, save: args.save ? 1 : 0, rmsEps: config.rmsEps, eps: config.eps },
    N,
  );
  b.disposeData(coef.handle);
  if (!args.save) b.disposeData(sv.handle);
  return { y: y.finish(), weights, saved: args.save ? [sv] : [] };
}

export function headBackward(b: WebGpuBackend, args: HeadBackwardArgs): HeadBackwardResult {
  const { gradY, x, phi, base, scale, config, needs, saved } = args;
  const { N, hc, c, K } = headChecks(b, x, phi, base, scale, config.hc);
  b.check({ gradY });
  expectSize(gradY, 'gradY', [N, c]);
  const sv = saved[0];
  if (saved.length !== 1 || !sv || sizeOf(sv.shape) !== N * (hc + 1))
    throw new ArgumentError('saved', 'expected the tensor saved by headForward (with save)');
  b.check({ saved: sv });
  const coef = headCoef(b, base, scale, hc);
  const gx = pairOutput(b, [N, hc, c], x.dtype, c);
  const tr = b.output([N, hc + 1], 'f32');
  const gm = b.output([N, hc], 'f32');
  b.dispatch(
    headBackwardKernel(hc, gradY.dtype, x.dtype, phi.dtype, gx.od),
    [gradY, x, phi, coef, sv, gx.t, tr, gm],
    { N, c, K, needX: needs.x ? 1 : 0, eps: config.eps },
    N,
  );
  b.disposeData(coef.handle);
  const result: HeadBackwardResult = { gradX: null, gradPhi: null, gradBase: null, gradScale: null };
  if (needs.x) result.gradX = gx.finish();
  else b.disposeData(gx.t.handle);
  if (needs.phi) {
    result.gradPhi = b.output([hc, K], 'f32');
    b.dispatch(headPhiGradKernel(hc, x.dtype), [gm, x, result.gradPhi], { N, K }, K);
  }
  if (needs.base || needs.scale) {
    const red = b.output([hc + 1], 'f32');
    b.dispatch(coeffsBackwardReduceKernel(), [tr, red], { N, cols: hc + 1 }, hc + 1);
    const rb = b.buf(red, 'red');
    if (needs.base) {
      result.gradBase = b.output([hc], 'f32');
      b.copy(rb, 0, b.buf(result.gradBase, 'gradBase'), 0, hc * 4);
    }
    if (needs.scale) {
      result.gradScale = b.output([], 'f32');
      b.copy(rb, hc * 4, b.buf(result.gradScale, 'gradScale'), 0, 4);
    }
    b.disposeData(red.handle);
  }
  b.disposeData(tr.handle);
  b.disposeData(gm.handle);
  return result;
}

export function expandForward(b: WebGpuBackend, x: TensorInfo, hc: number): TensorInfo {
  b.check({ x });
  if (!Number.isInteger(hc) || hc < 1) throw new ArgumentError('hc', `expected an integer >= 1, got ${hc}`);
  if (x.shape.length < 1) throw new ShapeError('x', '[..., c]', x.shape);
  const c = x.shape[x.shape.length - 1]!;
  const total = sizeOf(x.shape) * hc;
  const y = b.output([...x.shape.slice(0, -1), hc, c], x.dtype);
  const pairs = Math.ceil(total / 2);
  b.dispatch(expandForwardKernel(x.dtype), [x, y], { n: total, c, hc, pairs }, Math.ceil(pairs / EXPAND_WG));
  return y;
}

export function expandBackward(b: WebGpuBackend, g: TensorInfo, dtype: DType): TensorInfo {
  b.check({ grad: g });
  const { N, hc, c } = dims3(g, 'grad');
  const total = N * c;
  const out = b.output([N, c], dtype);
  const pairs = Math.ceil(total / 2);
  b.dispatch(
    expandBackwardKernel(g.dtype, dtype),
    [g, out],
    { n: total, c, hc, pairs },
    Math.ceil(pairs / EXPAND_WG),
  );
  return out;
}

function preNormChecks(b: WebGpuBackend, x: TensorInfo, hPre: TensorInfo, weight: TensorInfo) {
  b.check({ x, hPre, weight });
  const d = dims3(x, 'x');
  expectSize(hPre, 'hPre', [d.N, d.hc]);
  expectF32(hPre, 'hPre');
  expectSize(weight, 'weight', [d.c]);
  return d;
}

export function preNormForward(
  b: WebGpuBackend,
  x: TensorInfo,
  hPre: TensorInfo,
  weight: TensorInfo,
  eps: number,
): PreNormForwardResult {
  const { N, hc, c } = preNormChecks(b, x, hPre, weight);
  if (!(Number.isFinite(eps) && eps >= 0))
    throw new ArgumentError('eps', `expected a finite number >= 0, got ${eps}`);
  const y = pairOutput(b, [N, c], x.dtype, c);
  const rstd = b.output([N], 'f32');
  b.dispatch(
    preNormForwardKernel(hc, x.dtype, weight.dtype, y.od),
    [x, hPre, weight, y.t, rstd],
    { N, c, eps },
    N,
  );
  return { y: y.finish(), rstd };
}

export function preNormBackward(
  b: WebGpuBackend,
  gradY: TensorInfo,
  x: TensorInfo,
  hPre: TensorInfo,
  weight: TensorInfo,
  rstd: TensorInfo,
  eps: number,
): PreNormBackwardResult {
  const { N, hc, c } = preNormChecks(b, x, hPre, weight);
  b.check({ gradY, rstd });
  expectSize(gradY, 'gradY', [N, c]);
  expectSize(rstd, 'rstd', [N]);
  const gx = pairOutput(b, [N, hc, c], x.dtype, c);
  const gh = b.output([N, hc], 'f32');
  b.dispatch(
    preNormBackwardKernel(hc, gradY.dtype, x.dtype, weight.dtype, gx.od),
    [gradY, x, hPre, weight, gx.t, gh],
    { N, c, eps },
    N,
  );
  const gw = b.output([c], 'f32');
  b.dispatch(preNormWeightGradKernel(hc, gradY.dtype, x.dtype), [gradY, x, hPre, rstd, gw], { N, c }, c);
  return { gradX: gx.finish(), gradHPre: gh, gradWeight: gw };
}
