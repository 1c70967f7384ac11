import { readFileSync } from 'node:fs';
import type { ResultRow } from './results.js';

/** One JSON line of bench/anchors/torch_mhc_bench.py. */
interface TorchLine {
  impl: string;
  op: string;
  mode: string;
  N: number;
  hc: number;
  c: number;
  ms: number;
  min_bytes: number;
  device?: string;
}

/** The anchor's JSON lines in a log that may hold other output (warnings, its table). */
export function readAnchorLog(path: string): TorchLine[] {
  const out: TorchLine[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const o = JSON.parse(line) as TorchLine;
      if (typeof o.impl === 'string' && typeof o.ms === 'number') out.push(o);
    } catch {
      // a line that only starts like JSON
    }
  }
  return out;
}

/**
 * The anchor's rows for the table, in the run of `ours` (same commit, date and card), and `ours`
 * with the torch.compile layer time of the same shape and mode as their anchor.
 */
export function withAnchor(ours: readonly ResultRow[], torch: readonly TorchLine[]): ResultRow[] {
  const first = ours[0];
  if (!first) return [];
  const shape = (t: TorchLine) => (t.N === 0 ? '' : `${t.N}x${t.hc}x${t.c}`);
  const copy = torch.find((t) => t.op === 'copy');
  const copyGbps = copy ? copy.min_bytes / copy.ms / 1e6 : undefined;
  const torchBackend = `torch-${torch[0]?.device ?? 'cuda'}`;
  // Other anchors in the same log format (liger_triton_mhc_bench.py) are their own backend.
  const isTorch = (t: TorchLine) => t.impl === 'torch' || t.impl.startsWith('torch-');
  const anchorRows: ResultRow[] = torch.map((t) => {
    const gbps = t.min_bytes / t.ms / 1e6;
    return {
      commit: first.commit,
      date: first.date,
      card: first.card,
      backend: isTorch(t) ? torchBackend : t.impl,
      shape: shape(t),
      op: t.op,
      mode: t.mode,
      path: t.op === 'copy' ? 'copy' : isTorch(t) ? t.impl.replace(/^torch-/, '') : 'triton',
      median_ms: t.ms,
      gbps,
      pct_copy: copyGbps ? (100 * gbps) / copyGbps : undefined,
    };
  });
  const compile = new Map(
    torch.filter((t) => t.impl === 'torch-compile').map((t) => [`${shape(t)}|${t.op}|${t.mode}`, t.ms]),
  );
  const mine = ours.map((r) => {
    const ms = (r.note ?? '').startsWith('variant') ? undefined : compile.get(`${r.shape}|${r.op}|${r.mode}`);
    return ms === undefined ? r : { ...r, anchor: 'torch-compile', anchor_ms: ms };
  });
  return [...mine, ...anchorRows];
}
