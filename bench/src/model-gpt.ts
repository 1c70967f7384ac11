/**
 * Model-level benchmark: our GPT (mHC around every attention and MLP branch, and the same GPT with a
 * plain residual) against its PyTorch twin (bench/anchors/gpt_twin.py) from the same initial
 * weights, on the same batches, with the same AdamW: tokens/s and peak memory of a training step,
 * the mHC overhead on each side, and the loss curves overlaid (asserted to agree).
 *
 *   pnpm bench:model [--backend cpu|webgpu|cuda] [--size cpu|gpt2] [--threads N] [--steps 200]
 *                    [--warmup 10] [--seed 1234] [--note TEXT] [--no-torch] [--card NAME]
 *                    [--impl ours,torch-eager,torch-compile] [--residual mhc,plain]
 *                    [--recompute-layers N]
 *
 * cpu runs the twin on the CPU with torch.set_num_threads(threads); webgpu and cuda run it on the
 * card (eager, and torch.compile where the installed torch has it). Writes the rows to
 * bench/results/results.csv and model-gpt-<backend>-<size>-<date>.{md,json,svg}. A GPU run names its
 * card with --card (the results table's card column). --impl and --residual pick what runs (all by
 * default; --no-torch is --impl ours), so a GPU plan can split the sides over calls of bounded length;
 * the mHC overhead is reported for each side that ran both residuals. --recompute-layers runs our GPT
 * in recompute groups of N layers (its rows get the path suffix +recomputeN).
 */
import { parseArgs } from 'node:util';
import type { Residual } from './model/ours-train.js';
import { MODEL_IMPLS, type ModelImpl, runModelBench } from './model/run.js';

const { values: opt } = parseArgs({
  options: {
    backend: { type: 'string', default: 'cpu' },
    size: { type: 'string' },
    threads: { type: 'string', default: '1' },
    steps: { type: 'string', default: '200' },
    warmup: { type: 'string', default: '10' },
    seed: { type: 'string', default: '1234' },
    note: { type: 'string', default: '' },
    'no-torch': { type: 'boolean', default: false },
    card: { type: 'string' },
    impl: { type: 'string', default: MODEL_IMPLS.join(',') },
    residual: { type: 'string', default: 'mhc,plain' },
    'recompute-layers': { type: 'string' },
  },
  allowPositionals: false,
});

function usage(message: string): never {
  process.stderr.write(`bench:model: ${message}\n`);
  process.exit(2);
}

function int(name: string, v: string, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) usage(`--${name}: expected an integer >= ${min}, got '${v}'`);
  return n;
}

function list<T extends string>(name: string, v: string, allowed: readonly T[]): T[] {
  const items = v.split(',').map((s) => s.trim());
  const bad = items.filter((s) => !(allowed as readonly string[]).includes(s));
  if (bad.length > 0 || items.length === 0)
    usage(`--${name}: expected a comma-separated list of ${allowed.join(', ')}, got '${v}'`);
  return allowed.filter((a) => items.includes(a));
}

const impls: ModelImpl[] = opt['no-torch'] ? ['ours'] : list('impl', opt.impl!, MODEL_IMPLS);
const residuals: Residual[] = list('residual', opt.residual!, ['mhc', 'plain'] as const);

runModelBench({
  backend: opt.backend!,
  size: opt.size,
  threads: int('threads', opt.threads!, 1),
  steps: int('steps', opt.steps!, 2),
  warmup: int('warmup', opt.warmup!, 0),
  seed: int('seed', opt.seed!, 0),
  note: opt.note!,
  impls,
  residuals,
  recomputeLayers:
    opt['recompute-layers'] === undefined ? undefined : int('recompute-layers', opt['recompute-layers'], 1),
  card: opt.card,
}).then(
  (ok) => {
    if (!ok) process.exitCode = 1;
  },
  (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  },
);
