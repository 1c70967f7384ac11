import {
  ArgumentError,
  type Backend,
  cast,
  crossEntropy,
  Embedding,
  type FloatDType,
  Linear,
  Module,
  ModuleList,
  mul,
  type Random,
  RMSNorm,
  randn,
  ShapeError,
  scaledDotProductAttention,
  silu,
  type Tensor,
  tensor,
  transpose,
} from '@liger-mhc/core';
import {
  type V4HcConfig,
  type V4HcPreResult,
  v4Expand,
  v4HcHead,
  v4HcPost,
  v4HcPre,
} from './deepseek-v4-hc.js';
import { type GenerateOptions, generate } from './generate.js';

/**
 * A tiny DeepSeek-V4-style language model, written the way V4's public inference model is: every
 * block keeps its hyper-connection parameters (hcAttnFn / hcAttnBase / hcAttnScale and the hcFfn*
 * ones) and calls hcPre before each sublayer and hcPost after it; the embedding is expanded into
 * hc streams and hcHead reduces them before the final norm and the head. The hc steps are the
 * unfused generic-op compositions of deepseek-v4-hc.ts; `applyLigerMhc` (@liger-mhc/patch)
 * replaces them on an instance with the fused kernels.
 *
 * Two simplifications (V4 is a 1.6T-parameter model; these keep the tiny one small and the mHC
 * wiring exact): attention is standard causal multi-head attention (wq, wk, wv, wo) with no
 * positional encoding, in place of V4's MLA with partial RoPE, KV compression, the indexer and the
 * attention sink; the MoE is one dense SwiGLU expert (w2(silu(w1·x) · w3·x)), in place of the gate,
 * the routed experts and the shared expert, with no clamp.
 */
export interface TinyDeepseekV4Config {
  vocab: number;
  dim: number;
  heads: number;
  layers: number;
  /** Streams (V4's hc_mult; 4 in V4). */
  hc: number;
  /** Hidden width of the SwiGLU expert (default 2·dim). */
  ffnHidden?: number;
  /** V4's norm_eps (default 1e-6). */
  normEps?: number;
  /** V4's hc_eps (default 1e-6). */
  hcEps?: number;
  /** V4's hc_sinkhorn_iters (default 20). */
  sinkhornIters?: number;
  /** dtype of the activations between blocks (default f32); the hc math runs in f32 as in V4. */
  activationDtype?: FloatDType;
  backend?: string | Backend;
  rng?: Random;
}

/** Causal multi-head self-attention: q, k, v and output projections, no bias, no positions. */
export class V4Attention extends Module {
  wq: Linear;
  wk: Linear;
  wv: Linear;
  wo: Linear;

  constructor(
    readonly dim: number,
    readonly heads: number,
    options: { backend?: string | Backend; rng?: Random } = {},
  ) {
    super();
    if (!Number.isInteger(heads) || heads < 1 || dim % heads !== 0)
      throw new ArgumentError('heads', `expected a divisor of dim ${dim}, got ${heads}`);
    const o = { ...options, bias: false };
    this.wq = this.registerModule('wq', new Linear(dim, dim, o));
    this.wk = this.registerModule('wk', new Linear(dim, dim, o));
    this.wv = this.registerModule('wv', new Linear(dim, dim, o));
    this.wo = this.registerModule('wo', new Linear(dim, dim, o));
  }

  forward(x: Tensor): Tensor {
    const [b, t, d] = x.shape as [number, number, number];
    const h = this.heads;
    const dh = d / h;
    const split = (y: Tensor) => transpose(y.reshape([b, t, h, dh]), [0, 2, 1, 3]);
    const ctx = scaledDotProductAttention(
      split(this.wq.forward(x)),
      split(this.wk.forward(x)),
      split(this.wv.forward(x)),
      { causal: true, scale: 1 / Math.sqrt(dh) },
    );
    return this.wo.forward(transpose(ctx, [0, 2, 1, 3]).reshape([b, t, d]));
  }
}

/** One dense SwiGLU expert (V4's Expert without the clamp): w2(silu(w1·x) · w3·x). */
export class V4Expert extends Module {
  w1: Linear;
  w2: Linear;
  w3: Linear;

  constructor(dim: number, hidden: number, options: { backend?: string | Backend; rng?: Random } = {}) {
    super();
    const o = { ...options, bias: false };
    this.w1 = this.registerModule('w1', new Linear(dim, hidden, o));
    this.w2 = this.registerModule('w2', new Linear(hidden, dim, o));
    this.w3 = this.registerModule('w3', new Linear(dim, hidden, o));
  }

