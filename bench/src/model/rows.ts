import type { Backend } from '@liger-mhc/core';
import type { provenance } from '../lib/results.js';
import type { Residual } from './ours-train.js';
import { type GptSize, shapeLabel } from './sizes.js';

/** One implementation's training step at one residual kind (or why it could not run). */
export interface ModelMeasurement {
  impl: 'ours' | 'torch-eager' | 'torch-compile';
  residual: Residual;
  ms?: number;
  peakBytes?: number;
  threads: number;
  torch?: string;
  unavailable?: string;
}

/** A row of bench/results/results.csv (columns fixed by the table's header). */
export interface ModelRow {
  commit: string;
  date: string;
  card: string;
  backend: string;
  shape: string;
  op: string;
  mode: string;
  path: string;
  threads: number | '';
  median_ms: number | '';
  gbps: '';
  pct_copy: '';
  tokens_per_s: number | '';
  peak_bytes: number | '';
  anchor: string;
  anchor_ms: number | '';
  note: string;
}

/**
 * The card column: the GPU's name as given (neither GPU backend can name its card portably), or the
 * CPU model and core count.
 */
export function cardName(be: Backend, cpu: string, cores: number, card?: string): string {
  if (be.capabilities.device === 'cpu') return `CPU ${cores}-core ${cpu}`;
  if (!card) throw new Error(`--card: name the GPU that the '${be.name}' backend runs on`);
  return card;
}

function pct(x: number): string {
  return `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`;
}

/**
 * Rows: one per implementation and residual kind (op gpt-train-step, mode fwd+bwd+optim, path mhc
 * or plain). Ours carries PyTorch eager as its anchor; the mHC rows' note carries the mHC overhead
 * (mHC step ÷ plain step − 1) of their implementation, and ours the ratio to PyTorch.
 */
export function modelRows(a: {
  prov: ReturnType<typeof provenance>;
  backend: Backend;
  size: GptSize;
  measured: readonly ModelMeasurement[];
  note: string;
  card?: string;
  /** Our GPT ran with recompute groups of this many layers (a path variant of our rows). */
  recomputeLayers?: number;
}): ModelRow[] {
  const { prov, size, measured } = a;
  const tokens = size.batch * size.seq;
  const torchDevice = a.backend.capabilities.device === 'cpu' ? 'torch-cpu' : 'torch-eager';
  const find = (impl: string, r: Residual) => measured.find((m) => m.impl === impl && m.residual === r);
  return measured.map((m) => {
    const notes: string[] = [];
    const plain = find(m.impl, 'plain');
    if (m.residual === 'mhc' && m.ms !== undefined && plain?.ms !== undefined)
      notes.push(`mHC overhead ${pct(m.ms / plain.ms - 1)} (mHC step / plain step - 1)`);
    const eager = find('torch-eager', m.residual);
    if (m.impl === 'ours' && m.ms !== undefined && eager?.ms !== undefined)
      notes.push(`${(eager.ms / m.ms).toFixed(2)}x PyTorch eager tokens/s`);
    if (m.unavailable) notes.push(`not available: ${m.unavailable}`);
    // Recompute groups are an option measured beside the default, never the headline figure.
    if (m.impl === 'ours' && a.recomputeLayers !== undefined)
      notes.unshift(`variant: recompute groups of ${a.recomputeLayers} layers`);
    if (m.torch) notes.push(`torch ${m.torch}`);
    if (a.note) notes.push(a.note);
    const isOurs = m.impl === 'ours';
    return {
      commit: prov.commit + (prov.dirty ? '+dirty' : ''),
      date: prov.date,
      card: cardName(a.backend, prov.cpu, prov.cores, a.card),
      backend: isOurs ? a.backend.name : m.impl === 'torch-eager' ? torchDevice : 'torch-compile',
      shape: shapeLabel(size),
      op: 'gpt-train-step',
      mode: 'fwd+bwd+optim',
      path:
        isOurs && a.recomputeLayers !== undefined
          ? `${m.residual}+recompute${a.recomputeLayers}`
          : m.residual,
      threads: m.threads,
      median_ms: m.ms ?? '',
      gbps: '',
      pct_copy: '',
      tokens_per_s: m.ms === undefined ? '' : Math.round(tokens / (m.ms / 1000)),
      peak_bytes: m.peakBytes ?? '',
      anchor: isOurs && eager?.ms !== undefined ? torchDevice : '',
      anchor_ms: isOurs && eager?.ms !== undefined ? eager.ms : '',
      note: notes.join('; '),
    };
  });
}
