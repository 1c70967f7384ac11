import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from '@liger-mhc/core';
import { type Measured, mhcRows, type Timer } from './mhc-rows.js';
import { appendResults, provenance, type ResultRow } from './results.js';

/** `8192x4x4096,32768x4x1024` → [[8192, 4, 4096], [32768, 4, 1024]]. */
export function parseShapes(s: string): [number, number, number][] {
  return s.split(',').map((t) => {
    const d = t.split('x').map(Number);
    if (d.length !== 3 || d.some((v) => !Number.isInteger(v) || v < 1))
      throw new TypeError(`shape '${t}': expected NxHCxC with positive integers`);
    return d as [number, number, number];
  });
}

/**
 * The commit the results belong to: the bundle's commit.txt (written when the GPU bundle was built;
 * the GPU machine's copy has no .git) when `bundleDir` has one, else the checkout's HEAD.
 */
export function runCommit(bundleDir?: string): { commit: string; dirty: boolean } {
  if (bundleDir)
    try {
      const t = readFileSync(join(bundleDir, 'commit.txt'), 'utf8').trim();
      return { commit: t.replace(/\+dirty$/, ''), dirty: t.endsWith('+dirty') };
    } catch {
      // not a bundle
    }
  const p = provenance();
  return { commit: p.commit, dirty: p.dirty };
}

export interface RunSpec {
  backend: Backend;
  /** results.csv's backend column. */
  name: string;
  /** The production path's name (results.csv's path column). */
  path: string;
  card: string;
  timer: Timer;
  /** Copy bandwidth measured in the same process (GB/s): pct_copy's denominator. */
  copyGbps: number;
  shapes: [number, number, number][];
  /** Where the rows go (a table with the agreed header). */
  resultsPath: string;
  bundleDir?: string;
}

/** Times every row of every shape and appends them (plus the copy row) to the results table. */
export async function runAndRecord(spec: RunSpec): Promise<ResultRow[]> {
  const { commit, dirty } = runCommit(spec.bundleDir);
  const date = new Date().toISOString();
  const base = { commit, date, card: spec.card, backend: spec.name };
  const note = dirty ? 'uncommitted changes' : undefined;
  const out: ResultRow[] = [
    {
      ...base,
      shape: '',
      op: 'copy',
      mode: 'fwd',
      path: 'copy',
      median_ms: 2 ** 30 / spec.copyGbps / 1e6,
      gbps: spec.copyGbps,
      pct_copy: 100,
      note,
    },
  ];
  for (const [N, hc, c] of spec.shapes) {
    const shape = `${N}x${hc}x${c}`;
    for (const m of await mhcRows(spec.backend, spec.timer, N, hc, c)) {
      const gbps = m.bytes / m.ms / 1e6;
      out.push(toRow(base, shape, spec.path, m, gbps, (100 * gbps) / spec.copyGbps, note));
      console.log(
        `${m.op.padEnd(10)} ${m.mode.padEnd(8)} ${shape.padEnd(14)} ${m.ms.toFixed(4).padStart(9)} ms ${gbps.toFixed(0).padStart(6)} GB/s ${((100 * gbps) / spec.copyGbps).toFixed(1).padStart(6)}%${m.variant ? ` (${m.variant})` : ''}`,
      );
    }
  }
  appendResults(out, spec.resultsPath);
  return out;
}

function toRow(
  base: Pick<ResultRow, 'commit' | 'date' | 'card' | 'backend'>,
  shape: string,
  path: string,
  m: Measured,
  gbps: number,
  pct: number,
  note: string | undefined,
): ResultRow {
  const notes = [m.variant ? `variant: ${m.variant}` : '', note ?? ''].filter(Boolean).join('; ');
  return {
    ...base,
    shape,
    op: m.op,
    mode: m.mode,
    path: m.variant ? `${path}+${m.variant}` : path,
    median_ms: m.ms,
    gbps,
    pct_copy: pct,
    peak_bytes: m.peakBytes,
    note: notes || undefined,
  };
}
