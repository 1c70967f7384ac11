import type { Backend } from '../backend/contract.js';
import type { FloatDType } from '../dtype.js';
import { ArgumentError, ShapeError } from '../errors.js';
import { cast, crossEntropy, MHC_OPTION_KEYS, type MhcOptions, pickMhcOptions } from '../ops/index.js';
import type { Tensor } from '../tensor/tensor.js';
import { checkOptionKeys, fmt } from '../util/options.js';
import type { Random } from '../util/random.js';
import { Embedding, Linear } from './layers.js';
import { LigerMHC } from './liger-mhc.js';
import { forwardMhcStack } from './liger-mhc-stack.js';
import { Module } from './module.js';

export interface MiniMhcLMConfig extends MhcOptions {
  vocab: number;
  hc: number;
  c: number;
  layers: number;
  /** dtype the residual streams are computed in (default f32; bf16/f16 for GPUs). */
  activationDtype?: FloatDType;
  /** dtype of φ (default f32). */
  phiDtype?: FloatDType;
  backend?: string | Backend;
  rng?: Random;
}

/**
 * The mini mHC language model of Liger's tests: Embedding(vocab, hc·c) -> layers × LigerMHC(Linear(c, c))
 * -> Linear(hc·c, vocab). Parameter names match the golden miniLm fixtures: `embedding.weight`,
 * `layers.{i}.phi|b|alphaPre|alphaPost|alphaRes`, `layers.{i}.layer.weight`, `head.weight`.
 */
export class MiniMhcLM extends Module {
  readonly config: MiniMhcLMConfig;
  embedding: Embedding;
  blocks: LigerMHC[];
  head: Linear;

  constructor(config: MiniMhcLMConfig) {
    super();
    checkOptionKeys('config', config, [
      ...MHC_OPTION_KEYS,
      ...['vocab', 'hc', 'c', 'layers', 'activationDtype', 'phiDtype', 'backend', 'rng'],
    ]);
    this.config = config;
    const { vocab, hc, c, layers, backend, rng } = config;
    if (!Number.isInteger(vocab) || vocab < 1)
      throw new ArgumentError('config.vocab', `expected an integer >= 1, got ${fmt(vocab)}`);
    if (!Number.isInteger(layers) || layers < 0)
      throw new ArgumentError('config.layers', `expected an integer >= 0, got ${fmt(layers)}`);
    const act = config.activationDtype ?? 'f32';
    this.embedding = this.registerModule('embedding', new Embedding(vocab, hc * c, { backend, rng }));
    const holder = this.registerModule('layers', new ModuleList());
    this.blocks = [];
    for (let i = 0; i < layers; i++) {
      const inner = new Linear(c, c, { bias: false, backend, rng });
      const block = new LigerMHC(inner, {
        ...pickMhcOptions(config),
        hc,
        c,
        allowFp32: act === 'f32' || config.allowFp32,
        phiDtype: config.phiDtype,
        backend,
        rng,
      });
      holder.push(block);
      this.blocks.push(block);
    }
    this.head = this.registerModule('head', new Linear(hc * c, vocab, { bias: false, backend, rng }));
  }

  /** ids i32 [B, T] -> logits [B, T, vocab] (in the activation dtype). */
  forward(ids: Tensor): Tensor {
    if (ids.rank !== 2) throw new ShapeError('ids', '[batch, seq]', ids.shape);
    const [bsz, seq] = ids.shape as [number, number];
    const { hc, c } = this.config;
    const act = this.config.activationDtype ?? 'f32';
    let h = this.embedding.forward(ids);
    if (h.dtype !== act) h = cast(h, act);
    h = h.reshape([bsz, seq, hc, c]);
    h = forwardMhcStack(this.blocks, h);
    return this.head.forward(h.reshape([bsz, seq, hc * c]));
  }

  /** Mean cross-entropy of the next-token logits against labels [B, T]. */
  loss(ids: Tensor, labels: Tensor): { loss: Tensor; logits: Tensor } {
    const logits = this.forward(ids);
    const flat = logits.reshape([-1, this.config.vocab]);
    const f32 = flat.dtype === 'f32' ? flat : cast(flat, 'f32');
    return { loss: crossEntropy(f32, labels.reshape([-1])), logits };
  }
}

/** An ordered container whose children are named 0, 1, 2, ... */
export class ModuleList extends Module {
  private count = 0;
  readonly items: Module[] = [];

  push(m: Module): void {
    this.registerModule(String(this.count++), m);
    this.items.push(m);
  }
}
