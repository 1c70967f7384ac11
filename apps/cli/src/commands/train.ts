import { defineCommand, type NumberOption } from '../args.js';
import { backendOption } from '../backend-flag.js';
import { CHECKPOINT_FILE, GPT_DEFAULTS, TRAIN_DEFAULTS } from '../train-defaults.js';

type SharedKey = keyof typeof TRAIN_DEFAULTS & keyof typeof GPT_DEFAULTS;

/** An int flag whose default is the model's: one value where both agree, both in the help otherwise. */
function perModel(key: SharedKey, help: string, min?: number, type: 'int' | 'number' = 'int'): NumberOption {
  const a = TRAIN_DEFAULTS[key];
  const b = GPT_DEFAULTS[key];
  return a === b
    ? { type, help, min, default: a as number }
    : { type, help, min, defaultNote: `mini-lm ${a}, gpt ${b}` };
}

const MODELS = ['mini-lm', 'gpt'] as const;

export const train = defineCommand({
  name: 'train',
  summary: 'train a model on the embedded corpus; writes the loss curve, a sample and the weights',
  description: `mini-lm is the mini mHC LM of the golden fixtures; gpt is the small GPT of
@liger-mhc/models, with an mHC (--residual mhc) or a plain residual.`,
  options: {
    model: { type: 'enum', choices: MODELS, default: 'mini-lm', help: 'which model to train' },
    backend: backendOption,
    steps: perModel('steps', 'optimisation steps', 1),
    batch: perModel('batch', 'sequences per step', 1),
    seq: perModel('seq', 'tokens per sequence', 2),
    layers: perModel('layers', 'layers', 1),
    hc: perModel('hc', 'residual streams (mHC expansion rate)', 1),
    tmax: perModel('tmax', 'Sinkhorn iterations', 1),
    lr: perModel('lr', 'AdamW learning rate', 0, 'number'),
    dtype: {
      type: 'enum',
      choices: ['f32', 'bf16', 'f16'],
      default: TRAIN_DEFAULTS.dtype,
      help: 'activation dtype',
    },
    seed: { type: 'int', default: TRAIN_DEFAULTS.seed, help: 'random seed (weights and batches)' },
    'eval-every': perModel('evalEvery', 'steps between validation losses', 1),
    'sample-length': perModel('sampleLength', 'characters of the text sample written at the end', 0),
    out: {
      type: 'string',
      value: 'DIR',
      help: 'output directory',
      defaultNote: `the --resume directory, else mini-lm ${TRAIN_DEFAULTS.out}, gpt ${GPT_DEFAULTS.out}`,
    },
    resume: {
      type: 'string',
      value: 'DIR',
      help: `continue the run whose ${CHECKPOINT_FILE} is in DIR (give the run's other flags unchanged; --steps may grow)`,
    },
    'checkpoint-every': {
      type: 'int',
      min: 0,
      default: 0,
      help: `steps between checkpoints written to ${CHECKPOINT_FILE} in --out (0: only at the end)`,
    },
    c: {
      type: 'int',
      min: 1,
      default: TRAIN_DEFAULTS.c,
      requires: { model: 'mini-lm' },
      help: 'stream width',
    },
    dim: { type: 'int', min: 1, default: GPT_DEFAULTS.dim, requires: { model: 'gpt' }, help: 'model width' },
    heads: {
      type: 'int',
      min: 1,
      default: GPT_DEFAULTS.heads,
      requires: { model: 'gpt' },
      help: 'attention heads',
    },
    residual: {
      type: 'enum',
      choices: ['mhc', 'plain'],
      default: GPT_DEFAULTS.residual,
      requires: { model: 'gpt' },
      help: 'residual connection',
    },
    activation: {
      type: 'enum',
      choices: ['gelu', 'silu'],
      default: GPT_DEFAULTS.activation,
      requires: { model: 'gpt' },
      help: 'MLP activation',
    },
  },
  examples: [
    'liger-mhc train --steps 100',
    'liger-mhc train --model gpt --backend webgpu --dtype bf16',
    'liger-mhc train --steps 300 --checkpoint-every 50 --out runs/a',
    'liger-mhc train --steps 600 --resume runs/a',
  ],
  async run(v) {
    // Flags left unset take the chosen model's defaults.
    const d = v.model === 'gpt' ? GPT_DEFAULTS : TRAIN_DEFAULTS;
    const common = {
      backend: v.backend,
      steps: v.steps ?? d.steps,
      batch: v.batch ?? d.batch,
      seq: v.seq ?? d.seq,
      layers: v.layers ?? d.layers,
      hc: v.hc ?? d.hc,
      tmax: v.tmax ?? d.tmax,
      lr: v.lr ?? d.lr,
      dtype: v.dtype,
      seed: v.seed,
      evalEvery: v['eval-every'] ?? d.evalEvery,
      sampleLength: v['sample-length'] ?? d.sampleLength,
      out: v.out ?? v.resume ?? d.out,
      resume: v.resume,
      checkpointEvery: v['checkpoint-every'],
    };
    if (v.model === 'gpt') {
      const { trainGpt } = await import('../train-gpt.js');
      await trainGpt({
        ...common,
        dim: v.dim,
        heads: v.heads,
        residual: v.residual,
        activation: v.activation,
      });
    } else {
      const { trainMiniLm } = await import('../train.js');
      await trainMiniLm({ ...common, c: v.c });
    }
    return 0;
  },
});
