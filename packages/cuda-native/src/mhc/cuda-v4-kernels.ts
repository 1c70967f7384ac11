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
import type { CudaBackend } from '../cuda-backend.js';
import { DTYPE_CODE } from '../native.js';
import { expectDType, expectFloat, expectSameDType } from '../validate.js';
import { MAX_HC } from './cuda-mhc-kernels.js';

/**
 * Host side of DeepSeek-V4's kernels (native/kernels/mhc/head.cu, expand.cu, pre_norm.cu): every
 * argument is checked before anything is allocated or launched.
 */

function dims3(x: TensorInfo, name: string) {
  if (x.shape.length !== 3) throw new ShapeError(name, '[N, hc, c]', x.shape);
  const [n, hc, c] = x.shape as [number, number, number];
  if (hc < 1 || hc > MAX_HC)
    throw new ShapeError(name, `[N, hc, c] with hc in 1..${MAX_HC} on the CUDA backend`, x.shape);
  return { n, hc, c };
}

function expectSize(t: TensorInfo, name: string, shape: readonly number[]): void {
  if (sizeOf(t.shape) !== sizeOf(shape)) throw new ShapeError(name, `[${shape.join(', ')}]`, t.shape);
}

function headChecks(x: TensorInfo, phi: TensorInfo, base: TensorInfo, scale: TensorInfo, hc: number) {
  const d = dims3(x, 'x');
  if (d.hc !== hc) throw new ShapeError('x', `[N, ${hc}, c] (config.hc)`, x.shape);
  expectFloat(x, 'x');
  expectFloat(phi, 'phi');
  expectSize(phi, 'phi', [hc, hc * d.c]);
  expectSize(base, 'base', [hc]);
  expectSize(scale, 'scale', []);
  expectDType(base, 'base', 'f32');
  expectDType(scale, 'scale', 'f32');
  return d;
}

export function headForward(be: CudaBackend, args: HeadForwardArgs): HeadForwardResult {
  const { x, phi, base, scale, config } = args;
  const { n, hc, c } = headChecks(x, phi, base, scale, config.hc);
  const y = be.output([n, c], x.dtype);
  const weights = be.output([n, hc], 'f32');
  const sv = args.save ? be.output([n, hc + 1], 'f32') : null;
  be.launch(
    'head_fwd',
    [
      be.buf(x, 'x'),
      be.buf(phi, 'phi'),
      be.buf(base, 'base'),
      be.buf(scale, 'scale'),
      be.buf(y, 'y'),
      be.buf(weights, 'weights'),
      sv ? be.buf(sv, 'saved') : null,
    ],
    {
      tokens: n,
      hc,
      c,
      xDtype: DTYPE_CODE[x.dtype],
      paramDtype: DTYPE_CODE[phi.dtype],
      rmsEps: config.rmsEps,
      eps: config.eps,
    },
  );
  return { y, weights, saved: sv ? [sv] : [] };
}

export function headBackward(be: CudaBackend, args: HeadBackwardArgs): HeadBackwardResult {
  const { gradY, x, phi, base, scale, config, needs, saved } = args;
  const { n, hc, c } = headChecks(x, phi, base, scale, config.hc);
  expectSameDType(x, 'x', gradY, 'gradY');
  expectSize(gradY, 'gradY', [n, c]);
  const sv = saved[0];
  if (saved.length !== 1 || !sv || sizeOf(sv.shape) !== n * (hc + 1))
    throw new ArgumentError('saved', 'expected the tensor saved by headForward (with save)');
  const gradX = needs.x ? be.output([n, hc, c], x.dtype) : null;
  const tr = be.output([n, hc + 1], 'f32');
  const gm = be.output([n, hc], 'f32');
  const result: HeadBackwardResult = { gradX, gradPhi: null, gradBase: null, gradScale: null };
  try {
    be.launch(
      'head_bwd',
      [
        be.buf(gradY, 'gradY'),
        be.buf(x, 'x'),
        be.buf(phi, 'phi'),
        be.buf(base, 'base'),
        be.buf(scale, 'scale'),
        be.buf(sv, 'saved'),
        gradX ? be.buf(gradX, 'gradX') : null,
        be.buf(tr, 'tr'),
        be.buf(gm, 'gm'),
      ],
      { tokens: n, hc, c, xDtype: DTYPE_CODE[x.dtype], paramDtype: DTYPE_CODE[phi.dtype], eps: config.eps },
    );
    if (needs.phi) {
      result.gradPhi = be.output([hc, hc * c], 'f32');
      be.launch('head_phi_grad', [be.buf(gm, 'gm'), be.buf(x, 'x'), be.buf(result.gradPhi, 'gradPhi')], {
        tokens: n,
        hc,
        c,
        xDtype: DTYPE_CODE[x.dtype],
      });
    }
    if (needs.base || needs.scale) {
      const red = be.output([hc + 1], 'f32');
      be.launch('head_column_sum', [be.buf(tr, 'tr'), be.buf(red, 'red')], { rows: n, cols: hc + 1 });
      // base and scale are views of one reduction: split it with the generic slice kernel.
      if (needs.base) result.gradBase = be.ops.slice(red, 0, 0, hc);
      if (needs.scale) result.gradScale = { ...be.ops.slice(red, 0, hc, hc + 1), shape: [] };
      be.disposeData(red.handle);
    }
  } finally {
    be.disposeData(tr.handle);
    be.disposeData(gm.handle);
  }
  return result;
}

