import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  AdamW,
  type Backend,
  type FloatDType,
  MiniMhcLM,
  noGrad,
  Random,
  saveStateDict,
  type Tensor,
  tensor,
  tidy,
} from '@liger-mhc/core';
import { chooseBackend } from './backends.js';
import { type CharCorpus, loadCorpus, sampleBatch } from './corpus.js';
import { Progress } from './progress.js';
import { lineChartSvg } from './svg-plot.js';

export interface TrainOptions {
  backend?: string;
  steps: number;
  batch: number;
  seq: number;
  hc: number;
  c: number;
  layers: number;
  lr: number;
  seed: number;
  tmax: number;
  dtype: FloatDType;
  evalEvery: number;
  sampleLength: number;
  out: string;
  quiet?: boolean;
}

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

export interface TrainResult {
  backend: string;
  losses: [number, number][];
  validLosses: [number, number][];
  firstLoss: number;
  finalLoss: number;
  tokensPerSecond: number;
  seconds: number;
  sample: string;
  outDir: string;
}

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
  const optim = new AdamW(model.parameters(), { lr: opts.lr, weightDecay: 0.01 });
  const log = opts.quiet ? () => {} : (s: string) => process.stdout.write(`${s}\n`);
  const nParams = model.parameters().reduce((n, p) => n + p.size, 0);
  log(
    `training mini mHC LM on '${be.name}' (${be.capabilities.device}): vocab ${corpus.vocab.length}, hc ${opts.hc}, c ${opts.c}, layers ${opts.layers}, ${nParams} parameters, ${opts.dtype} activations`,
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
    if (step % opts.evalEvery === 0 || step === opts.steps)
      validLosses.push([step, await evaluate(model, corpus, opts, be)]);
    const secs = (performance.now() - t0) / 1000;
    progress?.update(step, {
      loss: v.toFixed(3),
      'tok/s': Math.round(tokens / secs).toString(),
      ...(validLosses.length ? { valid: validLosses[validLosses.length - 1]![1].toFixed(3) } : {}),
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
  );
  const outDir = resolve(process.env.INIT_CWD ?? process.cwd(), opts.out);
  await mkdir(outDir, { recursive: true });
  const smooth = (pts: [number, number][], k = 10) =>
    pts.map(([s], i) => {
      const w = pts.slice(Math.max(0, i - k + 1), i + 1);
      return [s, w.reduce((a, p) => a + p[1], 0) / w.length] as [number, number];
    });
  const svg = lineChartSvg(`mini mHC LM on ${be.name}: loss`, [
    { name: 'train (10-step mean)', color: '#1f77b4', points: smooth(losses) },
    { name: 'held-out', color: '#d62728', points: validLosses },
  ]);
  await writeFile(join(outDir, 'loss.svg'), svg);
  await writeFile(
    join(outDir, 'loss.json'),
    JSON.stringify({ backend: be.name, options: opts, losses, validLosses }, null, 1),
  );
  await writeFile(join(outDir, 'sample.txt'), `${sample}\n`);
  await saveStateDict(model, join(outDir, 'model.safetensors'));
  const first = losses.slice(0, 10).reduce((a, p) => a + p[1], 0) / Math.min(10, losses.length);
  const last = losses.slice(-10).reduce((a, p) => a + p[1], 0) / Math.min(10, losses.length);
  log(`\nsample:\n${sample}\n`);
  log(
    `loss ${first.toFixed(3)} -> ${last.toFixed(3)} (mean of first/last 10 steps) in ${seconds.toFixed(1)} s, ${Math.round(tokens / seconds)} tokens/s`,
  );
  log(`wrote ${join(opts.out, 'loss.svg')}, loss.json, sample.txt, model.safetensors`);
  optim.dispose();
  model.dispose();
  return {
    backend: be.name,
    losses,
    validLosses,
    firstLoss: first,
    finalLoss: last,
    tokensPerSecond: tokens / seconds,
    seconds,
    sample,
    outDir,
  };
}

async function evaluate(
  model: MiniMhcLM,
  corpus: CharCorpus,
  opts: TrainOptions,
  be: Backend,
): Promise<number> {
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

/** What generate() needs of a model: ids [1, T] -> logits [1, T, vocab]. */
export interface LanguageModel {
  forward(ids: Tensor): Tensor;
}

/** Sample characters one at a time (temperature 0.8) from the model's next-token distribution. */
export async function generate(
  model: LanguageModel,
  corpus: CharCorpus,
  prompt: string,
  length: number,
  rng: Random,
  be: Backend,
  context = 32,
): Promise<string> {
  const ids = Array.from(corpus.encode(prompt));
  const vocab = corpus.vocab.length;
  for (let i = 0; i < length; i++) {
    const window = ids.slice(-context);
    const logits = noGrad(() =>
      tidy(() => model.forward(tensor(window, [1, window.length], { dtype: 'i32', backend: be }))),
    );
    const all = await logits.data();
    logits.dispose();
    const row = all.subarray((window.length - 1) * vocab, window.length * vocab);
    let max = Number.NEGATIVE_INFINITY;
    for (const v of row) max = Math.max(max, v);
    const p = Array.from(row, (v) => Math.exp((v - max) / 0.8));
    const total = p.reduce((a, b) => a + b, 0);
    let u = rng.uniform() * total;
    let next = 0;
    while (next < vocab - 1 && u > p[next]!) u -= p[next++]!;
    ids.push(next);
  }
  return corpus.decode(ids);
}
