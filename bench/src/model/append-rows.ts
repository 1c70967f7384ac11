import { appendFileSync, existsSync } from 'node:fs';
import { resultPath } from '../lib/results.js';
import type { ModelRow } from './rows.js';

const COLUMNS = [
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
] as const;

function cell(v: string | number): string {
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export async function appendRows(rows: readonly ModelRow[]): Promise<void> {
  const p = resultPath('results.csv');
  const head = existsSync(p) ? '' : `${COLUMNS.join(',')}\n`;
  appendFileSync(p, head + rows.map((r) => `${COLUMNS.map((c) => cell(r[c])).join(',')}\n`).join(''));
}
