import { execSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * One row of the results table (`bench/results/results.csv`). Every benchmark of the repository
 * appends rows of this shape, so one generator can pick the current figures and one plot can
 * compare backends. An absent optional field is an empty cell: not applicable to that row.
 */
export interface ResultRow {
  /** Short commit hash of the code that ran (`unknown` outside a checkout). */
  commit: string;
  /** ISO-8601 time of the run. */
  date: string;
  /** The device the figure belongs to, e.g. `NVIDIA H200` or `CPU 2-core AMD EPYC`. */
  card: string;
  /** `cpu`, `webgpu`, `cuda`, or the anchor's runtime (`torch-cuda`, `torch-cpu`) for anchor rows. */
  backend: string;
  /** `N x hc x C`, e.g. `8192x4x4096`; empty for shape-free rows such as the copy roofline. */
  shape: string;
  /** What was timed: `layer`, `coeffs`, `pre`, `post_res`, `coeffs+pre`, `copy`, a kernel name. */
  op: string;
  /** `fwd` or `fwd+bwd` (or a model-level mode such as `train-step`). */
  mode: string;
  /** The code path within the backend (e.g. `split`, `tensor-core`, `eager`, `compile`). */
  path: string;
  /** CPU threads used, for CPU rows. */
  threads?: number;
  median_ms: number;
  /** Achieved bandwidth over the op's minimal bytes (GB/s, 1e9). */
  gbps?: number;
  /** gbps as a percentage of the card's copy bandwidth measured in the same run. */
  pct_copy?: number;
  tokens_per_s?: number;
  /** Peak device memory of the op (bytes). */
  peak_bytes?: number;
  /** The anchor this row is compared against (`torch-eager`, `torch-compile`, `liger-triton`, `torch-cpu`). */
  anchor?: string;
  /** The anchor's median on the same card in the same run. */
  anchor_ms?: number;
  /**
   * Free text. A note starting with `variant` marks a row that times a non-production path or an
   * ablation: it stays in the table as evidence but is never a headline figure.
   */
  note?: string;
}

/** The table's columns, in file order (the agreed header). */
export const RESULT_COLUMNS = [
  'commit',
  'date',
  'card',
  'backend',
  'shape',
  'op',
  'mode',
  'path',
  'threads',
  'median_ms',
  'gbps',
  'pct_copy',
  'tokens_per_s',
  'peak_bytes',
  'anchor',
  'anchor_ms',
  'note',
] as const satisfies readonly (keyof ResultRow)[];

const NUMERIC: ReadonlySet<string> = new Set([
  'threads',
  'median_ms',
  'gbps',
  'pct_copy',
  'tokens_per_s',
  'peak_bytes',
  'anchor_ms',
]);
const REQUIRED_TEXT = ['commit', 'date', 'card', 'backend', 'op', 'mode'] as const;

/** bench/results/results.csv in this checkout. */
export const RESULTS_CSV = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'results',
  'results.csv',
);

/** RFC 4180: quote a cell when it holds a comma, quote, CR or LF; double inner quotes. */
function csvCell(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

function formatNumber(x: number): string {
  // Six significant digits: well below the run-to-run noise of any timing here.
  return Number.isInteger(x) ? String(x) : String(Number(x.toPrecision(6)));
}

/** One CSV line (without the line break) for a row; checks the row first. */
export function formatRow(row: ResultRow): string {
  validateRow(row);
  return RESULT_COLUMNS.map((k) => {
    const v = row[k];
    if (v === undefined) return '';
    return csvCell(typeof v === 'number' ? formatNumber(v) : v);
  }).join(',');
}

/** Throws a TypeError naming the field when a row cannot go into the table. */
export function validateRow(row: ResultRow): void {
  for (const k of REQUIRED_TEXT)
    if (typeof row[k] !== 'string' || row[k] === '')
      throw new TypeError(`result row: '${k}' must be a non-empty string, got ${JSON.stringify(row[k])}`);
  for (const k of ['shape', 'path'] as const)
    if (typeof row[k] !== 'string')
      throw new TypeError(`result row: '${k}' must be a string, got ${JSON.stringify(row[k])}`);
  for (const k of RESULT_COLUMNS) {
    const v = row[k];
    if (NUMERIC.has(k)) {
      if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v < 0))
        throw new TypeError(`result row: '${k}' must be a finite number >= 0, got ${String(v)}`);
    } else if (v !== undefined && typeof v !== 'string') {
      throw new TypeError(`result row: '${k}' must be a string, got ${typeof v}`);
    }
  }
  if (row.median_ms === undefined) throw new TypeError(`result row: 'median_ms' is required`);
}

