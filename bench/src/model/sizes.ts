import type { FloatDType } from '@liger-mhc/core';

/** A model size of the benchmark: the GPT's shape, the batch, the activation dtype and AdamW's lr. */
export interface GptSize {
  name: string;
  layers: number;
  dim: number;
  heads: number;
  mlpHidden: number;
  hc: number;
  batch: number;
  seq: number;
  dtype: FloatDType;
  lr: number;
}

export const GPT_SIZES: Readonly<Record<string, GptSize>> = {
  // Small enough that all four training runs (ours and PyTorch, mHC and plain) finish in about a
  // minute on two CPU cores.
  cpu: {
    name: 'cpu',
    layers: 2,
    dim: 64,
    heads: 4,
    mlpHidden: 256,
    hc: 4,
    batch: 8,
    seq: 64,
    dtype: 'f32',
    lr: 6e-3,
  },
  // GPT-2 small's body (12 layers, d 768, 12 heads, context 1024) at 8 × 1024 = 8192 tokens a step in
  // bf16; the vocabulary is the corpus's characters, not GPT-2's 50k BPE tokens.
  gpt2: {
    name: 'gpt2',
    layers: 12,
    dim: 768,
    heads: 12,
    mlpHidden: 3072,
    hc: 4,
    batch: 8,
    seq: 1024,
    dtype: 'bf16',
    lr: 6e-4,
  },
};

/** The size as it appears in the results table's shape column. */
export function shapeLabel(s: GptSize): string {
  return `L${s.layers}-d${s.dim}-h${s.heads}-T${s.seq}-B${s.batch}-hc${s.hc}-${s.dtype}`;
}