export function expandForward(be: CudaBackend, x: TensorInfo, hc: number): TensorInfo {
  if (!Number.isInteger(hc) || hc < 1) throw new ArgumentError('hc', `expected an integer >= 1, got ${hc}`);
  if (x.shape.length < 1) throw new ShapeError('x', '[..., c]', x.shape);
  expectFloat(x, 'x');
  const c = x.shape[x.shape.length - 1]!;
  const n = c === 0 ? 0 : sizeOf(x.shape) / c;
  const y = be.output([...x.shape.slice(0, -1), hc, c], x.dtype);
  be.launch('expand_fwd', [be.buf(x, 'x'), be.buf(y, 'y')], {
    tokens: n,
    hc,
    c,
    dtype: DTYPE_CODE[x.dtype],
  });
  return y;
}

export function expandBackward(be: CudaBackend, g: TensorInfo, dtype: DType): TensorInfo {
  if (g.shape.length !== 3) throw new ShapeError('grad', '[N, hc, c]', g.shape);
  const [n, hc, c] = g.shape as [number, number, number];
  expectFloat(g, 'grad');
  const out = be.output([n, c], dtype);
  be.launch('expand_bwd', [be.buf(g, 'grad'), be.buf(out, 'out')], {
    tokens: n,
    hc,
    c,
    gradDtype: DTYPE_CODE[g.dtype],
    outDtype: DTYPE_CODE[dtype],
  });
  return out;
}

function preNormChecks(x: TensorInfo, hPre: TensorInfo, weight: TensorInfo) {
  const d = dims3(x, 'x');
  expectFloat(x, 'x');
  expectDType(hPre, 'hPre', 'f32');
  expectSize(hPre, 'hPre', [d.n, d.hc]);
  expectFloat(weight, 'weight');
  expectSize(weight, 'weight', [d.c]);
  return d;
}

export function preNormForward(
  be: CudaBackend,
  x: TensorInfo,
  hPre: TensorInfo,
  weight: TensorInfo,
  eps: number,
): PreNormForwardResult {
  const { n, hc, c } = preNormChecks(x, hPre, weight);
  if (!(Number.isFinite(eps) && eps >= 0))
    throw new ArgumentError('eps', `expected a finite number >= 0, got ${eps}`);
  const y = be.output([n, c], x.dtype);
  const rstd = be.output([n], 'f32');
  be.launch(
    'pre_norm_fwd',
    [be.buf(x, 'x'), be.buf(hPre, 'hPre'), be.buf(weight, 'weight'), be.buf(y, 'y'), be.buf(rstd, 'rstd')],
    { tokens: n, hc, c, xDtype: DTYPE_CODE[x.dtype], weightDtype: DTYPE_CODE[weight.dtype], eps },
  );
  return { y, rstd };
}

export function preNormBackward(
  be: CudaBackend,
  gradY: TensorInfo,
  x: TensorInfo,
  hPre: TensorInfo,
  weight: TensorInfo,
  rstd: TensorInfo,
  eps: number,
): PreNormBackwardResult {
  const { n, hc, c } = preNormChecks(x, hPre, weight);
  expectSameDType(x, 'x', gradY, 'gradY');
  expectSize(gradY, 'gradY', [n, c]);
  expectDType(rstd, 'rstd', 'f32');
  expectSize(rstd, 'rstd', [n]);
  const gradX = be.output([n, hc, c], x.dtype);
  const gradHPre = be.output([n, hc], 'f32');
  const gradWeight = be.output([c], 'f32');
  be.launch(
    'pre_norm_bwd',
    [
      be.buf(gradY, 'gradY'),
      be.buf(x, 'x'),
      be.buf(hPre, 'hPre'),
      be.buf(weight, 'weight'),
      be.buf(gradX, 'gradX'),
      be.buf(gradHPre, 'gradHPre'),
    ],
    { tokens: n, hc, c, xDtype: DTYPE_CODE[x.dtype], weightDtype: DTYPE_CODE[weight.dtype], eps },
  );
  be.launch(
    'pre_norm_weight_grad',
    [
      be.buf(gradY, 'gradY'),
      be.buf(x, 'x'),
      be.buf(hPre, 'hPre'),
      be.buf(rstd, 'rstd'),
      be.buf(gradWeight, 'gradWeight'),
    ],
    { tokens: n, hc, c, xDtype: DTYPE_CODE[x.dtype] },
  );
  return { gradX, gradHPre, gradWeight };
}