  forward(x: Tensor): Tensor {
    return this.w2.forward(mul(silu(this.w1.forward(x)), this.w3.forward(x)));
  }
}

interface HcParams {
  fn: Tensor;
  base: Tensor;
  scale: Tensor;
}

/** A V4 block: attention and FFN sublayers, each between hcPre and hcPost. */
export class V4Block extends Module {
  attn: V4Attention;
  ffn: V4Expert;
  attnNorm: RMSNorm;
  ffnNorm: RMSNorm;
  hcAttnFn: Tensor;
  hcFfnFn: Tensor;
  hcAttnBase: Tensor;
  hcFfnBase: Tensor;
  hcAttnScale: Tensor;
  hcFfnScale: Tensor;

  constructor(
    readonly layerId: number,
    readonly hcConfig: V4HcConfig,
    dim: number,
    heads: number,
    hidden: number,
    options: { backend?: string | Backend; rng?: Random } = {},
  ) {
    super();
    const n = hcConfig.hc;
    const m = (2 + n) * n;
    const p = { dtype: 'f32' as const, backend: options.backend };
    this.attn = this.registerModule('attn', new V4Attention(dim, heads, options));
    this.ffn = this.registerModule('ffn', new V4Expert(dim, hidden, options));
    this.attnNorm = this.registerModule('attnNorm', new RMSNorm(dim, hcConfig.normEps, options));
    this.ffnNorm = this.registerModule('ffnNorm', new RMSNorm(dim, hcConfig.normEps, options));
    // V4's initialisation is not public; these start the model near an identity-like mixing.
    const fn = () => randn([m, n * dim], { ...p, std: 0.02, rng: options.rng });
    const base = () => tensor(new Array<number>(m).fill(0), [m], p);
    const sc = () => tensor([1, 1, 1], [3], p);
    this.hcAttnFn = this.registerParameter('hcAttnFn', fn());
    this.hcFfnFn = this.registerParameter('hcFfnFn', fn());
    this.hcAttnBase = this.registerParameter('hcAttnBase', base());
    this.hcFfnBase = this.registerParameter('hcFfnBase', base());
    this.hcAttnScale = this.registerParameter('hcAttnScale', sc());
    this.hcFfnScale = this.registerParameter('hcFfnScale', sc());
  }

  /** V4's hc_pre (unfused; an instance may carry a patched one). */
  hcPre(x: Tensor, fn: Tensor, scale: Tensor, base: Tensor): V4HcPreResult {
    return v4HcPre(x, fn, scale, base, this.hcConfig);
  }

  /** V4's hc_post (unfused; an instance may carry a patched one). */
  hcPost(f: Tensor, residual: Tensor, post: Tensor, comb: Tensor): Tensor {
    return v4HcPost(f, residual, post, comb);
  }

  /** The parameters of the attention ('attn') or FFN ('ffn') hyper-connection. */
  hcParams(part: 'attn' | 'ffn'): HcParams {
    return part === 'attn'
      ? { fn: this.hcAttnFn, base: this.hcAttnBase, scale: this.hcAttnScale }
      : { fn: this.hcFfnFn, base: this.hcFfnBase, scale: this.hcFfnScale };
  }

  /** x [B, T, hc, dim] -> [B, T, hc, dim] */
  forward(x: Tensor): Tensor {
    let residual = x;
    let pre = this.hcPre(x, this.hcAttnFn, this.hcAttnScale, this.hcAttnBase);
    let h = this.hcPost(this.attn.forward(this.attnNorm.forward(pre.y)), residual, pre.post, pre.comb);
    residual = h;
    pre = this.hcPre(h, this.hcFfnFn, this.hcFfnScale, this.hcFfnBase);
    h = this.hcPost(this.ffn.forward(this.ffnNorm.forward(pre.y)), residual, pre.post, pre.comb);
    return h;
  }
}

/** The resolved hyper-connection settings and sizes of a TinyDeepseekV4. */
export function resolveTinyV4Config(
  config: TinyDeepseekV4Config,
): Required<Omit<TinyDeepseekV4Config, 'backend' | 'rng'>> {
  const { vocab, dim, heads, layers, hc } = config;
  for (const [k, v] of Object.entries({ vocab, dim, heads, layers, hc }))
    if (!Number.isInteger(v) || v < 1) throw new ArgumentError(k, `expected an integer >= 1, got ${v}`);
  const r = {
    vocab,
    dim,
    heads,
    layers,
    hc,
    ffnHidden: config.ffnHidden ?? 2 * dim,
    normEps: config.normEps ?? 1e-6,
    hcEps: config.hcEps ?? 1e-6,
    sinkhornIters: config.sinkhornIters ?? 20,
    activationDtype: config.activationDtype ?? 'f32',
  };
  if (!Number.isInteger(r.ffnHidden) || r.ffnHidden < 1)
    throw new ArgumentError('ffnHidden', `expected an integer >= 1, got ${r.ffnHidden}`);
  if (!Number.isInteger(r.sinkhornIters) || r.sinkhornIters < 1)
    throw new ArgumentError('sinkhornIters', `expected an integer >= 1, got ${r.sinkhornIters}`);
  for (const k of ['normEps', 'hcEps'] as const)
    if (!(Number.isFinite(r[k]) && r[k] >= 0))
      throw new ArgumentError(k, `expected a finite number >= 0, got ${r[k]}`);
  return r;
}

