import type { ResultRow } from './results.js';

/** A row that times a non-production path or an ablation (see ResultRow.note). */
export const isVariant = (r: ResultRow): boolean => (r.note ?? '').startsWith('variant');

// A CPU figure at another thread count is another figure, not a newer one of the same.
const key = (r: ResultRow): string => [r.card, r.backend, r.shape, r.op, r.mode, r.threads ?? ''].join('|');
const runKey = (r: ResultRow): string =>
  [r.card, r.backend, r.op === 'gpt-train-step' ? 'model' : 'kernels'].join('|');

/**
 * The current figures: for each card / backend / shape / op / mode / thread count, the production
 * rows of the latest run that measured it (a run is one commit and date). An anchor runtime keeps one row per
 * path (eager and compile) because both belong to the same run. Only the paths that the backend's
 * latest run of that benchmark on that card measured count (the kernel benchmark and the model
 * benchmark are separate runs: one does not retire the other's paths).
 */
export function headlineRows(rows: readonly ResultRow[]): ResultRow[] {
  // The paths of a backend's latest run of a benchmark are its production paths; rows of a path it has since
  // retired (a kernel that only that path ran) are history, not current figures.
  const lastRun = new Map<string, { date: string; paths: Set<string> }>();
  for (const r of rows) {
    if (isVariant(r)) continue;
    const k = runKey(r);
    const cur = lastRun.get(k);
    if (!cur || r.date > cur.date) lastRun.set(k, { date: r.date, paths: new Set([r.path]) });
    else if (r.date === cur.date) cur.paths.add(r.path);
  }
  const latest = new Map<string, ResultRow[]>();
  for (const r of rows) {
    if (isVariant(r) || !lastRun.get(runKey(r))!.paths.has(r.path)) continue;
    const k = key(r);
    const cur = latest.get(k);
    if (!cur || r.date > cur[0]!.date) latest.set(k, [r]);
    else if (r.date === cur[0]!.date && r.commit === cur[0]!.commit) {
      // A repeat of the same path in one run replaces the earlier row (the table is append-only).
      const same = cur.findIndex((c) => c.path === r.path);
      if (same >= 0) cur[same] = r;
      else cur.push(r);
    }
  }
  return [...latest.values()].flat();
}

/** `N x hc x C` → token count × channel count, for sorting the larger shapes first. */
export function shapeSize(shape: string): number {
  return shape.split('x').reduce((a, d) => a * (Number(d) || 0), 1);
}

const OP_ORDER = ['layer', 'boundary', 'coeffs+pre', 'coeffs', 'pre', 'post_res', 'copy'];
const opRank = (op: string): number => {
  const i = OP_ORDER.indexOf(op);
  return i < 0 ? OP_ORDER.length : i;
};

/** Card, then larger shape, then op order, then mode, then backend. */
export function compareRows(a: ResultRow, b: ResultRow): number {
  return (
    a.card.localeCompare(b.card) ||
    shapeSize(b.shape) - shapeSize(a.shape) ||
    a.shape.localeCompare(b.shape) ||
    opRank(a.op) - opRank(b.op) ||
    a.op.localeCompare(b.op) ||
    a.mode.localeCompare(b.mode) ||
    a.backend.localeCompare(b.backend) ||
    a.path.localeCompare(b.path)
  );
}
