import { describe, expect, it } from 'vitest';
import {
  ArgumentError,
  CpuBackend,
  cast,
  encode,
  forwardMhcStack,
  fromStorage,
  LigerMHC,
  Linear,
  mul,
  Random,
  sum,
  type Tensor,
} from '../src/index.js';

/**
 * Recomputation blocks: a LigerMHC stack that keeps only each block's input and recomputes the block
 * in the backward gives the values and gradients of the stack that keeps everything, and the
 * recomputed block outputs are the forward's bit for bit.
 */

const bits = async (t: Tensor) => Array.from(new Uint32Array(Float32Array.from(await t.data()).buffer));

async function run(recomputeEvery?: number) {
  const cpu = new CpuBackend();
  const mods = Array.from({ length: 4 }, (_, i) => {
    const lin = new Linear(10, 10, { backend: cpu, rng: new Random(40 + i) });
    return new LigerMHC(lin, { hc: 4, c: 10, backend: cpu, rng: new Random(50 + i), alphaInit: 0.3 });
  });
  const rng = new Random(9);
  const v = Float64Array.from({ length: 3 * 4 * 10 }, () => rng.normal());
  const x = fromStorage(encode('bf16', v), [3, 4, 10], 'bf16', { backend: cpu, requiresGrad: true });
  const recomputed: number[][] = [];
  const pending: Promise<number[]>[] = [];
  const y = forwardMhcStack(mods, x, {
    recomputeEvery,
    onRecompute: (t) => {
      pending.push(bits(t));
    },
  });
  const forwardBits = await bits(y);
  const w = fromStorage(
    encode(
      'f32',
      v.map((a) => Math.cos(a)),
    ),
    [3, 4, 10],
    'f32',
    { backend: cpu },
  );
  const live = cpu.memory().liveBytes;
  sum(mul(cast(y, 'f32'), w)).backward();
  for (const p of pending) recomputed.push(await p);
  const grads: Record<string, number[]> = { x: await bits(x.grad!) };
  for (const [i, m] of mods.entries())
    for (const [name, p] of m.namedParameters()) grads[`${i}.${name}`] = await bits(p.grad!);
  return { forwardBits, recomputed, grads, live };
}

describe('forwardMhcStack with recomputation blocks', () => {
  it('recomputes each block bit-identically and gives the gradients of the stack that keeps everything', async () => {
    const kept = await run();
    const blocks = await run(2);
    expect(blocks.forwardBits).toEqual(kept.forwardBits);
    // Two blocks of two sublayers: the last block's recomputed output is the stack's output.
    expect(blocks.recomputed).toHaveLength(2);
    expect(blocks.recomputed[0]).toEqual(blocks.forwardBits);
    expect(Object.keys(blocks.grads)).toEqual(Object.keys(kept.grads));
    for (const k of Object.keys(kept.grads)) expect(blocks.grads[k], k).toEqual(kept.grads[k]);
    // Before the backward, the recomputing stack holds less (only block inputs and outputs).
    expect(blocks.live).toBeLessThan(kept.live);
  });

  it('rejects a bad block size', () => {
    const cpu = new CpuBackend();
    const x = fromStorage(encode('bf16', [1, 2]), [1, 2, 1], 'bf16', { backend: cpu });
    expect(() => forwardMhcStack([], x, { recomputeEvery: 0 })).toThrow(ArgumentError);
  });
});
