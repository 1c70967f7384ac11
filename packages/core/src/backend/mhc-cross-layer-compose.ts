import type { Backend, TensorInfo } from './contract.js';
import type {
  PostResCoeffsPreForwardArgs,
  PostResCoeffsPreForwardResult,
} from './mhc-cross-layer-kernels.js';
import type { MhcKernels } from './mhc-kernels.js';

/** The same storage seen with another shape (no copy). */
const view = (t: TensorInfo, shape: readonly number[]): TensorInfo => ({
  handle: t.handle,
  shape: [...shape],
  dtype: t.dtype,
});

/**
 * The boundary forward as the separate kernels: post_res of sublayer l, then coeffs and pre of the
 * new streams [n, hc, c]. A backend runs this where it has no fused kernel for the case (the CPU
 * reference always); what it made is released if a later kernel throws.
 */
export function composedPostResCoeffsPreForward(
  be: Pick<Backend, 'disposeData'>,
  k: Pick<MhcKernels, 'postResForward' | 'coeffsForward' | 'preForward'>,
  a: PostResCoeffsPreForwardArgs,
  n: number,
  hc: number,
  c: number,
): PostResCoeffsPreForwardResult {
  const xOut = k.postResForward(a.x, a.f, a.hPost, a.hRes, a.orientation);
  let made: TensorInfo[] = [xOut];
  try {
    const r = k.coeffsForward({
      x: view(xOut, [n, hc * c]),
      phi: a.phi,
      ...(a.phiLayout ? { phiLayout: a.phiLayout } : {}),
      b: a.b,
      alphaPre: a.alphaPre,
      alphaPost: a.alphaPost,
      alphaRes: a.alphaRes,
      config: a.config,
      save: a.save,
    });
    made = [xOut, r.hPre, r.hPost, r.hRes, ...r.saved];
    const xIn = k.preForward(view(xOut, [n, hc, c]), r.hPre);
    return { xOut, hPre: r.hPre, hPost: r.hPost, hRes: r.hRes, xIn, saved: r.saved };
  } catch (err) {
    for (const t of made) be.disposeData(t.handle);
    throw err;
  }
}
