#!/usr/bin/env node
import { bool, num, parseArgs, str, UsageError } from './args.js';
import { runConformanceCommand } from './conformance-cmd.js';
import { TRAIN_DEFAULTS, trainMiniLm } from './train.js';

const USAGE = `liger-mhc <command> [options]

commands:
  train         train the mini mHC LM on the embedded corpus (pnpm start)
                --backend cpu|webgpu|cuda  --steps N  --batch N  --seq N  --hc N  --c N  --layers N
                --lr X  --dtype f32|bf16|f16  --seed N  --out DIR (default runs/mini-lm)
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
