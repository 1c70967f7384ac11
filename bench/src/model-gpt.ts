/**
 * Model-level benchmark: our GPT (mHC around every attention and MLP branch, and the same GPT with a
 * plain residual) against its PyTorch twin (bench/src/torch/gpt_twin.py) from the same initial
 * weights, on the same batches, with the same AdamW: tokens/s and peak memory of a training step,
 * the mHC overhead on each side, and the loss curves overlaid (asserted to agree).
 *
 *   pnpm bench:model [--backend cpu|webgpu|cuda] [--size cpu|gpt2] [--threads N] [--steps 200]
 *                    [--warmup 10] [--seed 1234] [--note TEXT] [--no-torch]
 *
 * cpu runs the twin on the CPU with torch.set_num_threads(threads); webgpu and cuda run it on the
 * card (eager, and torch.compile where the installed torch has it). Writes the rows to
 * bench/results/results.csv and model-gpt-<backend>-<size>-<date>.{md,json,svg}.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BACKEND_PACKAGES, type Backend, setBackend } from '@liger-mhc/core';
import { overlaySvg } from './lib/overlay-svg.js';
import { provenance, writeResult } from './lib/results.js';
import { median } from './lib/stats.js';
import { appendRows } from './model/append-rows.js';
import { makeBatches } from './model/corpus-batches.js';
import { type Agreement, compareLosses, movingMean } from './model/loss-agreement.js';
import {
  adamwOptions,
  buildGpt,
  initFile,
  MHC_OPTIONS,
  type Residual,
  trainOurs,
} from './model/ours-train.js';
import { type ModelMeasurement, modelRows } from './model/rows.js';
import { GPT_SIZES, shapeLabel } from './model/sizes.js';
import { setCpuThreads } from './model/threads.js';
import { findPython, runTwin, type TwinResult } from './model/torch-twin.js';

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
  },
  allowPositionals: false,
});

function int(name: string, v: string, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min)
    throw new Error(`--${name}: expected an integer >= ${min}, got '${v}'`);
  return n;
}

async function chooseBackend(name: string): Promise<Backend> {
  const pkg = BACKEND_PACKAGES[name];
  if (pkg) await import(pkg);
  return setBackend(name);
}

async function main(): Promise<void> {
  const backendName = opt.backend!;
  const size = GPT_SIZES[opt.size ?? (backendName === 'cpu' ? 'cpu' : 'gpt2')];
  if (!size)
    throw new Error(`--size: expected one of ${Object.keys(GPT_SIZES).join(', ')}, got '${opt.size}'`);
  const threads = int('threads', opt.threads!, 1);
  const steps = int('steps', opt.steps!, 2);
  const warmup = int('warmup', opt.warmup!, 0);
  if (warmup >= steps) throw new Error(`--warmup ${warmup} must be below --steps ${steps}`);
  const seed = int('seed', opt.seed!, 0);
  const be = await chooseBackend(backendName);
  if (backendName === 'cpu') setCpuThreads(be, threads);
  const device = backendName === 'cpu' ? 'cpu' : 'cuda';
  const python = opt['no-torch'] ? null : findPython();
  if (!opt['no-torch'] && !python)
    throw new Error('no python3 with torch (install python3-torch or set PYTHON)');

  const batches = makeBatches(steps + 1, size.batch, size.seq, seed);
  const tokens = size.batch * size.seq;
  const log = (s: string) => process.stdout.write(`${s}\n`);
  log(`GPT ${shapeLabel(size)} on '${be.name}', ${steps} steps (median after ${warmup}), threads ${threads}`);
  const tmp = mkdtempSync(join(tmpdir(), 'liger-mhc-model-'));
  const measured: ModelMeasurement[] = [];
  const agreements: Record<string, Agreement> = {};
  const curves: Record<string, number[]> = {};
  try {
    for (const residual of ['mhc', 'plain'] as Residual[]) {
      const model = buildGpt(size, residual, batches.vocab, be, seed);
      const init = join(tmp, `${residual}.safetensors`);
      const config = join(tmp, `${residual}.json`);
      writeFileSync(init, await initFile(model, batches, size));
      writeFileSync(
        config,
        JSON.stringify({
          vocab: batches.vocab,
          dim: size.dim,
          heads: size.heads,
          layers: size.layers,
          mlpHidden: size.mlpHidden,
          hc: residual === 'plain' ? 1 : size.hc,
          residual,
          maxSeq: size.seq,
          activation: 'gelu',
          dtype: size.dtype,
          mhc: MHC_OPTIONS,
          adamw: adamwOptions(size),
        }),
      );
      const ours = await trainOurs(model, be, batches, size, steps);
      model.dispose();
      const oursMs = median(ours.stepMs.slice(warmup));
      log(
        `  ours ${residual}: ${oursMs.toFixed(1)} ms/step, ${Math.round(tokens / (oursMs / 1000))} tokens/s`,
      );
      measured.push({ impl: 'ours', residual, ms: oursMs, peakBytes: ours.peakBytes, threads });
      curves[`ours ${residual}`] = ours.losses;
      if (!python) continue;
      for (const compile of [false, true]) {
        const impl = compile ? 'torch-compile' : 'torch-eager';
        const twin: TwinResult = runTwin({ python, init, config, device, threads, steps, warmup, compile });
        if (twin.kind === 'unavailable') {
          log(`  ${impl} ${residual}: not available (${twin.reason})`);
          measured.push({ impl, residual, unavailable: twin.reason, threads });
          continue;
        }
        const ms = median(twin.stepMs.slice(warmup));
        log(
          `  ${impl} ${residual}: ${ms.toFixed(1)} ms/step, ${Math.round(tokens / (ms / 1000))} tokens/s (torch ${twin.torch})`,
        );
        measured.push({
          impl,
          residual,
          ms,
          peakBytes: twin.peakBytes,
          threads: twin.threads,
          torch: twin.torch,
        });
        if (!compile) {
          curves[`torch ${residual}`] = twin.losses;
          agreements[residual] = compareLosses(ours.losses, twin.losses, size.dtype);
        }
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }

  const prov = provenance();
  const day = prov.date.slice(0, 10);
  const base = `model-gpt-${backendName}-${size.name}-${day}`;
  const colors: Record<string, string> = { mhc: '#1f77b4', plain: '#d62728' };
  const svg = overlaySvg(
    `GPT ${shapeLabel(size)}: ours (${be.name}) vs PyTorch twin, same init (10-step mean)`,
    Object.entries(curves).map(([name, losses]) => ({
      name,
      color: colors[name.split(' ')[1]!]!,
      dashed: name.startsWith('torch'),
      points: movingMean(losses).map((v, i) => [i + 1, v] as const),
    })),
    'step',
    'training loss',
  );
  writeResult(`${base}.svg`, svg);
  const rows = modelRows({ prov, backend: be, size, measured, note: opt.note! });
  await appendRows(rows);
  writeResult(
    `${base}.json`,
    `${JSON.stringify({ provenance: prov, size, steps, warmup, threads, measured, agreements, curves }, null, 1)}\n`,
  );
  for (const [residual, a] of Object.entries(agreements))
    log(
      `  loss agreement (${residual}): step 1 |Δ| ${a.firstStepDiff.toExponential(2)} (bound ${a.bounds.firstStep}), max |Δ| of 10-step means ${a.maxSmoothedDiff.toFixed(4)} (bound ${a.bounds.smoothed}), mean |Δ| ${a.meanDiff.toFixed(4)}`,
    );
  for (const r of rows) if (r.note) log(`  ${r.backend} ${r.path}: ${r.note}`);
  const bad = Object.entries(agreements).filter(([, a]) => !a.ok);
  if (bad.length > 0) {
    process.stderr.write(
      `loss curves of ours and the PyTorch twin disagree: ${bad.map(([r]) => r).join(', ')}\n`,
    );
    process.exitCode = 1;
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
