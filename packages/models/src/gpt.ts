import {
  ArgumentError,
  add,
  type Backend,
  cast,
  checkOptionKeys,
  crossEntropy,
  Embedding,
  type FloatDType,
  forwardMhcStack,
  LigerMHC,
  Linear,
  MHC_OPTION_KEYS,
  type MhcOptions,
  Module,
  ModuleList,
  pickMhcOptions,
  type Random,
  RMSNorm,
  ShapeError,
  type Tensor,
  type TensorLayer,
  tensor,
} from '@liger-mhc/core';
import { CausalSelfAttention } from './attention.js';
import { type GenerateOptions, generate } from './generate.js';
import { MLP, type MlpActivation } from './mlp.js';
import { ReferenceMHC } from './reference-mhc.js';
import { ExpandStreams, PreNorm, ReduceStreams, Residual } from './streams.js';

/**
 * How each residual branch is connected: 'mhc' wraps it in core's LigerMHC (fused kernels),
 * 'reference-mhc' in ReferenceMHC (LigerMHC on the unfused ops; what `applyLigerMhc` patches), 'plain' is the
 * ordinary x + f(x) residual with no stream axis (hc must be 1; `hyperConnect` upgrades it).
 */
export type ResidualKind = 'mhc' | 'reference-mhc' | 'plain';

export interface GPTConfig extends MhcOptions {
  vocab: number;
  /** Width of the hidden state, and of each residual stream. */
  dim: number;
  heads: number;
  layers: number;
  /** Residual streams (hyper-connection expansion rate). 1 for the plain residual. */
  hc: number;
  residual?: ResidualKind;
  /**
   * Learned absolute positions (default) up to maxSeq tokens, or none: the causal mask alone then
   * carries order information, which is enough for tiny models but learns more slowly.
   */
  positional?: 'learned' | 'none';
  maxSeq?: number;
  mlpHidden?: number;
  activation?: MlpActivation;
  /** dtype the activations are computed in (default f32). */
  activationDtype?: FloatDType;
  phiDtype?: FloatDType;
  /**
   * Recompute groups (the mHC paper's L_r): the layers run in groups of this many, each keeping only
   * its input for the backward and running its forward again there, which trades one more forward
   * for the activations inside the group. Unset: every activation is kept.
   */
  recomputeLayers?: number;
  backend?: string | Backend;
  rng?: Random;
}

/** Every key of GPTConfig: a misspelt one is an error naming it and the nearest valid key. */
const GPT_CONFIG_KEYS = [
  ...MHC_OPTION_KEYS,
  'vocab',
  'dim',
  'heads',
  'layers',
  'hc',
  'residual',
  'positional',
  'maxSeq',
  'mlpHidden',
  'activation',
  'activationDtype',
  'phiDtype',
  'recomputeLayers',
  'backend',
  'rng',
];

/** One transformer block: the attention branch and the MLP branch, each behind its residual wrapper. */
export class GPTBlock extends Module implements TensorLayer {
  constructor(
    public attn: Module & TensorLayer,
    public mlp: Module & TensorLayer,
  ) {
    super();
    this.registerModule('attn', attn);
    this.registerModule('mlp', mlp);
  }

  forward(x: Tensor): Tensor {
    return this.mlp.forward(this.attn.forward(x));
  }

  /** The two residual sublayers in order (what GPT.forward chains across blocks). */
  sublayers(): (Module & TensorLayer)[] {
    return [this.attn, this.mlp];
  }
}

/**
 * A small GPT: token (+ learned position) embedding -> expand to hc streams -> layers × [causal
 * self-attention, MLP], each branch pre-normed (RMSNorm) and wrapped in mHC -> sum the streams ->
 * RMSNorm -> LM head. With residual 'plain' it is the same network with an ordinary residual.
 */
export class GPT extends Module {
  /** How the model was built; after hyperConnect, `streams` (not config.hc) says what it is now. */
  readonly config: GPTConfig;
  tokenEmbedding: Embedding;
  positionEmbedding: Embedding | null;
  expand: ExpandStreams;
  blocks: ModuleList;
  reduce: ReduceStreams;
  norm: RMSNorm;
  head: Linear;

