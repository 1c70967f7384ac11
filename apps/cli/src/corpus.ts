import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Random } from '@liger-mhc/core';

/** The embedded corpus (see corpus/SOURCE.md) as a character-level dataset. */
export interface CharCorpus {
  text: string;
  vocab: string[];
  encode(s: string): Int32Array;
  decode(ids: ArrayLike<number>): string;
  /** Training ids (the first 90%) and held-out ids (the rest). */
  train: Int32Array;
  valid: Int32Array;
}

export function corpusPath(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', 'corpus', 'sotu-1790-1864.txt');
}

export async function loadCorpus(path = corpusPath()): Promise<CharCorpus> {
  const text = (await readFile(path, 'utf8')).replace(/\r\n/g, '\n');
  const vocab = [...new Set(text)].sort();
  const index = new Map(vocab.map((ch, i) => [ch, i]));
  const encode = (s: string) => Int32Array.from(s, (ch) => index.get(ch) ?? 0);
  const decode = (ids: ArrayLike<number>) => Array.from(ids, (i) => vocab[i] ?? '?').join('');
  const all = encode(text);
  const cut = Math.floor(all.length * 0.9);
  return { text, vocab, encode, decode, train: all.subarray(0, cut), valid: all.subarray(cut) };
}

/** A random batch of (input, next-token label) windows. */
export function sampleBatch(
  ids: Int32Array,
  batch: number,
  seq: number,
  rng: Random,
): { x: Int32Array; y: Int32Array } {
  const x = new Int32Array(batch * seq);
  const y = new Int32Array(batch * seq);
  for (let b = 0; b < batch; b++) {
    const start = rng.int(ids.length - seq - 1);
    x.set(ids.subarray(start, start + seq), b * seq);
    y.set(ids.subarray(start + 1, start + seq + 1), b * seq);
  }
  return { x, y };
}
