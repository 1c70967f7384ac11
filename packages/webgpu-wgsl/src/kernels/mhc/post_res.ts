import {
  ArgumentError,
  type Orientation,
  type PostResBackwardResult,
  type TensorInfo,
} from '@liger-mhc/core';
import type { WebGpuBackend } from '../../backend.js';
import { ROW_UNIT_WG, wide } from './common.js';
import { checkOrientation, dims3, expectSize, pairOutput, rowwise } from './host-helpers.js';
import {
  type PostResOptions,
  postResBackwardKernel,
  postResForwardKernel,
  postResForwardWideKernel,
  postResWideOptions,
} from './post_res.wgsl.js';

// Host side of post_res (post_res.wgsl.ts): every argument is checked before anything is allocated
// or encoded. `pinned`: the kernel options tests pin (kernelOverrides), {} in production.

export function postResForward(
  b: WebGpuBackend,
  pinned: PostResOptions,
  x: TensorInfo,
  f: TensorInfo,
  hPost: TensorInfo,
  hRes: TensorInfo,
  orientation: Orientation,
): TensorInfo {
  b.check({ x, f, hPost, hRes });
  const { N, hc, c } = dims3(x, 'x');
  expectSize(f, 'f', [N, c]);
  expectSize(hPost, 'hPost', [N, hc]);
  expectSize(hRes, 'hRes', [N, hc, hc]);
  checkOrientation(orientation);
  if (hPost.dtype !== hRes.dtype) throw new ArgumentError('hRes', 'hPost and hRes must share a dtype');
  const out = pairOutput(b, [N, hc, c], x.dtype, c);
  const w = wide(c, x.dtype, f.dtype, out.od);
  if (w) {
    const o = postResWideOptions(c, pinned);
    const per = c / 8 / (o.pieces ?? 1);
    b.dispatch(
      postResForwardWideKernel(hc, orientation, x.dtype, f.dtype, hPost.dtype, out.od, o),
      [x, f, hPost, hRes, out.t],
      { N, c, per, total: N * per, P8: c / 8 },
      Math.ceil((N * per) / ROW_UNIT_WG),
    );
  } else
    rowwise(
      b,
      postResForwardKernel(hc, orientation, x.dtype, f.dtype, hPost.dtype, out.od, c),
      [x, f, hPost, hRes, out.t],
      N,
      c,
      Math.ceil(c / 2),
    );
  return out.finish();
}

export function postResBackward(
  b: WebGpuBackend,
  gradXOut: TensorInfo,
  x: TensorInfo,
  f: TensorInfo,
  hPost: TensorInfo,
  hRes: TensorInfo,
  orientation: Orientation,
): PostResBackwardResult {
  b.check({ gradXOut, x, f, hPost, hRes });
  const { N, hc, c } = dims3(x, 'x');
  expectSize(gradXOut, 'gradXOut', [N, hc, c]);
  expectSize(f, 'f', [N, c]);
  expectSize(hPost, 'hPost', [N, hc]);
  expectSize(hRes, 'hRes', [N, hc, hc]);
  checkOrientation(orientation);
  if (hPost.dtype !== hRes.dtype) throw new ArgumentError('hRes', 'hPost and hRes must share a dtype');
  const gx = pairOutput(b, [N, hc, c], x.dtype, c);
  const gf = pairOutput(b, [N, c], f.dtype, c);
  const gh = b.output([N * (hc + hc * hc)], 'f32');
  b.dispatch(
    postResBackwardKernel(hc, orientation, gradXOut.dtype, x.dtype, f.dtype, hPost.dtype, gx.od, gf.od, c),
    [gradXOut, x, f, hPost, hRes, gx.t, gf.t, gh],
    { N, c, pairs: Math.ceil(c / 2) },
    N,
  );
  const gradHPost = b.output([N, hc], 'f32');
  const gradHRes = b.output([N, hc, hc], 'f32');
  const ghBuf = b.buf(gh, 'gh');
  b.copy(ghBuf, 0, b.buf(gradHPost, 'gradHPost'), 0, N * hc * 4);
  b.copy(ghBuf, N * hc * 4, b.buf(gradHRes, 'gradHRes'), 0, N * hc * hc * 4);
  b.disposeData(gh.handle);
  return { gradX: gx.finish(), gradF: gf.finish(), gradHPost, gradHRes };
}
