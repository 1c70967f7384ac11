import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Random } from '@liger-mhc/core';

/**
 * The training batches both sides see: random windows of the CLI's embedded corpus (character
 * level), drawn once from a seed so our model and the PyTorch twin train on identical ids.
 */
export interface Batches {
  vocab: number;
  /** [steps, batch, seq] input ids and next-token labels, row-major. */
  x: Int32Array;
  y: Int32Array;
  steps: number;
}

export function corpusFile(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return join(here, '..', '..', '..', 'apps', 'cli', 'corpus', 'sotu-1790-1864.txt');
}

export function makeBatches(steps: number, batch: number, seq: number, seed: number): Batches {
  const text = readFileSync(corpusFile(), 'utf8').replace(/\r\n/g, '\n');
  const vocab = [...new Set(text)].sort();
  const index = new Map(vocab.map((ch, i) => [ch, i]));
  const ids = Int32Array.from(text, (ch) => index.get(ch) ?? 0);
  const rng = new Random(seed);
  const n = batch * seq;
  const x = new Int32Array(steps * n);
  const y = new Int32Array(steps * n);
  for (let s = 0; s < steps; s++)
    for (let b = 0; b < batch; b++) {
      const start = rng.int(ids.length - seq - 1);
      x.set(ids.subarray(start, start + seq), s * n + b * seq);
      y.set(ids.subarray(start + 1, start + seq + 1), s * n + b * seq);
    }
  return { vocab: vocab.length, x, y, steps };
}
