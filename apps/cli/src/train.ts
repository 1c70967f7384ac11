import { type FloatDType, MiniMhcLM, Random } from '@liger-mhc/core';
import { chooseBackend } from './backends.js';
import { loadCorpus } from './corpus.js';
import { type LoopOptions, runTraining, type TrainResult } from './train-loop.js';

/** `liger-mhc train` (the default model): the mini mHC LM of the golden fixtures. */
export interface TrainOptions extends LoopOptions {
  backend?: string;
  hc: number;
  c: number;
  layers: number;
  tmax: number;
  dtype: FloatDType;
}

export { TRAIN_DEFAULTS } from './train-defaults.js';

export type { TrainResult };

/** Train the mini mHC LM on the embedded corpus; writes the curve, a sample and the weights to opts.out. */
export async function trainMiniLm(opts: TrainOptions): Promise<TrainResult> {
  const be = await chooseBackend(opts.backend);
  const corpus = await loadCorpus();
  const rng = new Random(opts.seed);
  const model = new MiniMhcLM({
    vocab: corpus.vocab.length,
    hc: opts.hc,
    c: opts.c,
    layers: opts.layers,
    tmax: opts.tmax,
    activationDtype: opts.dtype,
    allowFp32: true,
    backend: be,
    rng,
  });
  const nParams = model.parameters().reduce((n, p) => n + p.size, 0);
  return runTraining(model, be, corpus, rng, opts, {
    header: `training mini mHC LM on '${be.name}' (${be.capabilities.device}): vocab ${corpus.vocab.length}, hc ${opts.hc}, c ${opts.c}, layers ${opts.layers}, ${nParams} parameters, ${opts.dtype} activations`,
    title: `mini mHC LM on ${be.name}: loss`,
    record: { model: 'mini-lm', options: opts },
    // The mini LM has no attention: only the last position matters, a short window suffices.
    context: 32,
  });
}
