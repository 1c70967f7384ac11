import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  AdamW,
  type Backend,
  type FloatDType,
  noGrad,
  Random,
  saveStateDict,
  tensor,
  tidy,
} from '@liger-mhc/core';
import { GPT, type MlpActivation } from '@liger-mhc/models';
import { chooseBackend } from './backends.js';
import { type CharCorpus, loadCorpus, sampleBatch } from './corpus.js';
import { Progress } from './progress.js';
import { lineChartSvg } from './svg-plot.js';
import { generate } from './train.js';

/** `liger-mhc train --model gpt`: the small GPT of @liger-mhc/models on the embedded corpus. */
export interface TrainGptOptions {
  backend?: string;
  steps: number;
  batch: number;
  seq: number;
  dim: number;
  heads: number;
  layers: number;
  /** Residual streams; with residual 'plain' this is ignored (one stream, no mHC). */
  hc: number;
  residual: 'mhc' | 'plain';
  activation: MlpActivation;
  lr: number;
  seed: number;
  tmax: number;
  dtype: FloatDType;
  evalEvery: number;
  sampleLength: number;
  out: string;
  quiet?: boolean;
}

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

export interface TrainGptResult {
  backend: string;
  losses: [number, number][];
  validLosses: [number, number][];
  firstLoss: number;
  finalLoss: number;
  seconds: number;
  sample: string;
}

export async function trainGpt(opts: TrainGptOptions): Promise<TrainGptResult> {
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
  const optim = new AdamW(model.parameters(), { lr: opts.lr, weightDecay: 0.01 });
  const log = opts.quiet ? () => {} : (s: string) => process.stdout.write(`${s}\n`);
  const nParams = model.parameters().reduce((n, p) => n + p.size, 0);
  const kind = plain ? 'plain residual' : `mHC, hc ${opts.hc}`;
  log(
    `training GPT (${kind}) on '${be.name}' (${be.capabilities.device}): vocab ${corpus.vocab.length}, dim ${opts.dim}, heads ${opts.heads}, layers ${opts.layers}, ${opts.activation}, ${nParams} parameters, ${opts.dtype} activations`,
  );
  log(
    `corpus: ${corpus.train.length} training / ${corpus.valid.length} held-out characters; batch ${opts.batch}×${opts.seq}`,
  );

  const progress = opts.quiet ? null : new Progress(opts.steps);
  const losses: [number, number][] = [];
  const validLosses: [number, number][] = [];
  const t0 = performance.now();
  let tokens = 0;
  for (let step = 1; step <= opts.steps; step++) {
    const { x, y } = sampleBatch(corpus.train, opts.batch, opts.seq, rng);
    const loss = tidy(() => {
      const ids = tensor(x, [opts.batch, opts.seq], { dtype: 'i32', backend: be });
      const labels = tensor(y, [opts.batch, opts.seq], { dtype: 'i32', backend: be });
      const out = model.loss(ids, labels);
      out.loss.backward();
      optim.step();
      optim.zeroGrad();
      return out.loss;
    });
    const v = await loss.item();
    loss.dispose();
    if (!Number.isFinite(v)) throw new Error(`loss became ${v} at step ${step}`);
    tokens += opts.batch * opts.seq;
    losses.push([step, v]);
    if (step === 1 || step % opts.evalEvery === 0 || step === opts.steps)
      validLosses.push([step, await evaluate(model, corpus, opts, be)]);
    const secs = (performance.now() - t0) / 1000;
    progress?.update(step, {
      loss: v.toFixed(3),
      'tok/s': Math.round(tokens / secs).toString(),
      valid: validLosses[validLosses.length - 1]![1].toFixed(3),
    });
  }
  const seconds = (performance.now() - t0) / 1000;
  const sample = await generate(
    model,
    corpus,
    'Fellow-Citizens of the Senate',
    opts.sampleLength,
    new Random(opts.seed + 1),
    be,
    opts.seq,
  );
  const outDir = resolve(process.env.INIT_CWD ?? process.cwd(), opts.out);
  await mkdir(outDir, { recursive: true });
  const smooth = (pts: [number, number][], k = 10) =>
    pts.map(([s], i) => {
      const w = pts.slice(Math.max(0, i - k + 1), i + 1);
      return [s, w.reduce((a, p) => a + p[1], 0) / w.length] as [number, number];
    });
  await writeFile(
    join(outDir, 'loss.svg'),
    lineChartSvg(`GPT (${kind}) on ${be.name}: loss`, [
      { name: 'train (10-step mean)', color: '#1f77b4', points: smooth(losses) },
      { name: 'held-out', color: '#d62728', points: validLosses },
    ]),
  );
  await writeFile(
    join(outDir, 'loss.json'),
    JSON.stringify({ backend: be.name, model: 'gpt', options: opts, losses, validLosses }, null, 1),
  );
  await writeFile(join(outDir, 'sample.txt'), `${sample}\n`);
  await saveStateDict(model, join(outDir, 'model.safetensors'));
  const mean = (pts: [number, number][]) => pts.reduce((a, p) => a + p[1], 0) / pts.length;
  const first = mean(losses.slice(0, 10));
  const last = mean(losses.slice(-10));
  const v0 = validLosses[0]![1];
  const v1 = validLosses[validLosses.length - 1]![1];
  log(`\nsample:\n${sample}\n`);
  log(
    `loss ${first.toFixed(3)} -> ${last.toFixed(3)} (mean of first/last 10 steps), held-out ${v0.toFixed(3)} -> ${v1.toFixed(3)}, in ${seconds.toFixed(1)} s, ${Math.round(tokens / seconds)} tokens/s`,
  );
  log(`wrote ${join(opts.out, 'loss.svg')}, loss.json, sample.txt, model.safetensors`);
  optim.dispose();
  model.dispose();
  return { backend: be.name, losses, validLosses, firstLoss: first, finalLoss: last, seconds, sample };
}

async function evaluate(model: GPT, corpus: CharCorpus, opts: TrainGptOptions, be: Backend): Promise<number> {
  const rng = new Random(99);
  const { x, y } = sampleBatch(corpus.valid, opts.batch, opts.seq, rng);
  const loss = noGrad(() =>
    tidy(() => {
      const ids = tensor(x, [opts.batch, opts.seq], { dtype: 'i32', backend: be });
      const labels = tensor(y, [opts.batch, opts.seq], { dtype: 'i32', backend: be });
      return model.loss(ids, labels).loss;
    }),
  );
  const v = await loss.item();
  loss.dispose();
  return v;
}
