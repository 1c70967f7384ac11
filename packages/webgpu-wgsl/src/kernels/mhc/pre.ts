import type { PreBackwardResult, TensorInfo } from '@liger-mhc/core';
import type { WebGpuBackend } from '../../backend.js';
import { wide } from './common.js';
import { dims3, expectSize, pairOutput, rowwise } from './host-helpers.js';
import { preBackwardKernel, preForwardKernel, preForwardWideKernel } from './pre.wgsl.js';

// Host side of pre (pre.wgsl.ts): every argument is checked before anything is allocated or encoded.

export function preForward(b: WebGpuBackend, x: TensorInfo, hPre: TensorInfo): TensorInfo {
  b.check({ x, hPre });
  const { N, hc, c } = dims3(x, 'x');
  expectSize(hPre, 'hPre', [N, hc]);
  const out = pairOutput(b, [N, c], x.dtype, c);
  // 16-byte pieces (8 halves a thread) where every tensor allows them, else pairs.
  const w = wide(c, x.dtype, out.od);
  rowwise(
    b,
    w
      ? preForwardWideKernel(hc, x.dtype, hPre.dtype, out.od)
      : preForwardKernel(hc, x.dtype, hPre.dtype, out.od, c),
    [x, hPre, out.t],
    N,
    c,
    w ? c / 8 : Math.ceil(c / 2),
  );
  return out.finish();
}

export function preBackward(
  b: WebGpuBackend,
  gradXIn: TensorInfo,
  x: TensorInfo,
  hPre: TensorInfo,
): PreBackwardResult {
  b.check({ gradXIn, x, hPre });
  const { N, hc, c } = dims3(x, 'x');
  expectSize(hPre, 'hPre', [N, hc]);
  expectSize(gradXIn, 'gradXIn', [N, c]);
  const gx = pairOutput(b, [N, hc, c], x.dtype, c);
  const gh = b.output([N, hc], 'f32');
  b.dispatch(
    preBackwardKernel(hc, gradXIn.dtype, x.dtype, hPre.dtype, gx.od, c),
    [gradXIn, x, hPre, gx.t, gh],
    { N, c, pairs: Math.ceil(c / 2) },
    N,
  );
  return { gradX: gx.finish(), gradHPre: gh };
}
