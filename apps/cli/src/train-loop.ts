import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  AdamW,
  type Backend,
  type Module,
  noGrad,
  Random,
  type Tensor,
  tensor,
  tidy,
  writeFileAtomic,
} from '@liger-mhc/core';
import { generate, saveCheckpoint } from '@liger-mhc/models';
import { type CharCorpus, sampleBatch } from './corpus.js';
import { Progress } from './progress.js';
import { lineChartSvg } from './svg-plot.js';

/** What the loop needs of a model: next-token logits and a loss over [B, T] ids. */
export interface LanguageModel extends Module {
  forward(ids: Tensor): Tensor;
  loss(ids: Tensor, labels: Tensor): { loss: Tensor; logits: Tensor };
}

/** The options every model's training shares. */
export interface LoopOptions {
  steps: number;
  batch: number;
  seq: number;
  lr: number;
  seed: number;
  evalEvery: number;
  sampleLength: number;
  out: string;
  quiet?: boolean;
}

export interface TrainResult {
  backend: string;
  losses: [number, number][];
  validLosses: [number, number][];
  /** Mean of the first / last 10 training losses. */
  firstLoss: number;
  finalLoss: number;
  tokensPerSecond: number;
  seconds: number;
  sample: string;
  outDir: string;
}

export interface RunSpec {
  /** Printed first: what is trained, where. */
  header: string;
  /** Chart title. */
  title: string;
  /** Extra fields for loss.json (the model kind, its options). */
  record: Record<string, unknown>;
  /** Context length for sampling. */
  context: number;
}

/**
 * AdamW on random windows of the corpus, one read of the loss per step (one GPU sync), held-out
 * loss every evalEvery steps, then a sample, loss.svg, loss.json, sample.txt and model.safetensors
 * in opts.out (relative to where the command was started).
 */
export async function runTraining(
  model: LanguageModel,
  be: Backend,
  corpus: CharCorpus,
  rng: Random,
  opts: LoopOptions,
  spec: RunSpec,
): Promise<TrainResult> {
  const optim = new AdamW(model.parameters(), { lr: opts.lr, weightDecay: 0.01 });
  const log = opts.quiet ? () => {} : (s: string) => process.stdout.write(`${s}\n`);
  log(spec.header);
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
      const out = model.loss(ids(x, opts, be), ids(y, opts, be));
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
  const sample = await sampleText(
    model,
    corpus,
    SAMPLE_PROMPT,
    opts.sampleLength,
    opts.seed + 1,
    spec.context,
  );

  const outDir = resolve(process.env.INIT_CWD ?? process.cwd(), opts.out);
  await mkdir(outDir, { recursive: true });
  const smooth = (pts: [number, number][], k = 10) =>
    pts.map(([s], i) => {
      const w = pts.slice(Math.max(0, i - k + 1), i + 1);
      return [s, mean(w)] as [number, number];
    });
  await writeFileAtomic(
    join(outDir, 'loss.svg'),
    lineChartSvg(spec.title, [
      { name: 'train (10-step mean)', color: '#1f77b4', points: smooth(losses) },
      { name: 'held-out', color: '#d62728', points: validLosses },
    ]),
  );
  await writeFileAtomic(
    join(outDir, 'loss.json'),
    JSON.stringify({ backend: be.name, ...spec.record, losses, validLosses }, null, 1),
  );
  await writeFileAtomic(join(outDir, 'sample.txt'), `${sample}\n`);
  // The vocabulary and config go into the checkpoint, so `liger-mhc generate --weights DIR` needs
  // nothing else.
  await saveCheckpoint(model, join(outDir, 'model.safetensors'), { vocabulary: corpus.vocab });

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

function ids(values: Int32Array, opts: LoopOptions, be: Backend): Tensor {
  return tensor(values, [opts.batch, opts.seq], { dtype: 'i32', backend: be });
}

function mean(pts: [number, number][]): number {
  return pts.reduce((a, p) => a + p[1], 0) / pts.length;
}

/** Loss on a fixed held-out batch (same windows every time, so the curve is comparable). */
async function evaluate(
  model: LanguageModel,
  corpus: CharCorpus,
  opts: LoopOptions,
  be: Backend,
): Promise<number> {
  const { x, y } = sampleBatch(corpus.valid, opts.batch, opts.seq, new Random(99));
  const loss = noGrad(() => tidy(() => model.loss(ids(x, opts, be), ids(y, opts, be)).loss));
  const v = await loss.item();
  loss.dispose();
  return v;
}

/** The prompt of the sample written after training. */
export const SAMPLE_PROMPT = 'Fellow-Citizens of the Senate';

/** Continue a text prompt (temperature 0.8) with the model's generate(). */
export async function sampleText(
  model: Pick<LanguageModel, 'forward' | 'parameters'>,
  corpus: CharCorpus,
  prompt: string,
  length: number,
  seed: number,
  context = 32,
): Promise<string> {
  const ids = await generate(model, Array.from(corpus.encode(prompt)), {
    maxNewTokens: length,
    temperature: 0.8,
    seed,
    context,
  });
  return corpus.decode(ids);
}