/** Splits RFC-4180 text into records of cells. */
export function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let cell = '';
  let record: string[] = [];
  let quoted = false;
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          cell += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else cell += ch;
      i++;
      continue;
    }
    if (ch === '"' && cell === '') quoted = true;
    else if (ch === ',') {
      record.push(cell);
      cell = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      record.push(cell);
      records.push(record);
      record = [];
      cell = '';
    } else cell += ch;
    i++;
  }
  if (quoted) throw new SyntaxError('results table: unterminated quoted cell');
  if (cell !== '' || record.length > 0) {
    record.push(cell);
    records.push(record);
  }
  return records;
}

/** Reads the table; a missing file is an empty table. */
export function readResults(path = RESULTS_CSV): ResultRow[] {
  if (!existsSync(path)) return [];
  const [header, ...records] = parseCsv(readFileSync(path, 'utf8'));
  if (!header) return [];
  if (header.join(',') !== RESULT_COLUMNS.join(','))
    throw new SyntaxError(`${path}: header is not the agreed column list (${RESULT_COLUMNS.join(',')})`);
  return records.map((cells, line) => {
    if (cells.length !== RESULT_COLUMNS.length)
      throw new SyntaxError(
        `${path}: record ${line + 2} has ${cells.length} cells, expected ${RESULT_COLUMNS.length}`,
      );
    const row: Record<string, string | number> = {};
    RESULT_COLUMNS.forEach((k, j) => {
      const v = cells[j]!;
      if (v === '') {
        if (k === 'shape' || k === 'path') row[k] = '';
        return;
      }
      if (NUMERIC.has(k)) {
        const x = Number(v);
        if (!Number.isFinite(x))
          throw new SyntaxError(`${path}: record ${line + 2}: ${k} is not a number: ${v}`);
        row[k] = x;
      } else row[k] = v;
    });
    return row as unknown as ResultRow;
  });
}

/** Writes `text` to `path` through a temporary file in the same folder: fsync, then rename. */
function writeAtomic(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Appends rows to the results table (creating it with the header if absent). Every row is checked
 * before anything is written, and the new file replaces the old one by rename, so a crash or a bad
 * row leaves the table as it was.
 */
export function appendResults(rows: readonly ResultRow[], path = RESULTS_CSV): void {
  const lines = rows.map(formatRow);
  if (lines.length === 0) return;
  let text = existsSync(path) ? readFileSync(path, 'utf8') : '';
  if (text === '') text = `${RESULT_COLUMNS.join(',')}\n`;
  else {
    readResults(path); // refuse to append to a table that does not parse
    if (!text.endsWith('\n')) text += '\n';
  }
  writeAtomic(path, `${text}${lines.join('\n')}\n`);
}

/** bench/results in this checkout. */
export const RESULTS_DIR = dirname(RESULTS_CSV);

/**
 * Write a file under bench/results (a plot, or a run's raw log under `archive/<run>/`) atomically;
 * returns its path.
 */
export function writeResult(name: string, content: string): string {
  const path = join(RESULTS_DIR, name);
  mkdirSync(dirname(path), { recursive: true });
  writeAtomic(path, content);
  return path;
}

/** Writes any generated text file (CURRENT.md, the plot) atomically. */
export function writeGenerated(path: string, text: string): void {
  writeAtomic(path, text);
}

/** The commit, date and machine a result belongs to. */
export function provenance(): {
  commit: string;
  dirty: boolean;
  date: string;
  cpu: string;
  cores: number;
  node: string;
} {
  let commit = 'unknown';
  let dirty = false;
  try {
    commit = execSync('git rev-parse --short HEAD', { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
    // Results written by an earlier run of the same checkout are output, not a change to what runs.
    dirty =
      execSync("git status --porcelain --untracked-files=no -- ':/' ':(top,exclude)bench/results'", {
        stdio: ['ignore', 'pipe', 'ignore'],
      })
        .toString()
        .trim() !== '';
  } catch {
    // not a git checkout
  }
  const c = cpus();
  return {
    commit,
    dirty,
    date: new Date().toISOString(),
    cpu: c[0]?.model ?? 'unknown',
    cores: c.length,
    node: process.version,
  };
}

/** The card name for CPU rows: `CPU <cores>-core <model>`. */
export function cpuCard(): string {
  const c = cpus();
  return `CPU ${c.length}-core ${(c[0]?.model ?? 'unknown').trim()}`;
}
