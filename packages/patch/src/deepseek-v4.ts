import {
  type Backend,
  hasCrossLayerKernels,
  type MhcCoefficients,
  type MhcOptions,
  mhcCoeffs,
  mhcExpand,
  mhcHead,
  mhcPostRes,
  mhcPostResCoeffsPre,
  mhcPre,
  mhcPreNorm,
  splitScale,
  type Tensor,
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
 * DeepSeek-V4's hyper-connections on the fused mHC kernels, its parameters taken as stored: the
 * 'deepseek-v4' preset reads hc_*_fn as φ in V4's [M, hc·dim] layout, hc_*_scale as the three α,
 * applies the residual matrix transposed, and uses hc_eps as pre's offset and Sinkhorn's eps; this
 * model's own norm_eps, hc_eps and iteration count override the preset's where they differ.
 */
export function v4MhcOptions(cfg: V4HcConfig): MhcOptions {
  return {
    preset: 'deepseek-v4',
    tmax: cfg.sinkhornIters,
    rmsEps: cfg.normEps,
    preEps: cfg.hcEps,
    sinkhornEps: cfg.hcEps,
    normEps: cfg.normEps,
    // V4 runs the hyper-connections in f32 whatever the activation dtype.
    allowFp32: true,
  };
}

/** The V4-only computations a backend may fuse beyond coeffs / pre / post_res. */
export interface V4FusedOps {
  /** hc_head as one kernel (mhcHead). */
  head: boolean;
  /** The stream expansion after the embedding (mhcExpand). */
  expand: boolean;
  /** Each sublayer's RMSNorm folded into pre (mhcPreNorm), as serving stacks do. */
  preNorm: boolean;
}

/** Which of the V4 kernels `backend` has (a backend may leave any of them out). */
export function v4KernelsOf(backend: Backend): V4FusedOps {
  const m = backend.mhc;
  return {
    head: typeof m.headForward === 'function' && typeof m.headBackward === 'function',
    expand: typeof m.expandForward === 'function' && typeof m.expandBackward === 'function',
    preNorm: typeof m.preNormForward === 'function' && typeof m.preNormBackward === 'function',
  };
}

function coefficients(x: Tensor, fn: Tensor, scale: Tensor, base: Tensor, cfg: V4HcConfig, ops: FusedOps) {
  if (ops.coeffs) return mhcCoeffs(x, fn, base, scale, v4MhcOptions(cfg));
  const r = v4HcCoeffs(x, fn, scale, base, cfg);
  return { hPre: r.pre, hPost: r.post, hRes: r.comb };
}

/** hc_pre with the coefficients and/or the weighted sum on the fused kernels, as `ops` says. */
export function fusedV4HcPre(cfg: V4HcConfig, ops: FusedOps) {
  return (x: Tensor, fn: Tensor, scale: Tensor, base: Tensor): V4HcPreResult => {
    const h = coefficients(x, fn, scale, base, cfg, ops);
    const y = ops.pre ? mhcPre(x, h.hPre, { allowFp32: true }) : v4WeightedSum(x, h.hPre);
    return { y, post: h.hPost, comb: h.hRes };
  };
}

/** hc_post on the fused post_res kernel (or the reference, when post_res is not fused). */
export function fusedV4HcPost(cfg: V4HcConfig, ops: FusedOps) {
  const o = v4MhcOptions(cfg);
  return (f: Tensor, residual: Tensor, post: Tensor, comb: Tensor): Tensor =>
    ops.postRes ? mhcPostRes(residual, f, post, comb, o) : v4HcPost(f, residual, post, comb);
}

/**
 * The block forward with each sublayer's norm fused into pre (mhcPreNorm): what V4's forward does,
 * with `norm(hc_pre(x).y)` computed by one kernel.
 */
function fusedV4BlockForward(block: V4Block, ops: FusedOps) {
  const cfg = block.hcConfig;
  return (x: Tensor): Tensor => {
    let h = x;
    for (const part of ['attn', 'ffn'] as const) {
      const { fn, base, scale } = block.hcParams(part);
      const c = coefficients(h, fn, scale, base, cfg, ops);
      const norm = part === 'attn' ? block.attnNorm : block.ffnNorm;
      const y = mhcPreNorm(h, c.hPre, norm.weight, { normEps: norm.eps });
      const f = part === 'attn' ? block.attn.forward(y) : block.ffn.forward(y);
      h = block.hcPost(f, h, c.hPost, c.hRes);
    }
    return h;
  };
}

/**
 * The model's blocks with every boundary between consecutive sublayers (attn -> ffn inside a block,
 * ffn -> the next block's attn) fused: post_res of one and the coefficients + pre of the next in one
 * op (mhcPostResCoeffsPre), each sublayer's RMSNorm on the pre output as V4's forward applies it.
 */
function fusedV4Blocks(model: TinyDeepseekV4) {
  return (x: Tensor): Tensor => {
    const subs = [...model.blocks].flatMap((block) =>
      (['attn', 'ffn'] as const).map((part) => ({
        block,
        ...block.hcParams(part),
        norm: part === 'attn' ? block.attnNorm : block.ffnNorm,
        layer: part === 'attn' ? block.attn : block.ffn,
      })),
    );
    let h = x;
    let entered: { coeffs: MhcCoefficients; xIn: Tensor } | null = null;
    for (const [i, s] of subs.entries()) {
      const o = v4MhcOptions(s.block.hcConfig);
      let coeffs: MhcCoefficients;
      let xIn: Tensor;
      if (entered) ({ coeffs, xIn } = entered);
      else {
        coeffs = mhcCoeffs(h, s.fn, s.base, s.scale, o);
        xIn = mhcPre(h, coeffs.hPre, o);
      }
      const f = s.layer.forward(s.norm.forward(xIn));
      const next = subs[i + 1];
      if (!next) {
        h = mhcPostRes(h, f, coeffs.hPost, coeffs.hRes, o);
        break;
      }
      const [aPre, aPost, aRes] = splitScale(next.scale);
      const r = mhcPostResCoeffsPre(
        h,
        f,
        coeffs.hPost,
        coeffs.hRes,
        next.fn,
        next.base,
        aPre,
        aPost,
        aRes,
        v4MhcOptions(next.block.hcConfig),
      );
      for (const a of [aPre, aPost, aRes]) a.dispose();
      h = r.xOut;
      entered = { coeffs: r.coeffs, xIn: r.xIn };
    }
    return h;
  };
}

type Patchable = Partial<Pick<V4Block, 'hcPre' | 'hcPost' | 'forward'>>;

/**
 * Give every block of a V4 model fused hc_pre / hc_post (and the model fused hc_head / expand, and
 * the blocks norm-in-pre, where `v4` says so): instance properties over the class's unfused
 * methods. The returned function deletes them again, so the class's methods are back.
 */
export function patchDeepseekV4(model: TinyDeepseekV4, ops: FusedOps, v4: V4FusedOps): () => void {
  const blocks = [...model.blocks];
  for (const block of blocks) {
    block.hcPre = fusedV4HcPre(block.hcConfig, ops);
    block.hcPost = fusedV4HcPost(block.hcConfig, ops);
    if (v4.preNorm) block.forward = fusedV4BlockForward(block, ops);
  }
  // Where the backend fuses the cross-layer boundary, that beats fusing the norm into pre (the
  // boundary saves two passes over the streams, the norm one pass over a single stream).
  const backend = model.blocks[0]?.hcAttnFn.backend;
  const stack =
    ops.coeffs && ops.pre && ops.postRes && backend !== undefined && hasCrossLayerKernels(backend);
  if (stack) model.forwardBlocks = fusedV4Blocks(model);
  const cfg = model.hcConfig;
  if (v4.head)
    model.hcHead = (x, fn, scale, base) =>
      mhcHead(x, fn, base, scale, { rmsEps: cfg.normEps, preEps: cfg.hcEps, allowFp32: true });
  if (v4.expand) model.hcExpand = (h) => mhcExpand(h, cfg.hc);
  return () => {
    for (const block of blocks) {
      const b = block as Patchable;
      delete b.hcPre;
      delete b.hcPost;
      delete b.forward;
    }
    const m = model as Partial<Pick<TinyDeepseekV4, 'hcHead' | 'hcExpand' | 'forwardBlocks'>>;
    delete m.forwardBlocks;
    delete m.hcHead;
    delete m.hcExpand;
  };
}
