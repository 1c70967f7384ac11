/**
 * Rebuilds the rows of bench/results/results.csv that came from the runs before the table existed,
 * from their raw files under bench/results/archive/ (each run's JSON, torch-anchor JSONL / logs and
 * peak-memory JSONL kept as they were written). Run once when the table was introduced; kept so the
 * imported figures can be traced to the raw files:
 *
 *   node bench/dist/tools/import-archive.js [--out path/to/results.csv]
 *
 * Runs whose raw files were archived after the table existed are appended by name, once each:
 *
 *   node bench/dist/tools/import-archive.js --run cuda-h100-2026-12-05 [--out path/to/results.csv]
 *
 * The schemas differ by backend and day, so each run is described here by hand: the commit (taken
 * from the run's JSON or, where the JSON lacks it, from the run's report), the production path at
 * that commit, and which rows time a non-production variant.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { appendResults, RESULTS_CSV, type ResultRow, readResults } from '../lib/results.js';

const ARCHIVE = join(RESULTS_CSV, '..', 'archive');
const H200 = 'NVIDIA H200';
const H100 = 'NVIDIA H100 80GB HBM3';

interface RawRow {
  op: string;
  mode: string;
  path?: string;
  N: number;
  hc: number;
  c: number;
  ms: number;
  bytes?: number;
  min_bytes?: number;
  GBs?: number;
  roofline?: number;
  rooflineFraction?: number;
  peakLiveBytes?: number;
}

interface TorchRow {
  impl: string;
  op: string;
  mode: string;
  N: number;
  hc: number;
  c: number;
  ms: number;
  min_bytes: number;
}

interface PeakRow {
  impl: string;
  N: number;
  hc: number;
  c: number;
  peakBytes: number;
}

const shapeOf = (r: { N: number; hc: number; c: number }): string =>
  r.N === 0 ? '' : `${r.N}x${r.hc}x${r.c}`;

function readJson<T>(run: string, file: string): T {
  return JSON.parse(readFileSync(join(ARCHIVE, run, file), 'utf8')) as T;
}

/** The JSON lines of a file that also holds other output (the anchor's logs carry warnings). */
function jsonLines<T>(run: string, file: string, filter: (o: Record<string, unknown>) => boolean): T[] {
  const p = join(ARCHIVE, run, file);
  if (!existsSync(p)) return [];
  const out: T[] = [];
  for (const line of readFileSync(p, 'utf8').split('\n')) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    try {
      const o = JSON.parse(t) as Record<string, unknown>;
      if (filter(o)) out.push(o as T);
    } catch {
      // a log line that only looks like JSON
    }
  }
  return out;
}

const isTorch = (o: Record<string, unknown>): boolean => typeof o.impl === 'string' && 'ms' in o;

/** The anchor's rows (torch on the same card in the same call) and the layer anchors they give. */
function torchRows(
  meta: { commit: string; date: string; card: string; note?: string },
  torch: TorchRow[],
  peaks: PeakRow[],
): { rows: ResultRow[]; compileMs: Map<string, number> } {
  const copy = torch.find((t) => t.op === 'copy');
  const copyGbps = copy ? copy.min_bytes / copy.ms / 1e6 : undefined;
  const rows: ResultRow[] = [];
  const compileMs = new Map<string, number>();
  for (const t of torch) {
    const path = t.op === 'copy' ? 'copy' : t.impl.replace(/^torch-/, '');
    const gbps = t.min_bytes / t.ms / 1e6;
    const peak = peaks.find((p) => p.impl === t.impl && shapeOf(p) === shapeOf(t) && t.mode === 'fwd+bwd');
    rows.push({
      ...meta,
      backend: 'torch-cuda',
      shape: shapeOf(t),
      op: t.op,
      mode: t.mode,
      path,
      median_ms: t.ms,
      gbps,
      pct_copy: copyGbps ? (100 * gbps) / copyGbps : undefined,
      peak_bytes: peak?.peakBytes,
    });
    if (t.impl === 'torch-compile') compileMs.set(`${shapeOf(t)}|${t.op}|${t.mode}`, t.ms);
  }
  return { rows, compileMs };
}

