import {
  type MhcOptions,
  mhcCoeffs,
  mhcPostRes,
  mhcPre,
  slice,
  type Tensor,
  transpose,
} from '@liger-mhc/core';
import {
  type TinyDeepseekV4,
  type V4Block,
  type V4HcConfig,
  type V4HcPreResult,
  v4HcCoeffs,
  v4HcPost,
  v4WeightedSum,
} from '@liger-mhc/models';
import type { FusedOps } from './patched-mhc.js';

/**
 * DeepSeek-V4's hyper-connections on the fused mHC kernels. V4's conventions map onto Liger's
 * exactly: φ = hc_*_fnᵀ, b = hc_*_base, (αpre, αpost, αres) = hc_*_scale[0..2], rmsEps = norm_eps,
 * preEps = sinkhornEps = hc_eps, postMult = 2, tmax = hc_sinkhorn_iters, and the residual matrix
 * applied transposed (orientation 'deepseek').
 */
export function v4MhcOptions(cfg: V4HcConfig): MhcOptions {
  return {
    tmax: cfg.sinkhornIters,
    rmsEps: cfg.normEps,
    preEps: cfg.hcEps,
    sinkhornEps: cfg.hcEps,
    postMult: 2,
    orientation: 'deepseek',
    // V4 runs the hyper-connections in f32 whatever the activation dtype.
    allowFp32: true,
  };
}

const alpha = (scale: Tensor, i: number) => slice(scale, 0, i, i + 1).reshape([]);

/** hc_pre with the coefficients and/or the weighted sum on the fused kernels, as `ops` says. */
export function fusedV4HcPre(
  cfg: V4HcConfig,
  ops: FusedOps,
): (x: Tensor, fn: Tensor, scale: Tensor, base: Tensor) => V4HcPreResult {
  const o = v4MhcOptions(cfg);
  return (x, fn, scale, base) => {
    // The kernels take φ as [K, M]; V4 stores [M, K]. The transpose is one small copy per call
    // (M·K elements, independent of the token count) and its gradient flows back to fn.
    const h = ops.coeffs
      ? mhcCoeffs(x, transpose(fn), base, alpha(scale, 0), alpha(scale, 1), alpha(scale, 2), o)
      : (() => {
          const r = v4HcCoeffs(x, fn, scale, base, cfg);
          return { hPre: r.pre, hPost: r.post, hRes: r.comb };
        })();
    const y = ops.pre ? mhcPre(x, h.hPre, o) : v4WeightedSum(x, h.hPre);
    return { y, post: h.hPost, comb: h.hRes };
  };
}

/** hc_post on the fused post_res kernel (or the reference, when post_res is not fused). */
export function fusedV4HcPost(
  cfg: V4HcConfig,
  ops: FusedOps,
): (f: Tensor, residual: Tensor, post: Tensor, comb: Tensor) => Tensor {
  const o = v4MhcOptions(cfg);
  return (f, residual, post, comb) =>
    ops.postRes && f.dtype === residual.dtype
      ? mhcPostRes(residual, f, post, comb, o)
      : v4HcPost(f, residual, post, comb);
}

/**
 * Give every block of a V4 model the fused hc_pre / hc_post (instance properties over the class's
 * unfused methods); the returned function deletes them again.
 */
export function patchDeepseekV4(model: TinyDeepseekV4, ops: FusedOps): () => void {
  const patched: V4Block[] = [];
  for (const block of model.blocks) {
    block.hcPre = fusedV4HcPre(block.hcConfig, ops);
    block.hcPost = fusedV4HcPost(block.hcConfig, ops);
    patched.push(block);
  }
  return () => {
    for (const block of patched) {
      delete (block as Partial<Pick<V4Block, 'hcPre' | 'hcPost'>>).hcPre;
      delete (block as Partial<Pick<V4Block, 'hcPre' | 'hcPost'>>).hcPost;
    }
  };
}
