#!/usr/bin/env node
import { bool, num, parseArgs, str, UsageError } from './args.js';
import { runConformanceCommand } from './conformance-cmd.js';
import { TRAIN_DEFAULTS, trainMiniLm } from './train.js';
import { GPT_DEFAULTS, trainGpt } from './train-gpt.js';

const USAGE = `liger-mhc <command> [options]

commands:
  train         train a model on the embedded corpus (pnpm start)
                --model mini-lm|gpt (default mini-lm)
                --backend cpu|webgpu|cuda  --steps N  --batch N  --seq N  --hc N  --layers N
                --lr X  --dtype f32|bf16|f16  --seed N  --tmax N
                mini-lm: --c N  --out DIR (default runs/mini-lm)
                gpt:     --dim N  --heads N  --residual mhc|plain  --activation gelu|silu
                         --out DIR (default runs/gpt)
  conformance   run the golden fixtures and property tests on a backend (pnpm conformance)
                --backend NAME  [--fixtures DIR]  [--filter TEXT]  [--no-properties]  [--verbose]
`;

async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  const cmd = args.positional[0] ?? 'train';
  if (bool(args, 'help') || cmd === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (cmd === 'train') {
    const d = TRAIN_DEFAULTS;
    const dtype = str(args, 'dtype', d.dtype);
    if (dtype !== 'f32' && dtype !== 'bf16' && dtype !== 'f16')
      throw new UsageError(`--dtype: expected f32, bf16 or f16, got '${dtype}'`);
    const model = str(args, 'model', 'mini-lm');
    if (model === 'gpt') {
      await trainGptCommand(args, dtype);
      return 0;
    }
    if (model !== 'mini-lm') throw new UsageError(`--model: expected mini-lm or gpt, got '${model}'`);
    await trainMiniLm({
      backend: str(args, 'backend'),
      steps: num(args, 'steps', d.steps, { int: true, min: 1 }),
      batch: num(args, 'batch', d.batch, { int: true, min: 1 }),
      seq: num(args, 'seq', d.seq, { int: true, min: 2 }),
      hc: num(args, 'hc', d.hc, { int: true, min: 1 }),
      c: num(args, 'c', d.c, { int: true, min: 1 }),
      layers: num(args, 'layers', d.layers, { int: true, min: 1 }),
      lr: num(args, 'lr', d.lr, { min: 0 }),
      seed: num(args, 'seed', d.seed, { int: true }),
      tmax: num(args, 'tmax', d.tmax, { int: true, min: 1 }),
      dtype,
      evalEvery: num(args, 'eval-every', d.evalEvery, { int: true, min: 1 }),
      sampleLength: num(args, 'sample-length', d.sampleLength, { int: true, min: 0 }),
      out: str(args, 'out', d.out),
    });
    return 0;
  }
  if (cmd === 'conformance') return runConformanceCommand(args);
  throw new UsageError(`unknown command '${cmd}'\n\n${USAGE}`);
}

async function trainGptCommand(
  args: ReturnType<typeof parseArgs>,
  dtype: 'f32' | 'bf16' | 'f16',
): Promise<void> {
  const d = GPT_DEFAULTS;
  const residual = str(args, 'residual', d.residual);
  if (residual !== 'mhc' && residual !== 'plain')
    throw new UsageError(`--residual: expected mhc or plain, got '${residual}'`);
  const activation = str(args, 'activation', d.activation);
  if (activation !== 'gelu' && activation !== 'silu')
    throw new UsageError(`--activation: expected gelu or silu, got '${activation}'`);
  await trainGpt({
    backend: str(args, 'backend'),
    steps: num(args, 'steps', d.steps, { int: true, min: 1 }),
    batch: num(args, 'batch', d.batch, { int: true, min: 1 }),
    seq: num(args, 'seq', d.seq, { int: true, min: 2 }),
    dim: num(args, 'dim', d.dim, { int: true, min: 1 }),
    heads: num(args, 'heads', d.heads, { int: true, min: 1 }),
    layers: num(args, 'layers', d.layers, { int: true, min: 1 }),
    hc: num(args, 'hc', d.hc, { int: true, min: 1 }),
    residual,
    activation,
    lr: num(args, 'lr', d.lr, { min: 0 }),
    seed: num(args, 'seed', d.seed, { int: true }),
    tmax: num(args, 'tmax', d.tmax, { int: true, min: 1 }),
    dtype,
    evalEvery: num(args, 'eval-every', d.evalEvery, { int: true, min: 1 }),
    sampleLength: num(args, 'sample-length', d.sampleLength, { int: true, min: 0 }),
    out: str(args, 'out', d.out),
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) process.stderr.write(`${err.message}\n`);
    else process.stderr.write(`${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}\n`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  },
);
