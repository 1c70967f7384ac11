/**
 * CPU backend vs PyTorch CPU at the same thread count: the mHC layer (identity inner layer,
 * f = xIn) forward and forward+backward, f32, N=2048 hc=4 c=256 by default; then the GPT training
 * step of the model benchmark (model/run.ts) at the same count.
 *
 *   pnpm bench:cpu [--threads N (default: every core)] [--shapes 2048x4x256] [--reps 15]
 *                  [--anchor other_torch_layer.py] [--note TEXT] [--no-model]
 *
 * PyTorch (Debian's python3-torch) runs bench/anchors/mhc_layer.py in the same command with
 * torch.set_num_threads(N), so the ratio compares the two on the same machine at the same moment.
 * Rows go to bench/results/results.csv; the table to cpu-mhc-layer-<date>-t<N>.md and .json.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  availableCores,
  encode,
  fromStorage,
  full,
  mhcCoeffs,
  mhcPostRes,
  mhcPre,
  noGrad,
  Random,
  setBackend,
  type Tensor,
  tidy,
  zeros,
} from '@liger-mhc/core';
import { provenance, writeResult } from '../lib/results.js';
import { medianMs } from '../lib/stats.js';
import { appendRows } from '../model/append-rows.js';
import type { ModelRow } from '../model/rows.js';
import { MODEL_IMPLS, runModelBench } from '../model/run.js';
import { setCpuThreads } from '../model/threads.js';
import { findPython } from '../model/torch-twin.js';

type Mode = 'fwd' | 'fwd+bwd';

interface Row {
  impl: string;
  mode: Mode;
  shape: string;
  ms: number;
}

const { values: opt } = parseArgs({
  options: {
    shapes: { type: 'string', default: '2048x4x256' },
    reps: { type: 'string', default: '15' },
    threads: { type: 'string' },
    anchor: { type: 'string' },
    note: { type: 'string' },
    'no-model': { type: 'boolean', default: false },
  },
});

function randn(shape: number[], rng: Random, std = 1, requiresGrad = false): Tensor {
  const n = shape.reduce((a, d) => a * d, 1);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = std * rng.normal();
  return fromStorage(encode('f32', v), shape, 'f32', { backend: 'cpu', requiresGrad });
}

async function benchOurs(n: number, hc: number, c: number, reps: number): Promise<Row[]> {
  const rng = new Random(0);
  const m = hc * hc + 2 * hc;
  // Same inputs as the anchor: x ~ N(0,1), phi ~ 0.02·N(0,1), b = 0, alphas = 1.
  const x = randn([n, hc, c], rng, 1, true);
  const phi = randn([hc * c, m], rng, 0.02, true);
  const b = zeros([m], { backend: 'cpu', requiresGrad: true });
  const alphas = [0, 1, 2].map(() => full([], 1, { backend: 'cpu', requiresGrad: true }));
  const go = randn([n, hc, c], rng);
  const opts = { allowFp32: true };
  const layer = () => {
    const h = mhcCoeffs(x, phi, b, alphas[0]!, alphas[1]!, alphas[2]!, opts);
    const xIn = mhcPre(x, h.hPre, opts);
    return mhcPostRes(x, xIn, h.hPost, h.hRes, opts);
  };
  const fwd = await medianMs(() => noGrad(() => tidy(() => void layer())), 3, reps);
  const fwdBwd = await medianMs(
    () =>
      tidy(() => {
        for (const t of [x, phi, b, ...alphas]) {
          t.grad?.dispose();
          t.grad = null;
        }
        layer().backward(go);
      }),
    3,
    reps,
  );
  const shape = `${n}x${hc}x${c}`;
  return [
    { impl: 'liger-mhc cpu', mode: 'fwd', shape, ms: fwd },
    { impl: 'liger-mhc cpu', mode: 'fwd+bwd', shape, ms: fwdBwd },
  ];
}

function benchTorch(py: string, script: string, shapes: string, threads: number, reps: number): Row[] {
  const r = spawnSync(
    py,
    [script, '--shapes', shapes, '--threads', String(threads), '--reps', String(reps)],
    {
      env: { ...process.env, OMP_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads) },
      encoding: 'utf8',
    },
  );
  if (r.status !== 0) throw new Error(`PyTorch anchor failed: ${r.stderr || r.error?.message}`);
  return r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map(
      (l) =>
        JSON.parse(l) as {
          impl: string;
          op: string;
          mode: Mode;
          N: number;
          hc: number;
          c: number;
          ms: number;
        },
    )
    .filter((j) => j.op === 'layer')
    .map((j) => ({ impl: 'torch-eager', mode: j.mode, shape: `${j.N}x${j.hc}x${j.c}`, ms: j.ms }));
}

async function main(): Promise<void> {
  const shapes = opt.shapes!;
  const reps = Number(opt.reps);
  const threads = Number(opt.threads ?? availableCores());
  if (!Number.isInteger(threads) || threads < 1)
    throw new Error(`--threads: expected an integer >= 1, got '${opt.threads}'`);
  const be = await setBackend('cpu');
  setCpuThreads(be, threads);
  const rows: Row[] = [];
  for (const s of shapes.split(',')) {
    const [n, hc, c] = s.split('x').map(Number) as [number, number, number];
    rows.push(...(await benchOurs(n, hc, c, reps)));
  }
  const py = findPython();
  const script =
    opt.anchor ?? join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'anchors', 'mhc_layer.py');
  const torchRows = py ? benchTorch(py, script, shapes, threads, reps) : [];
  if (!py) process.stderr.write('no python3 with torch: reporting liger-mhc only\n');
  const p = provenance();
  const card = `CPU ${p.cores}-core ${p.cpu}`;
  const lines = [
    '# CPU mHC layer: liger-mhc CPU backend vs PyTorch CPU',
    '',
    `- date: ${p.date}`,
    `- commit: ${p.commit}${p.dirty ? ' (with uncommitted changes)' : ''}`,
    `- machine: ${p.cpu}, ${p.cores} cores, both sides on ${threads} thread(s), Node ${p.node}`,
    `- f32, identity inner layer, median of ${reps} runs after 3 warm-up runs`,
    '',
    '| impl | mode | N×hc×C | threads | median ms | torch eager ms ÷ this (>1: faster than torch) |',
    '|---|---|---|---|---|---|',
  ];
  const csv: ModelRow[] = [];
  for (const r of [...rows, ...torchRows]) {
    const t = torchRows.find((q) => q.mode === r.mode && q.shape === r.shape);
    const ours = r.impl !== 'torch-eager';
    const ratio = ours && t ? t.ms / r.ms : null;
    lines.push(
      `| ${r.impl} | ${r.mode} | ${r.shape} | ${threads} | ${r.ms.toFixed(2)} | ${ratio ? `${ratio.toFixed(2)}×` : '-'} |`,
    );
    csv.push({
      commit: p.commit + (p.dirty ? '+dirty' : ''),
      date: p.date,
      card,
      backend: ours ? 'cpu' : 'torch-cpu',
      shape: r.shape,
      op: 'layer',
      mode: r.mode,
      path: 'f32',
      threads,
      median_ms: r.ms,
      gbps: '',
      pct_copy: '',
      tokens_per_s: Math.round(Number(r.shape.split('x')[0]) / (r.ms / 1000)),
      peak_bytes: '',
      anchor: ours && t ? 'torch-cpu' : '',
      anchor_ms: ours && t ? t.ms : '',
      note: [
        ratio ? `${ratio.toFixed(2)}x faster than PyTorch eager at ${threads} thread(s)` : '',
        opt.note ?? '',
      ]
        .filter(Boolean)
        .join('; '),
    });
  }
  appendRows(csv);
  const stamp = p.date.slice(0, 10);
  const md = `${lines.join('\n')}\n`;
  writeResult(`archive/cpu-${stamp}/cpu-mhc-layer-${stamp}-t${threads}.md`, md);
  writeResult(
    `archive/cpu-${stamp}/cpu-mhc-layer-${stamp}-t${threads}.json`,
    JSON.stringify({ ...p, threads, reps, rows, torchRows }, null, 1),
  );
  process.stdout.write(md);
  if (!opt['no-model']) {
    const ok = await runModelBench({
      backend: 'cpu',
      threads,
      steps: 200,
      warmup: 10,
      seed: 1234,
      note: opt.note ?? '',
      impls: py !== null ? MODEL_IMPLS : ['ours'],
      residuals: ['mhc', 'plain'],
    });
    if (!ok) process.exitCode = 1;
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