/** The mode and variant of a raw row's mode string (`fwd separate`, `fwd+bwd(recompute)`, `d2d`). */
function splitMode(mode: string): { mode: string; variant?: string } {
  const m = /^(fwd\+bwd|fwd)\s*\(?([^)]*)\)?$/.exec(mode.trim());
  if (!m) return { mode: 'fwd', variant: mode };
  return m[2] ? { mode: m[1]!, variant: m[2].trim() } : { mode: m[1]! };
}

function ourRow(
  meta: { commit: string; date: string; card: string; note?: string },
  backend: string,
  r: RawRow,
  prodPath: string,
  compileMs: Map<string, number>,
  copyGbps: number | undefined,
): ResultRow {
  if (r.op === 'copy') {
    const gbps = (r.bytes ?? 0) / r.ms / 1e6;
    return {
      ...meta,
      backend,
      shape: '',
      op: 'copy',
      mode: 'fwd',
      path: r.mode,
      median_ms: r.ms,
      gbps,
      pct_copy: 100,
    };
  }
  const { mode, variant } = splitMode(r.mode);
  const path = r.path ?? prodPath;
  const frac = r.roofline ?? r.rooflineFraction;
  const gbps = r.GBs ?? (copyGbps && frac !== undefined ? frac * copyGbps : undefined);
  const isVariant = variant !== undefined || path !== prodPath;
  const anchorMs = r.op === 'layer' && !variant ? compileMs.get(`${shapeOf(r)}|layer|${mode}`) : undefined;
  const notes = [isVariant ? `variant${variant ? `: ${variant}` : ''}` : '', meta.note ?? ''].filter(Boolean);
  return {
    ...meta,
    backend,
    shape: shapeOf(r),
    op: r.op,
    mode,
    path: variant ? `${path}+${variant.replace(/\s+/g, '-')}` : path,
    median_ms: r.ms,
    gbps,
    pct_copy: frac !== undefined ? 100 * frac : undefined,
    peak_bytes: r.peakLiveBytes,
    anchor: anchorMs !== undefined ? 'torch-compile' : undefined,
    anchor_ms: anchorMs,
    note: notes.length ? notes.join('; ') : undefined,
  };
}

function cudaRun(run: string, prefix: string, opts: { card?: string; torchFile?: string } = {}): ResultRow[] {
  const j = readJson<{ date: string; commit: string; copyGBs: number; rows: RawRow[] }>(
    run,
    `${prefix}-bench.json`,
  );
  // The first run wrote prose into both fields; its report gives the same commit and time.
  const hash = /^[0-9a-f]{7,40}/.exec(j.commit)?.[0] ?? 'unknown';
  const dirty = hash !== j.commit;
  const meta = {
    commit: hash,
    date: /^\d{4}-\d\d-\d\dT/.test(j.date) ? j.date : `${j.date.slice(0, 10)}T23:03:00.000Z`,
    card: opts.card ?? H200,
    note: dirty ? 'built with uncommitted changes (see the archived report)' : undefined,
  };
  const torch = jsonLines<TorchRow>(run, opts.torchFile ?? `${prefix}-torch-anchor.jsonl`, isTorch);
  const peaks = jsonLines<PeakRow>(run, `${prefix}-torch-peak.jsonl`, (o) => 'peakBytes' in o);
  const t = torchRows({ ...meta, note: undefined }, torch, peaks);
  return [...j.rows.map((r) => ourRow(meta, 'cuda', r, 'tensor-core', t.compileMs, j.copyGBs)), ...t.rows];
}

function webgpuRun(
  run: string,
  file: string,
  commit: string,
  torch: TorchRow[],
  note?: string,
  card = H200,
): ResultRow[] {
  const j = readJson<{
    date: string;
    coeffsForward?: string;
    copy: { kernelGBs: number };
    rows: RawRow[];
    torch_anchor?: TorchRow[];
  }>(run, file);
  const meta = { commit, date: j.date, card, note };
  const t = torchRows({ commit, date: j.date, card }, j.torch_anchor ?? torch, []);
  const prod = j.coeffsForward ?? 'scalar';
  const copyRow: ResultRow = {
    ...meta,
    backend: 'webgpu',
    shape: '',
    op: 'copy',
    mode: 'fwd',
    path: 'kernel',
    median_ms: 0,
    gbps: j.copy.kernelGBs,
    pct_copy: 100,
  };
  // The copy kernel's time was not kept, only its bandwidth; it read and wrote 512 MiB each.
  copyRow.median_ms = 2 ** 30 / j.copy.kernelGBs / 1e6;
  return [
    copyRow,
    ...j.rows.map((r) => ourRow(meta, 'webgpu', r, prod, t.compileMs, j.copy.kernelGBs)),
    ...t.rows,
  ];
}

