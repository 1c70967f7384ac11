import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setBackend } from '@liger-mhc/core';
import { overlaySvg } from '../lib/overlay-svg.js';
import { provenance, writeResult } from '../lib/results.js';
import { runCommit } from '../lib/run.js';
import { median } from '../lib/stats.js';
import { appendRows } from './append-rows.js';
import { makeBatches } from './corpus-batches.js';
import { type Agreement, compareLosses, movingMean } from './loss-agreement.js';
import { adamwOptions, buildGpt, initFile, MHC_OPTIONS, type Residual, trainOurs } from './ours-train.js';
import { cardName, type ModelMeasurement, modelRows } from './rows.js';
import { GPT_SIZES, shapeLabel } from './sizes.js';
import { setCpuThreads } from './threads.js';
import { findPython, runTwin, type TwinResult } from './torch-twin.js';

/** What one model benchmark run does (the flags of `pnpm bench:model`). */
export interface ModelBenchOptions {
  backend: string;
  /** A key of GPT_SIZES (default: cpu on the CPU backend, gpt2 on a GPU). */
  size?: string;
  threads: number;
  steps: number;
  warmup: number;
  seed: number;
  note: string;
  /** Which sides run (default all three); a GPU plan splits them over calls of bounded length. */
  impls: readonly ModelImpl[];
  /** Which residuals run (default both; the overhead needs both in one run). */
  residuals: readonly Residual[];
  /** Our GPT keeps only each group's input of this many layers and recomputes it (see GPTConfig). */
  recomputeLayers?: number;
  /** The GPU's name for the card column (required on a GPU backend). */
  card?: string;
}

/**
 * Train our GPT (mHC, plain) and the PyTorch twin of each, write the rows, the JSON record and the
 * loss overlay; returns false when the loss curves disagree.
 */
export const MODEL_IMPLS = ['ours', 'torch-eager', 'torch-compile'] as const;
export type ModelImpl = (typeof MODEL_IMPLS)[number];

export async function runModelBench(o: ModelBenchOptions): Promise<boolean> {
  const backendName = o.backend;
  const size = GPT_SIZES[o.size ?? (backendName === 'cpu' ? 'cpu' : 'gpt2')];
  if (!size) throw new Error(`size: expected one of ${Object.keys(GPT_SIZES).join(', ')}, got '${o.size}'`);
  const { threads, steps, warmup, seed } = o;
  if (warmup >= steps) throw new Error(`warmup ${warmup} must be below steps ${steps}`);
  // setBackend imports the backend's package when it is not registered yet (a GPU bundle links it in).
  const be = await setBackend(backendName);
  cardName(be, '', 0, o.card); // fail before training when a GPU run has no --card
  if (backendName === 'cpu') setCpuThreads(be, threads);
  const device = backendName === 'cpu' ? 'cpu' : 'cuda';
  const torch = o.impls.some((i) => i !== 'ours');
  const python = torch ? findPython() : null;
  if (torch && !python) throw new Error('no python3 with torch (install python3-torch or set PYTHON)');

  const batches = makeBatches(steps + 1, size.batch, size.seq, seed);
  const tokens = size.batch * size.seq;
  const log = (s: string) => process.stdout.write(`${s}\n`);
  log(`GPT ${shapeLabel(size)} on '${be.name}', ${steps} steps (median after ${warmup}), threads ${threads}`);
  const tmp = mkdtempSync(join(tmpdir(), 'liger-mhc-model-'));
  const measured: ModelMeasurement[] = [];
  const agreements: Record<string, Agreement> = {};
  const curves: Record<string, number[]> = {};
  try {
    for (const residual of o.residuals) {
      const model = buildGpt(size, residual, batches.vocab, be, seed, o.recomputeLayers);
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
      let ours: number[] | null = null;
      if (o.impls.includes('ours')) {
        const run = await trainOurs(model, be, batches, size, steps);
        const oursMs = median(run.stepMs.slice(warmup));
        log(
          `  ours ${residual}: ${oursMs.toFixed(1)} ms/step, ${Math.round(tokens / (oursMs / 1000))} tokens/s`,
        );
        measured.push({ impl: 'ours', residual, ms: oursMs, peakBytes: run.peakBytes, threads });
        curves[`ours ${residual}`] = run.losses;
        ours = run.losses;
      }
      model.dispose();
      if (!python) continue;
      for (const impl of ['torch-eager', 'torch-compile'] as const) {
        if (!o.impls.includes(impl)) continue;
        const compile = impl === 'torch-compile';
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
          if (ours) agreements[residual] = compareLosses(ours, twin.losses, size.dtype);
        }
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }

  // A GPU bundle has no .git: its commit.txt sits next to it.
  const prov = { ...provenance(), ...runCommit(dirname(fileURLToPath(import.meta.url))) };
  const day = prov.date.slice(0, 10);
  // A run of part of the sides (a split GPU plan) gets its own files instead of replacing the full run's.
  const whole = o.impls.length === MODEL_IMPLS.length && o.residuals.length === 2;
  const parts: string[] = whole ? [] : [...o.impls, ...o.residuals];
  if (o.recomputeLayers !== undefined) parts.push(`recompute${o.recomputeLayers}`);
  const base = `model-gpt-${backendName}-${size.name}-${day}${parts.map((p) => `-${p}`).join('')}`;
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
  if (Object.keys(curves).length > 0) writeResult(`${base}.svg`, svg);
  const rows = modelRows({
    prov,
    backend: be,
    size,
    measured,
    note: o.note,
    card: o.card,
    recomputeLayers: o.recomputeLayers,
  });
  appendRows(rows);
  writeResult(
    `archive/${backendName}-${day}/${base}.json`,
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
    return false;
  }
  return true;
}