export class TinyDeepseekV4 extends Module {
  readonly config: ReturnType<typeof resolveTinyV4Config>;
  readonly hcConfig: V4HcConfig;
  embed: Embedding;
  layers: ModuleList;
  norm: RMSNorm;
  head: Linear;
  hcHeadFn: Tensor;
  hcHeadBase: Tensor;
  hcHeadScale: Tensor;

  constructor(config: TinyDeepseekV4Config) {
    super();
    const c = resolveTinyV4Config(config);
    this.config = c;
    this.hcConfig = { hc: c.hc, normEps: c.normEps, hcEps: c.hcEps, sinkhornIters: c.sinkhornIters };
    const o = { backend: config.backend, rng: config.rng };
    this.embed = this.registerModule('embed', new Embedding(c.vocab, c.dim, o));
    this.layers = this.registerModule('layers', new ModuleList());
    for (let i = 0; i < c.layers; i++)
      this.layers.push(new V4Block(i, this.hcConfig, c.dim, c.heads, c.ffnHidden, o));
    this.norm = this.registerModule('norm', new RMSNorm(c.dim, c.normEps, o));
    this.head = this.registerModule('head', new Linear(c.dim, c.vocab, { ...o, bias: false }));
    const p = { dtype: 'f32' as const, backend: config.backend };
    this.hcHeadFn = this.registerParameter(
      'hcHeadFn',
      randn([c.hc, c.hc * c.dim], { ...p, std: 0.02, rng: config.rng }),
    );
    this.hcHeadBase = this.registerParameter(
      'hcHeadBase',
      tensor(new Array<number>(c.hc).fill(0), [c.hc], p),
    );
    this.hcHeadScale = this.registerParameter('hcHeadScale', tensor([1], [1], p));
  }

  get blocks(): V4Block[] {
    return this.layers.items as V4Block[];
  }

  /** The embedding repeated into the streams (an instance may carry a patched one). */
  hcExpand(h: Tensor): Tensor {
    return v4Expand(h, this.config.hc);
  }

  /** V4's hc_head (unfused; an instance may carry a patched one). */
  hcHead(x: Tensor, fn: Tensor, scale: Tensor, base: Tensor): Tensor {
    return v4HcHead(x, fn, scale, base, this.hcConfig);
  }

  /**
   * The blocks in sequence, [B, T, hc, dim] -> [B, T, hc, dim] (unfused; an instance may carry a
   * patched one, e.g. with fused boundaries between consecutive sublayers).
   */
  forwardBlocks(h: Tensor): Tensor {
    // Read the blocks at call time, so patched instances take effect.
    for (const block of this.blocks) h = block.forward(h);
    return h;
  }

  /** ids i32 [B, T] -> logits [B, T, vocab] (f32). */
  forward(ids: Tensor): Tensor {
    if (ids.rank !== 2) throw new ShapeError('ids', '[batch, seq]', ids.shape);
    const act = this.config.activationDtype;
    let h = this.embed.forward(ids);
    if (h.dtype !== act) h = cast(h, act);
    h = this.hcExpand(h);
    h = this.forwardBlocks(h);
    h = this.hcHead(h, this.hcHeadFn, this.hcHeadScale, this.hcHeadBase);
    const logits = this.head.forward(this.norm.forward(h));
    return logits.dtype === 'f32' ? logits : cast(logits, 'f32');
  }

  /** Continue token ids by sampling (see generate()). */
  generate(prompt: readonly number[], options: GenerateOptions): Promise<number[]> {
    return generate(this, prompt, options);
  }

  /** Mean cross-entropy of the logits against labels [B, T]. */
  loss(ids: Tensor, labels: Tensor): { loss: Tensor; logits: Tensor } {
    const logits = this.forward(ids);
    return { loss: crossEntropy(logits.reshape([-1, this.config.vocab]), labels.reshape([-1])), logits };
  }
}
