import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  AdamW,
  type Backend,
  CHECKPOINT_METADATA_KEY,
  loadCheckpoint,
  type Module,
  noGrad,
  Random,
  type RandomState,
  readSafetensorsFile,
  saveCheckpoint as saveTrainingCheckpoint,
  type Tensor,
  tensor,
  tidy,
  writeFileAtomic,
} from '@liger-mhc/core';
import { generate, saveCheckpoint } from '@liger-mhc/models';
import { CliError } from './cli-error.js';
import { type CharCorpus, sampleBatch } from './corpus.js';
import { prepareOutDir } from './out-dir.js';
import { Progress } from './progress.js';
import { lineChartSvg } from './svg-plot.js';
import { CHECKPOINT_FILE } from './train-defaults.js';

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
  /** Continue the run whose checkpoint is in this directory (see CHECKPOINT_FILE). */
  resume?: string;
  /** Steps between checkpoints (0: only at the end). */
  checkpointEvery?: number;
  quiet?: boolean;
}

/*
 * CHECKPOINT_FILE in a run's output directory holds the weights, the AdamW state, and the loop's
 * own state (step, random generator, which sets the data position, and the losses so far), in one
 * file written atomically, so a run killed at any point resumes from the last one it completed.
 */

/** Options that may differ between a run and its resumption: none of them changes the training. */
const RESUME_FREE = new Set([
  'steps',
  'out',
  'resume',
  'checkpointEvery',
  'evalEvery',
  'sampleLength',
  'quiet',
  'backend',
]);

/** The loop's state saved in a checkpoint. */
interface LoopState {
  step: number;
  rng: RandomState;
  losses: [number, number][];
  validLosses: [number, number][];
  tokens: number;
  /** The model kind and the options that shape the training (must match on resume). */
  run: Record<string, unknown>;
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
  // Relative paths are the caller's (pnpm runs scripts from the workspace root).
  const cwd = process.env.INIT_CWD ?? process.cwd();
  // Everything that can be found wrong without training is checked first: a long run must not end
  // in an error that was visible at its start.
  const resumePath = opts.resume === undefined ? null : resolve(cwd, opts.resume, CHECKPOINT_FILE);
  if (resumePath !== null && !(await isFile(resumePath)))
    throw new CliError(`--resume: cannot resume from ${resumePath}: no such file`);
  const outDir = await prepareOutDir('--out', resolve(cwd, opts.out));
  checkCorpusFits(corpus, opts);
  const optim = new AdamW(model.parameters(), { lr: opts.lr, weightDecay: 0.01 });
  const run = runFingerprint(spec.record);
  let losses: [number, number][] = [];
  let validLosses: [number, number][] = [];
  let tokens = 0;
  let first = 1;
  if (resumePath !== null) {
    const s = await resumeFrom(resumePath, model, optim, rng, run);
    if (s.step > opts.steps)
      throw new CliError(`--steps ${opts.steps}: the checkpoint is already at step ${s.step}`);
    // A run that ended at its last step evaluated there too; off the schedule, that point is not
    // part of the longer run this one becomes.
    const last = s.validLosses.at(-1);
    if (s.step < opts.steps && last?.[0] === s.step && s.step !== 1 && s.step % opts.evalEvery !== 0)
      s.validLosses.pop();
    ({ losses, validLosses, tokens } = s);
    first = s.step + 1;
  }
  const log = opts.quiet ? () => {} : (s: string) => process.stdout.write(`${s}\n`);
  log(spec.header);
  log(
    `corpus: ${corpus.train.length} training / ${corpus.valid.length} held-out characters; batch ${opts.batch}×${opts.seq}`,
  );
  if (first > 1) log(`resumed at step ${first - 1} from ${join(opts.resume!, CHECKPOINT_FILE)}`);
  const checkpoint = async (step: number) =>
    saveTrainingCheckpoint(join(outDir, CHECKPOINT_FILE), {
      model,
      optimizer: optim,
      state: { step, rng: rng.getState(), losses, validLosses, tokens, run } satisfies LoopState,
    });

