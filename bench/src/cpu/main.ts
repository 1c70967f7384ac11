/**
 * CPU backend vs PyTorch CPU on the mHC layer (identity inner layer, f = xIn), forward and
 * forward+backward, f32, N=2048 hc=4 c=256 by default, one thread each.
 *
 *   pnpm bench:cpu [--anchor bench/anchors/torch_mhc_bench.py] [--shapes 2048x4x256] [--reps 15]
 *
 * The PyTorch anchor (bench/anchors/torch_mhc_bench.py under Debian's python3-torch by default)
 * runs in the same command with OMP_NUM_THREADS=1, so the ratio compares the two on the same
 * machine at the same moment. Appends the rows to bench/results/results.csv.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  encode,
  fromStorage,
  full,
  mhcCoeffs,
  mhcPostRes,
  mhcPre,
  noGrad,
  Random,
  type Tensor,
  tidy,
  zeros,
} from '@liger-mhc/core';
import { appendResults, cpuCard, provenance, type ResultRow } from '../lib/results.js';
import { medianMs } from '../lib/stats.js';

interface Row {
  impl: string;
  mode: 'fwd' | 'fwd+bwd';
  shape: string;
  ms: number;
}

function arg(name: string, fallback?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

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

/** A Python that can import torch: $PYTHON, else python3 on PATH, else Debian's system python3. */
function findPython(): string | null {
  const candidates = [process.env.PYTHON, 'python3', '/usr/bin/python3'].filter((p): p is string =>
    Boolean(p),
  );
  for (const py of candidates) {
    const r = spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' });
    if (r.status === 0) return py;
  }
  return null;
}

function benchTorch(anchor: string, shapes: string): Row[] {
  const py = findPython();
  if (!py) throw new Error('no python3 with torch found (apt-get install python3-torch, or set PYTHON)');
  const r = spawnSync(py, [anchor, '--device', 'cpu', '--dtype', 'f32', '--shapes', shapes, '--no-compile'], {
    env: { ...process.env, OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`PyTorch anchor failed: ${r.stderr || r.error?.message}`);
  return r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map(
      (l) =>
        JSON.parse(l) as {
          impl: string;
          op: string;
          mode: 'fwd' | 'fwd+bwd';
          N: number;
          hc: number;
          c: number;
          ms: number;
        },
    )
    .filter((j) => j.op === 'layer')
    .map((j) => ({
      impl: `${j.impl} cpu (1 thread)`,
      mode: j.mode,
      shape: `${j.N}x${j.hc}x${j.c}`,
      ms: j.ms,
    }));
}

async function main(): Promise<void> {
  const shapes = arg('shapes', '2048x4x256')!;
  const reps = Number(arg('reps', '15'));
  const anchor = arg(
    'anchor',
    process.env.TORCH_MHC_BENCH ??
      join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'anchors', 'torch_mhc_bench.py'),
  );
  const rows: Row[] = [];
  for (const s of shapes.split(',')) {
    const [n, hc, c] = s.split('x').map(Number) as [number, number, number];
    rows.push(...(await benchOurs(n, hc, c, reps)));
  }
  let torchRows: Row[] = [];
  if (anchor && existsSync(anchor)) torchRows = benchTorch(anchor, shapes);
  else process.stderr.write('no PyTorch anchor (--anchor or TORCH_MHC_BENCH): reporting liger-mhc only\n');
  rows.push(...torchRows);
  const p = provenance();
  const card = cpuCard();
  const table: ResultRow[] = rows.map((r) => {
    const torch = r.impl.startsWith('torch');
    const t = torch
      ? undefined
      : torchRows.find((q) => q.impl.startsWith('torch-eager') && q.mode === r.mode && q.shape === r.shape);
    return {
      commit: p.commit,
      date: p.date,
      card,
      backend: torch ? 'torch-cpu' : 'cpu',
      shape: r.shape,
      op: 'layer',
      mode: r.mode,
      path: torch ? 'eager' : 'f32',
      threads: 1,
      median_ms: r.ms,
      anchor: t ? 'torch-cpu' : undefined,
      anchor_ms: t?.ms,
      note: p.dirty ? 'uncommitted changes' : undefined,
    };
  });
  appendResults(table);
  for (const r of table)
    process.stdout.write(
      `${r.backend} ${r.mode} ${r.shape}: ${r.median_ms.toFixed(2)} ms${
        r.anchor_ms ? ` (${(r.anchor_ms / r.median_ms).toFixed(2)}x faster than torch eager)` : ''
      }\n`,
    );
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