function cpuRun(run: string, file: string): ResultRow[] {
  const j = readJson<{
    commit: string;
    dirty: boolean;
    date: string;
    cpu: string;
    cores: number;
    rows: { impl: string; mode: string; shape: string; ms: number }[];
  }>(run, file);
  const card = `CPU ${j.cores}-core ${j.cpu}`;
  const meta = { commit: j.commit, date: j.date, card, note: j.dirty ? 'uncommitted changes' : undefined };
  const anchor = new Map(
    j.rows.filter((r) => r.impl.startsWith('torch')).map((r) => [`${r.shape}|${r.mode}`, r.ms]),
  );
  return j.rows.map((r) => {
    const torch = r.impl.startsWith('torch');
    const a = torch ? undefined : anchor.get(`${r.shape}|${r.mode}`);
    return {
      ...meta,
      backend: torch ? 'torch-cpu' : 'cpu',
      shape: r.shape,
      op: 'layer',
      mode: r.mode,
      path: torch ? 'eager' : 'f32',
      threads: 1,
      median_ms: r.ms,
      anchor: a !== undefined ? 'torch-cpu' : undefined,
      anchor_ms: a,
    };
  });
}

/** The runs the table was created from. */
const tableRuns = (): ResultRow[] => [
  ...cpuRun('cpu-2026-11-26', 'cpu-mhc-layer-2026-11-26.json'),
  ...cpuRun('cpu-2026-11-27', 'cpu-mhc-layer-2026-11-27.json'),
  ...cudaRun('cuda-h200-2026-11-26', 'cuda-h200-2026-11-26'),
  ...cudaRun('cuda-h200-2026-11-26-tc', 'cuda-h200-2026-11-26-tc'),
  ...cudaRun('cuda-h200-2026-11-26-r2', 'cuda-h200-2026-11-26-r2'),
  ...cudaRun('cuda-h200-2026-11-26-r3', 'cuda-h200-2026-11-26-r3'),
  ...cudaRun('cuda-h200-2026-11-27-final', 'cuda-h200-2026-11-27-final'),
  ...cudaRun('cuda-h200-2026-11-27-fused', 'cuda-h200-2026-11-27-fused'),
  ...cudaRun('cuda-h200-2026-11-27-fused2', 'cuda-h200-2026-11-27-fused2'),
  ...webgpuRun(
    'webgpu-h200-2026-11-26',
    'webgpu-mhc-h200-2026-11-26.json',
    'unknown',
    [],
    'uncommitted working tree (see the archived report)',
  ),
  ...webgpuRun(
    'webgpu-h200-2026-11-27',
    'webgpu-mhc-h200-2026-11-27.json',
    '0d32962',
    jsonLines('webgpu-h200-2026-11-27', 'webgpu-mhc-h200-2026-11-27-run.log', isTorch),
  ),
  ...webgpuRun(
    'webgpu-h200-2026-11-27-split',
    'webgpu-mhc-h200-2026-11-27-split-bench.json',
    'a330df9',
    jsonLines('webgpu-h200-2026-11-27-split', 'webgpu-mhc-h200-2026-11-27-split-torch-anchor.log', isTorch),
  ),
  ...webgpuRun(
    'webgpu-h200-2026-11-27-split',
    'webgpu-mhc-h200-2026-11-27-split-head-bench.json',
    '7bf80e5',
    jsonLines(
      'webgpu-h200-2026-11-27-split',
      'webgpu-mhc-h200-2026-11-27-split-head-torch-anchor.log',
      isTorch,
    ),
  ),
  ...['order', 'reduction', 'post', 'cache'].flatMap((s) =>
    webgpuRun(
      'webgpu-h200-2026-11-27-layer',
      `webgpu-mhc-h200-2026-11-27-layer-sweep-${s}.json`,
      'unknown',
      [],
      `variant: sweep (${s}) from a working tree committed later`,
    ),
  ),
  ...webgpuRun(
    'webgpu-h200-2026-11-27-layer',
    'webgpu-mhc-h200-2026-11-27-layer-bench.json',
    'b6b6ac7',
    jsonLines('webgpu-h200-2026-11-27-layer', 'webgpu-mhc-h200-2026-11-27-layer-torch-anchor.log', isTorch),
  ),
];