  const progress = opts.quiet ? null : new Progress(opts.steps);
  const t0 = performance.now();
  const tokens0 = tokens;
  for (let step = first; step <= opts.steps; step++) {
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
      'tok/s': Math.round((tokens - tokens0) / secs).toString(),
      valid: validLosses[validLosses.length - 1]![1].toFixed(3),
    });
    const every = opts.checkpointEvery ?? 0;
    if (every > 0 && step % every === 0 && step !== opts.steps) await checkpoint(step);
  }
  await checkpoint(opts.steps);
  const seconds = (performance.now() - t0) / 1000;
  const sample = await sampleText(
    model,
    corpus,
    SAMPLE_PROMPT,
    opts.sampleLength,
    opts.seed + 1,
    spec.context,
  );

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

  const firstLoss = mean(losses.slice(0, 10));
  const last = mean(losses.slice(-10));
  const v0 = validLosses[0]![1];
  const v1 = validLosses[validLosses.length - 1]![1];
  log(`\nsample:\n${sample}\n`);
  log(
    `loss ${firstLoss.toFixed(3)} -> ${last.toFixed(3)} (mean of first/last 10 steps), held-out ${v0.toFixed(3)} -> ${v1.toFixed(3)}, in ${seconds.toFixed(1)} s, ${Math.round((tokens - tokens0) / seconds)} tokens/s`,
  );
  log(`wrote ${join(opts.out, 'loss.svg')}, loss.json, sample.txt, model.safetensors, ${CHECKPOINT_FILE}`);
  optim.dispose();
  model.dispose();
  return {
    backend: be.name,
    losses,
    validLosses,
    firstLoss,
    finalLoss: last,
    tokensPerSecond: (tokens - tokens0) / seconds,
    seconds,
    sample,
    outDir,
  };
}

/** The model kind and the options that shape the training, as JSON data. */
function runFingerprint(record: Record<string, unknown>): Record<string, unknown> {
  const { options, ...rest } = record as { options?: Record<string, unknown> };
  const kept: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options ?? {})) if (!RESUME_FREE.has(k) && v !== undefined) kept[k] = v;
  return JSON.parse(JSON.stringify({ ...rest, options: kept }));
}

/**
 * Restore the weights, the optimizer and the loop's state from a checkpoint. The run's options must
 * match the checkpoint's (only the number of steps, the output and the reporting may change), so
 * the continuation is exactly the run that was interrupted.
 */
async function resumeFrom(
  path: string,
  model: Module,
  optim: AdamW,
  rng: Random,
  run: Record<string, unknown>,
): Promise<LoopState> {
  const fail = (why: string) => new CliError(`--resume: cannot resume from ${path}: ${why}`);
  const firstLine = (err: unknown) => {
    const e = err as NodeJS.ErrnoException;
    return e.code === 'ENOENT' ? 'no such file' : (e.message ?? String(err)).split('\n')[0]!;
  };
  // The run's options are compared before any weight is loaded, so a mismatch is reported as the
  // flag that differs rather than as a tensor of the wrong shape.
  let s: Partial<LoopState> | null;
  try {
    const file = await readSafetensorsFile(path, { requireChecksum: true });
    const record = JSON.parse(file.metadata[CHECKPOINT_METADATA_KEY] ?? 'null') as { state?: unknown } | null;
    s = (record?.state ?? null) as Partial<LoopState> | null;
  } catch (err) {
    throw fail(firstLine(err));
  }
  if (
    s === null ||
    typeof s !== 'object' ||
    !Number.isSafeInteger(s.step) ||
    !Array.isArray(s.losses) ||
    !Array.isArray(s.validLosses) ||
    typeof s.tokens !== 'number' ||
    s.run === null ||
    typeof s.run !== 'object' ||
    s.rng === undefined
  )
    throw fail("not a checkpoint of 'liger-mhc train'");
  const have = s.run as { model?: unknown; options?: Record<string, unknown> };
  const want = run as { model?: unknown; options: Record<string, unknown> };
  if (have.model !== want.model)
    throw fail(`it is a ${String(have.model)} run, this one is --model ${String(want.model)}`);
  for (const key of new Set([...Object.keys(have.options ?? {}), ...Object.keys(want.options)])) {
    const a = have.options?.[key];
    const b = want.options[key];
    if (JSON.stringify(a) !== JSON.stringify(b))
      throw fail(
        `it was trained with --${flagName(key)} ${a === undefined ? '(unset)' : String(a)}, this run has ${b === undefined ? '(unset)' : String(b)}`,
      );
  }
  try {
    await loadCheckpoint(path, { model, optimizer: optim });
  } catch (err) {
    throw fail(firstLine(err));
  }
  rng.setState(s.rng);
  return s as LoopState;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** evalEvery → eval-every. */
function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/**
 * A window and its next-token labels take seq + 1 characters and sampleBatch draws its start from
 * at least one position; a held-out text shorter than that would be evaluated on zero padding.
 */
function checkCorpusFits(corpus: CharCorpus, opts: LoopOptions): void {
  for (const [part, ids] of [
    ['training', corpus.train],
    ['held-out', corpus.valid],
  ] as const)
    if (opts.seq + 2 > ids.length)
      throw new CliError(
        `--seq ${opts.seq}: too long for the ${part} text of ${ids.length} characters (at most ${ids.length - 2})`,
      );
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