  constructor(config: GPTConfig) {
    super();
    checkOptionKeys('config', config, GPT_CONFIG_KEYS);
    const { vocab, dim, heads, layers, hc, backend, rng } = config;
    const residual = config.residual ?? 'mhc';
    for (const [k, v] of Object.entries({ vocab, dim, heads, layers, hc }))
      if (!Number.isInteger(v) || v < 1) throw new ArgumentError(k, `expected an integer >= 1, got ${v}`);
    const r = config.recomputeLayers;
    if (r !== undefined && (!Number.isInteger(r) || r < 1))
      throw new ArgumentError('recomputeLayers', `expected an integer >= 1, got ${r}`);
    if (residual === 'plain' && hc !== 1)
      throw new ArgumentError('hc', `a plain residual has one stream (hc = 1), got ${hc}`);
    this.config = { ...config, residual, positional: config.positional ?? 'learned' };
    const act = config.activationDtype ?? 'f32';
    const p = { backend, rng };
    this.tokenEmbedding = this.registerModule('tokenEmbedding', new Embedding(vocab, dim, p));
    this.positionEmbedding =
      this.config.positional === 'learned'
        ? this.registerModule('positionEmbedding', new Embedding(config.maxSeq ?? 256, dim, p))
        : null;
    const streams = residual === 'plain' ? null : hc;
    this.expand = this.registerModule('expand', new ExpandStreams(streams));
    this.blocks = this.registerModule('blocks', new ModuleList());
    // The branches compute in the activation dtype from f32 master weights, as the plain residual's
    // do (and as the PyTorch twin's do), not in f32 by Liger's cast to the first parameter's dtype.
    const mhc = {
      ...pickMhcOptions(config),
      hc,
      c: dim,
      phiDtype: config.phiDtype,
      backend,
      rng,
      layerInputDtype: 'streams' as const,
    };
    mhc.allowFp32 = act === 'f32' || config.allowFp32;
    const wrap = (branch: Module & TensorLayer): Module & TensorLayer =>
      residual === 'plain'
        ? new Residual(branch, dim)
        : residual === 'reference-mhc'
          ? new ReferenceMHC(branch, mhc)
          : new LigerMHC(branch, mhc);
    for (let i = 0; i < layers; i++) {
      const attn = new PreNorm(new RMSNorm(dim, 1e-6, p), new CausalSelfAttention(dim, heads, p));
      const mlp = new PreNorm(
        new RMSNorm(dim, 1e-6, p),
        new MLP(dim, { hidden: config.mlpHidden, activation: config.activation, ...p }),
      );
      this.blocks.push(new GPTBlock(wrap(attn), wrap(mlp)));
    }
    this.reduce = this.registerModule('reduce', new ReduceStreams(streams));
    this.norm = this.registerModule('norm', new RMSNorm(dim, 1e-6, p));
    this.head = this.registerModule('head', new Linear(dim, vocab, { ...p, bias: false }));
  }

  /** The longest sequence the model takes (its learned positions), or undefined when unbounded. */
  get maxContext(): number | undefined {
    return this.positionEmbedding?.vocab;
  }

  /** Continue token ids by sampling (see generate()). */
  generate(prompt: readonly number[], options: GenerateOptions): Promise<number[]> {
    return generate(this, prompt, options);
  }

  /** Residual streams now (null: plain residual, no stream axis). */
  get streams(): number | null {
    return this.expand.streams;
  }

  /** ids i32 [B, T] -> logits [B, T, vocab] (in the activation dtype). */
  forward(ids: Tensor): Tensor {
    if (ids.rank !== 2) throw new ShapeError('ids', '[batch, seq]', ids.shape);
    const seq = ids.shape[1]!;
    const act = this.config.activationDtype ?? 'f32';
    let h = this.tokenEmbedding.forward(ids);
    if (this.positionEmbedding) {
      const max = this.positionEmbedding.vocab;
      if (seq > max) throw new ShapeError('ids', `[batch, seq <= ${max}] (maxSeq)`, ids.shape);
      const pos = tensor(
        Array.from({ length: seq }, (_, i) => i),
        [seq],
        { dtype: 'i32', backend: ids.backend },
      );
      const pe = this.positionEmbedding.forward(pos);
      // The gradient node keeps its own view of the ids: this handle can go now.
      pos.dispose();
      h = add(h, pe);
    }
    if (h.dtype !== act) h = cast(h, act);
    h = this.expand.forward(h);
    // Read the children at call time, so modules swapped in by patching take effect. The sublayers
    // run as one sequence so consecutive mHC sublayers share a fused boundary (forwardMhcStack).
    const sublayers = this.blocks
      .children()
      .flatMap(([, block]) =>
        block instanceof GPTBlock ? block.sublayers() : [block as Module & TensorLayer],
      );
    const every = this.config.recomputeLayers;
    // Two sublayers (attention, MLP) per layer; a group's boundaries inside stay fused.
    h = forwardMhcStack(sublayers, h, every === undefined ? {} : { recomputeEvery: 2 * every });
    return this.head.forward(this.norm.forward(this.reduce.forward(h)));
  }

  /** Mean cross-entropy of the logits against labels [B, T] (next tokens). */
  loss(ids: Tensor, labels: Tensor): { loss: Tensor; logits: Tensor } {
    const logits = this.forward(ids);
    const flat = logits.reshape([-1, this.config.vocab]);
    const f32 = flat.dtype === 'f32' ? flat : cast(flat, 'f32');
    return { loss: crossEntropy(f32, labels.reshape([-1])), logits };
  }
}

/** The GPT with an ordinary residual (hc = 1, no mHC): the baseline for comparisons. */
export function plainGPT(config: Omit<GPTConfig, 'hc' | 'residual'>): GPT {
  return new GPT({ ...config, hc: 1, residual: 'plain' });
}