const H100_CUDA = 'cuda-h100-2026-12-05';
const H100_WEBGPU = 'webgpu-h100-2026-12-05';
const H100_WEBGPU_JSON = 'webgpu-mhc-h100-2026-12-05-bench.json';

/** The H100 run's torch anchor (eager, compile and the copy they are measured against). */
const h100Torch = (): TorchRow[] => jsonLines<TorchRow>(H100_CUDA, `${H100_CUDA}-torch-anchor.log`, isTorch);

/**
 * Liger-Kernel's Triton mHC layer, timed by the anchor script in the device call that then ran the
 * WebGPU bench on the same card, so its rows carry that call's date. That call timed no copy of its
 * own; the share of copy is taken against the torch copy of the CUDA call.
 */
function ligerRows(): ResultRow[] {
  const liger = jsonLines<TorchRow>(H100_CUDA, `${H100_CUDA}-liger-anchor.log`, isTorch);
  const copy = h100Torch().find((t) => t.op === 'copy');
  if (!copy) throw new Error(`${H100_CUDA}: the torch anchor log holds no copy row`);
  const copyGbps = copy.min_bytes / copy.ms / 1e6;
  const { date } = readJson<{ date: string }>(H100_WEBGPU, H100_WEBGPU_JSON);
  return liger.map((t) => {
    const gbps = t.min_bytes / t.ms / 1e6;
    return {
      commit: 'c8d3ee8',
      date,
      card: H100,
      backend: 'liger-triton',
      shape: shapeOf(t),
      op: t.op,
      mode: t.mode,
      path: 'triton',
      median_ms: t.ms,
      gbps,
      pct_copy: (100 * gbps) / copyGbps,
      note: 'timed in the call of the WebGPU run on the same card; % of copy against the torch copy of the CUDA run',
    };
  });
}

/**
 * The WebGPU bench of the second H100 call ran no torch anchor; its layer rows are anchored to the
 * torch.compile figures of the CUDA call on the same card minutes earlier (those torch rows are
 * imported with the CUDA run, not repeated here).
 */
function h100WebgpuRun(): ResultRow[] {
  return webgpuRun(H100_WEBGPU, H100_WEBGPU_JSON, 'c8d3ee8', h100Torch(), undefined, H100)
    .filter((r) => r.backend === 'webgpu')
    .map((r) =>
      r.anchor === undefined
        ? r
        : {
            ...r,
            note: [r.note, 'anchor timed in the CUDA run on the same card'].filter(Boolean).join('; '),
          },
    );
}

/** Runs archived after the table existed, appended one at a time by name. */
const laterRuns: Record<string, () => ResultRow[]> = {
  [H100_CUDA]: () => [
    ...cudaRun(H100_CUDA, H100_CUDA, { card: H100, torchFile: `${H100_CUDA}-torch-anchor.log` }),
    ...ligerRows(),
  ],
  [H100_WEBGPU]: h100WebgpuRun,
};

const { values: args } = parseArgs({
  options: { out: { type: 'string' }, run: { type: 'string' } },
  strict: true,
});
const out = args.out ?? RESULTS_CSV;
if (args.run === undefined) {
  if (existsSync(out)) throw new Error(`${out} exists: the archive import only creates the table`);
  const rows = tableRuns().sort((a, b) => a.date.localeCompare(b.date));
  appendResults(rows, out);
  console.log(`${rows.length} rows from ${readdirSync(ARCHIVE).length} archived runs -> ${out}`);
} else {
  const make = laterRuns[args.run];
  if (!make)
    throw new Error(
      `--run: expected one of ${Object.keys(laterRuns).join(', ')}, got ${JSON.stringify(args.run)}`,
    );
  const rows = make();
  // The table is append-only, so importing a run twice would count its figures twice.
  const seen = new Set(readResults(out).map((r) => `${r.commit}|${r.date}|${r.card}|${r.backend}`));
  const dup = rows.find((r) => seen.has(`${r.commit}|${r.date}|${r.card}|${r.backend}`));
  if (dup)
    throw new Error(`${out} already holds ${dup.backend} rows of ${dup.card} at ${dup.commit} ${dup.date}`);
  appendResults(rows, out);
  console.log(`${rows.length} rows from archive/${args.run} -> ${out}`);
}
