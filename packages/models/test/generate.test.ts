import { ArgumentError, initBackend, MiniMhcLM, noGrad, Random, tensor } from '@liger-mhc/core';
import { describe, expect, it } from 'vitest';
import { GPT, generate, sampleNext, TinyDeepseekV4 } from '../src/index.js';

const v4 = () =>
  new TinyDeepseekV4({ vocab: 9, dim: 8, heads: 2, layers: 1, hc: 2, sinkhornIters: 4, rng: new Random(3) });

/** The greedy continuation computed the slow way: full forward, argmax of the last row. */
async function greedyByHand(model: TinyDeepseekV4, prompt: number[], n: number): Promise<number[]> {
  const out = [...prompt];
  for (let i = 0; i < n; i++) {
    const logits = noGrad(() => model.forward(tensor(out, [1, out.length], { dtype: 'i32' })));
    const all = await logits.data();
    logits.dispose();
    const row = Array.from(all.subarray((out.length - 1) * 9));
    out.push(row.indexOf(Math.max(...row)));
  }
  return out;
}

describe('generate', () => {
  it('greedy (temperature 0) picks the arg-max of the last position, step by step', async () => {
    const model = v4();
    const got = await model.generate([1, 2, 3], { maxNewTokens: 6, temperature: 0 });
    expect(got).toEqual(await greedyByHand(model, [1, 2, 3], 6));
    expect(got.slice(0, 3)).toEqual([1, 2, 3]);
    expect(got.length).toBe(9);
  });

  it('top-k 1 is greedy at any temperature; the same seed gives the same text, another seed another', async () => {
    const model = v4();
    const greedy = await model.generate([4], { maxNewTokens: 8, temperature: 0 });
    expect(await model.generate([4], { maxNewTokens: 8, temperature: 5, topK: 1, seed: 7 })).toEqual(greedy);
    const a = await model.generate([4], { maxNewTokens: 30, temperature: 3, seed: 11 });
    const b = await model.generate([4], { maxNewTokens: 30, temperature: 3, seed: 11 });
    const c = await model.generate([4], { maxNewTokens: 30, temperature: 3, seed: 12 });
    expect(a).toEqual(b);
    expect(c).not.toEqual(a);
    for (const id of a) expect(id >= 0 && id < 9).toBe(true);
  });

  it('stops at the length, or early after a stop token', async () => {
    const model = v4();
    expect((await model.generate([0], { maxNewTokens: 0 })).length).toBe(1);
    const greedy = await model.generate([0], { maxNewTokens: 5, temperature: 0 });
    const stopAt = greedy[2]!;
    const stopped = await model.generate([0], { maxNewTokens: 5, temperature: 0, stopTokens: [stopAt] });
    expect(stopped).toEqual(greedy.slice(0, greedy.indexOf(stopAt, 1) + 1));
  });

  it('runs the mini LM and the GPT (its context capped at maxSeq)', async () => {
    const mini = new MiniMhcLM({ vocab: 7, hc: 2, c: 4, layers: 1, allowFp32: true, rng: new Random(1) });
    expect((await generate(mini, [1], { maxNewTokens: 4, seed: 1 })).length).toBe(5);
    const gpt = new GPT({ vocab: 7, dim: 8, heads: 2, layers: 1, hc: 2, maxSeq: 4, rng: new Random(2) });
    expect(gpt.maxContext).toBe(4);
    // 10 new tokens through a 4-position model: the window slides instead of overflowing.
    expect((await gpt.generate([1, 2], { maxNewTokens: 10, temperature: 0.7, topK: 3 })).length).toBe(12);
  });

  it('rejects bad options and prompts with typed errors', async () => {
    const model = v4();
    await expect(model.generate([], { maxNewTokens: 1 })).rejects.toBeInstanceOf(ArgumentError);
    await expect(model.generate([9], { maxNewTokens: 1 })).rejects.toThrow(/prompt/);
    await expect(model.generate([1], { maxNewTokens: -1 })).rejects.toThrow(/maxNewTokens/);
    await expect(model.generate([1], { maxNewTokens: 1, temperature: -1 })).rejects.toThrow(/temperature/);
    await expect(model.generate([1], { maxNewTokens: 1, topK: 0 })).rejects.toThrow(/topK/);
  });
});

describe('sampleNext', () => {
  it('draws from softmax(logits / T) restricted to the top k', () => {
    const logits = [0, Math.log(2), Math.log(3), -5];
    const rng = new Random(5);
    const counts = [0, 0, 0, 0];
    const n = 60000;
    for (let i = 0; i < n; i++) counts[sampleNext(logits, 1, 3, rng)]!++;
    // p = 1/6, 2/6, 3/6, 0 (the fourth is outside the top 3); 4 standard deviations of slack.
    const p = [1 / 6, 2 / 6, 3 / 6, 0];
    for (let i = 0; i < 4; i++)
      expect(Math.abs(counts[i]! / n - p[i]!)).toBeLessThan(4 * Math.sqrt((p[i]! * (1 - p[i]!)) / n) + 1e-9);
    // Temperature 0.5 squares the ratios: 1, 4, 9 over 14.
    const c2 = [0, 0, 0, 0];
    for (let i = 0; i < n; i++) c2[sampleNext(logits, 0.5, 4, rng)]!++;
    expect(Math.abs(c2[2]! / n - 9 / 14)).toBeLessThan(0.01);
  });

  it('greedy ties go to the lowest id', () => {
    expect(sampleNext([1, 3, 3, 2], 0, 4, new Random(0))).toBe(1);
  });
});

it('uses the backend the parameters live on', async () => {
  const be = await initBackend('cpu');
  const model = new TinyDeepseekV4({ vocab: 5, dim: 4, heads: 1, layers: 1, hc: 2, backend: be });
  expect((await model.generate([0, 1], { maxNewTokens: 2 })).length).toBe(4);
});
