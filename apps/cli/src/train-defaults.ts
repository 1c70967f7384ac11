import type { TrainOptions } from './train.js';
import type { TrainGptOptions } from './train-gpt.js';

/** The training checkpoint in a run's output directory (see train-loop.ts). */
export const CHECKPOINT_FILE = 'checkpoint.safetensors';

// The defaults live apart from the training code so that the CLI's flag table (and --help) reads
// them without loading the models.

export const TRAIN_DEFAULTS: TrainOptions = {
  steps: 300,
  batch: 32,
  seq: 64,
  hc: 4,
  c: 32,
  layers: 2,
  lr: 1e-2,
  seed: 1234,
  tmax: 20,
  dtype: 'f32',
  evalEvery: 50,
  sampleLength: 240,
  out: 'runs/mini-lm',
};

// Sized so that on a 2-core CPU the loss falls clearly in under two minutes (≈0.45 s a step).
export const GPT_DEFAULTS: TrainGptOptions = {
  steps: 200,
  batch: 16,
  seq: 64,
  dim: 64,
  heads: 4,
  layers: 2,
  hc: 4,
  residual: 'mhc',
  activation: 'gelu',
  lr: 6e-3,
  seed: 1234,
  tmax: 20,
  dtype: 'f32',
  evalEvery: 25,
  sampleLength: 200,
  out: 'runs/gpt',
};
