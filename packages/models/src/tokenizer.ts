import { ArgumentError } from '@liger-mhc/core';

/**
 * Text to token ids with a checkpoint's vocabulary (token strings by id): greedy longest match from
 * the left, which for a character vocabulary is one id per character. A character no token covers
 * is an ArgumentError naming it.
 */
export class Tokenizer {
  private readonly index = new Map<string, number>();
  private readonly longest: number;

  constructor(readonly vocabulary: readonly string[]) {
    if (!Array.isArray(vocabulary) || vocabulary.length === 0)
      throw new ArgumentError('vocabulary', 'a non-empty array of token strings');
    vocabulary.forEach((t, i) => {
      if (typeof t !== 'string' || t.length === 0)
        throw new ArgumentError(`vocabulary[${i}]`, `a non-empty string, got ${JSON.stringify(t)}`);
      if (!this.index.has(t)) this.index.set(t, i);
    });
    this.longest = Math.max(...vocabulary.map((t) => t.length));
  }

  encode(text: string): number[] {
    const out: number[] = [];
    let i = 0;
    while (i < text.length) {
      let len = Math.min(this.longest, text.length - i);
      for (; len > 0; len--) {
        const id = this.index.get(text.slice(i, i + len));
        if (id !== undefined) {
          out.push(id);
          break;
        }
      }
      if (len === 0)
        throw new ArgumentError(
          'text',
          `characters of the vocabulary; ${JSON.stringify(text[i])} at position ${i} is not in it`,
        );
      i += len;
    }
    return out;
  }

  decode(ids: readonly number[]): string {
    return ids
      .map((id) => {
        const t = this.vocabulary[id];
        if (t === undefined) throw new ArgumentError('ids', `ids below ${this.vocabulary.length}, got ${id}`);
        return t;
      })
      .join('');
  }
}
