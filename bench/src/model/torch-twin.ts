import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunReport } from './ours-train.js';

/** The twin's script in bench/anchors, from src/model or dist/model. */
export function twinScript(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'anchors', 'gpt_twin.py');
}

/** A Python that can import torch: $PYTHON, else python3 on PATH, else the system python3. */
export function findPython(): string | null {
  for (const py of [process.env.PYTHON, 'python3', '/usr/bin/python3']) {
    if (!py) continue;
    if (spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0) return py;
  }
  return null;
}

export interface TwinRun {
  python: string;
  init: string;
  config: string;
  device: 'cpu' | 'cuda';
  threads: number;
  steps: number;
  warmup: number;
  compile: boolean;
}

export type TwinResult =
  | (RunReport & { kind: 'ok'; threads: number; torch: string })
  | { kind: 'unavailable'; reason: string };

interface TwinLine {
  kind: string;
  loss?: number;
  ms?: number;
  peak_bytes?: number;
  threads?: number;
  torch?: string;
  reason?: string;
}

/** Train the PyTorch twin in a child process and collect its per-step losses and times. */
export function runTwin(r: TwinRun): TwinResult {
  const args = [
    twinScript(),
    '--init',
    r.init,
    '--config',
    r.config,
    '--device',
    r.device,
    '--threads',
    String(r.threads),
    '--steps',
    String(r.steps),
    '--warmup',
    String(r.warmup),
  ];
  if (r.compile) args.push('--compile');
  // The thread count is set in the script; these keep OpenMP from starting more threads first.
  const env = { ...process.env, OMP_NUM_THREADS: String(r.threads), MKL_NUM_THREADS: String(r.threads) };
  const p = spawnSync(r.python, args, { env, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (p.status !== 0) throw new Error(`PyTorch twin failed (${p.status}): ${p.stderr || p.error?.message}`);
  const lines = p.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as TwinLine);
  const un = lines.find((l) => l.kind === 'unavailable');
  if (un) return { kind: 'unavailable', reason: un.reason ?? 'unavailable' };
  const summary = lines.find((l) => l.kind === 'summary');
  if (!summary) throw new Error(`PyTorch twin printed no summary: ${p.stderr}`);
  const steps = lines.filter((l) => l.kind === 'loss');
  return {
    kind: 'ok',
    losses: steps.map((l) => l.loss!),
    stepMs: steps.map((l) => l.ms!),
    peakBytes: summary.peak_bytes!,
    threads: summary.threads!,
    torch: summary.torch!,
  };
}
