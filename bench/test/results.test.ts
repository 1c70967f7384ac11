import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { headlineRows } from '../src/lib/headline.js';
import { appendResults, parseCsv, RESULT_COLUMNS, type ResultRow, readResults } from '../src/lib/results.js';

const base: ResultRow = {
  commit: 'abc1234',
  date: '2026-12-01T00:00:00.000Z',
  card: 'NVIDIA H200',
  backend: 'webgpu',
  shape: '8192x4x4096',
  op: 'layer',
  mode: 'fwd',
  path: 'split',
  median_ms: 0.445,
};

describe('results table', () => {
  it('writes the agreed header once and round-trips rows with quoting', () => {
    const p = join(mkdtempSync(join(tmpdir(), 'results-')), 'results.csv');
    appendResults(
      [
        {
          ...base,
          note: 'a "quoted", note\nover two lines',
          gbps: 2111.7,
          anchor: 'torch-compile',
          anchor_ms: 2.04,
        },
      ],
      p,
    );
    appendResults([{ ...base, mode: 'fwd+bwd', median_ms: 2.05 }], p);
    const text = readFileSync(p, 'utf8');
    expect(text.split('\n')[0]).toBe(RESULT_COLUMNS.join(','));
    expect(text.match(/^commit,/gm)).toHaveLength(1);
    const rows = readResults(p);
    expect(rows).toHaveLength(2);
    expect(rows[0]!.note).toBe('a "quoted", note\nover two lines');
    expect(rows[0]!.gbps).toBe(2111.7);
    expect(rows[0]!.threads).toBeUndefined();
    expect(rows[1]!.median_ms).toBe(2.05);
  });

  it('rejects a bad row without touching the table', () => {
    const p = join(mkdtempSync(join(tmpdir(), 'results-')), 'results.csv');
    appendResults([base], p);
    const before = readFileSync(p, 'utf8');
    expect(() => appendResults([base, { ...base, median_ms: Number.NaN }], p)).toThrow(/median_ms/);
    expect(() => appendResults([{ ...base, card: '' }], p)).toThrow(/card/);
    expect(readFileSync(p, 'utf8')).toBe(before);
  });

  it('refuses a table whose header differs', () => {
    const p = join(mkdtempSync(join(tmpdir(), 'results-')), 'results.csv');
    writeFileSync(p, 'commit,date\nx,y\n');
    expect(() => appendResults([base], p)).toThrow(/header/);
  });

  it('parses RFC 4180 quoting and CRLF', () => {
    expect(parseCsv('a,"b,""c"""\r\n,d\n')).toEqual([
      ['a', 'b,"c"'],
      ['', 'd'],
    ]);
  });
});

describe('headline rows', () => {
  it('takes the latest production row per key and ignores variants and retired paths', () => {
    const rows: ResultRow[] = [
      { ...base, path: 'subgroup-matrix', median_ms: 0.84, date: '2026-11-01T00:00:00Z' },
      { ...base, median_ms: 0.48, date: '2026-11-02T00:00:00Z' },
      { ...base, op: 'phi_prep', path: 'subgroup-matrix', median_ms: 0.04, date: '2026-11-01T00:00:00Z' },
      { ...base, median_ms: 0.445, date: '2026-11-03T00:00:00Z' },
      { ...base, median_ms: 0.3, date: '2026-11-04T00:00:00Z', note: 'variant: ablation' },
    ];
    const head = headlineRows(rows);
    expect(head).toHaveLength(1);
    expect(head[0]!.median_ms).toBe(0.445);
  });

  it('keeps the kernel rows when a later model run on the same card and backend has other paths', () => {
    const model: ResultRow = {
      ...base,
      shape: 'L12-d768-h12-T1024-B8-hc4-bf16',
      op: 'gpt-train-step',
      mode: 'fwd+bwd+optim',
      path: 'mhc',
      median_ms: 2072,
      date: '2026-11-05T00:00:00Z',
    };
    const head = headlineRows([{ ...base, median_ms: 0.445, date: '2026-11-03T00:00:00Z' }, model]);
    expect(head.map((r) => r.median_ms).sort((a, b) => Number(a) - Number(b))).toEqual([0.445, 2072]);
  });
});
