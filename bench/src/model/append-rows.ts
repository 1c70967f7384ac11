import { appendResults, type ResultRow } from '../lib/results.js';
import type { ModelRow } from './rows.js';

/** Append the model benchmark's rows to the results table (empty cells become absent fields). */
export function appendRows(rows: readonly ModelRow[]): void {
  appendResults(
    rows
      .filter((r) => r.median_ms !== '')
      .map((r): ResultRow => {
        const num = (v: number | ''): number | undefined => (v === '' ? undefined : v);
        return {
          commit: r.commit,
          date: r.date,
          card: r.card,
          backend: r.backend,
          shape: r.shape,
          op: r.op,
          mode: r.mode,
          path: r.path,
          threads: num(r.threads),
          median_ms: r.median_ms as number,
          tokens_per_s: num(r.tokens_per_s),
          peak_bytes: num(r.peak_bytes),
          anchor: r.anchor || undefined,
          anchor_ms: num(r.anchor_ms),
          note: r.note || undefined,
        };
      }),
  );
}
