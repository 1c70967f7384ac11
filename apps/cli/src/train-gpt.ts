import { type FloatDType, Random } from '@liger-mhc/core';
import { GPT, type MlpActivation } from '@liger-mhc/models';
import { chooseBackend } from './backends.js';
import { loadCorpus } from './corpus.js';
import { type LoopOptions, runTraining, type TrainResult } from './train-loop.js';

/** `liger-mhc train --model gpt`: the small GPT of @liger-mhc/models on the embedded corpus. */
export interface TrainGptOptions extends LoopOptions {
  backend?: string;
  dim: number;
  heads: number;
  layers: number;
  /** Residual streams; with residual 'plain' this is ignored (one stream, no mHC). */
  hc: number;
  residual: 'mhc' | 'plain';
  activation: MlpActivation;
  tmax: number;
  dtype: FloatDType;
}

export { GPT_DEFAULTS } from './train-defaults.js';

/** Train the small GPT (mHC or plain residual) on the embedded corpus. */
export async function trainGpt(opts: TrainGptOptions): Promise<TrainResult> {
  const be = await chooseBackend(opts.backend);
  const corpus = await loadCorpus();
  const rng = new Random(opts.seed);
  const plain = opts.residual === 'plain';
  const model = new GPT({
    vocab: corpus.vocab.length,
    dim: opts.dim,
    heads: opts.heads,
    layers: opts.layers,
    hc: plain ? 1 : opts.hc,
    residual: opts.residual,
    maxSeq: opts.seq,
    activation: opts.activation,
    tmax: opts.tmax,
    activationDtype: opts.dtype,
    allowFp32: true,
    backend: be,
    rng,
  });
  const nParams = model.parameters().reduce((n, p) => n + p.size, 0);
  const kind = plain ? 'plain residual' : `mHC, hc ${opts.hc}`;
  return runTraining(model, be, corpus, rng, opts, {
    header: `training GPT (${kind}) on '${be.name}' (${be.capabilities.device}): vocab ${corpus.vocab.length}, dim ${opts.dim}, heads ${opts.heads}, layers ${opts.layers}, ${opts.activation}, ${nParams} parameters, ${opts.dtype} activations`,
    title: `GPT (${kind}) on ${be.name}: loss`,
    record: { model: 'gpt', options: opts },
    context: opts.seq,
  });
}
