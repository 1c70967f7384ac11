import { compare, TOLERANCES } from '@liger-mhc/conformance';
import {
  CpuBackend,
  type DType,
  decode,
  encode,
  fromStorage,
  hasFusedAttention,
  mul,
  Random,
  ShapeError,
  scaledDotProductAttention,
  sizeOf,
  sum,
  type TensorInfo,
} from '@liger-mhc/core';
import { afterAll, describe, expect, it } from 'vitest';
import { gpu, skipReason } from './helpers.js';

/** Fused attention (forward and backward) against the CPU reference, on random data. */
const b = await gpu();
const d = b ? describe : describe.skip;
const cpu = new CpuBackend();
afterAll(() => b?.dispose());

const rng = new Random(99);

function put(
  be: CpuBackend | NonNullable<typeof b>,
  values: number[],
  shape: readonly number[],
  dtype: DType,
) {
  const h = be.alloc(dtype, sizeOf(shape));
  be.write(h, encode(dtype, values));
  return { handle: h, shape: [...shape], dtype } as TensorInfo;
}

function pair(shape: readonly number[], dtype: DType) {
  const v = Array.from({ length: sizeOf(shape) }, () => rng.normal());
  return { g: put(b!, v, shape, dtype), c: put(cpu, v, shape, dtype) };
}

async function same(gt: TensorInfo, ct: TensorInfo, what: string) {
  expect(gt.shape, what).toEqual(ct.shape);
  expect(gt.dtype, what).toBe(ct.dtype);
  const a = decode(gt.dtype, await b!.read(gt.handle));
  const e = decode(ct.dtype, cpu.readSync(ct.handle));
  expect(compare(a, e, TOLERANCES[ct.dtype]).ratio, what).toBeLessThanOrEqual(1);
}

// [batch, heads, Tq, Tk, D, causal, dtype]: odd lengths, several heads, head dims 16/32/64, odd D
// (half outputs through an f32 scratch), Tq != Tk without the mask, and lengths that span several
// workgroups and key tiles.
const CASES: [number, number, number, number, number, boolean, DType][] = [
  [1, 2, 5, 5, 16, true, 'f32'],
  [2, 1, 7, 9, 32, false, 'f32'],
  [1, 1, 3, 3, 64, true, 'f32'],
  [1, 3, 5, 5, 3, true, 'f32'],
  [1, 2, 6, 6, 16, true, 'bf16'],
  [1, 1, 5, 3, 32, false, 'f16'],
  [1, 1, 4, 4, 5, true, 'bf16'],
  // Past one workgroup of query rows (64) and one staged key tile (32 keys at D 64, 64 at D 32).
  [1, 2, 70, 70, 64, true, 'f32'],
  [1, 1, 67, 100, 32, false, 'bf16'],
];

d(`fused attention vs CPU${b ? '' : ` (skipped: ${skipReason()})`}`, () => {
  for (const [bs, h, tq, tk, dh, causal, dt] of CASES)
    it(`[${bs}, ${h}, ${tq}|${tk}, ${dh}] ${dt}${causal ? ' causal' : ''}: forward, lse and gradients`, async () => {
      const q = pair([bs, h, tq, dh], dt);
      const k = pair([bs, h, tk, dh], dt);
      const v = pair([bs, h, tk, dh], dt);
      const g = pair([bs, h, tq, dh], dt);
      const s = 1 / Math.sqrt(dh);
      const rg = b!.ops.attention!(q.g, k.g, v.g, causal, s);
      const rc = cpu.ops.attention(q.c, k.c, v.c, causal, s);
      await same(rg.out, rc.out, 'out');
      await same(rg.lse, rc.lse, 'lse');
      const gg = b!.ops.attentionBackward!(g.g, q.g, k.g, v.g, rg.out, rg.lse, causal, s);
      const gc = cpu.ops.attentionBackward(g.c, q.c, k.c, v.c, rc.out, rc.lse, causal, s);
      await same(gg.gradQ, gc.gradQ, 'gradQ');
      await same(gg.gradK, gc.gradK, 'gradK');
      await same(gg.gradV, gc.gradV, 'gradV');
      for (const t of [q, k, v, g]) {
        b!.disposeData(t.g.handle);
        cpu.disposeData(t.c.handle);
      }
      for (const t of [rg.out, rg.lse, gg.gradQ, gg.gradK, gg.gradV]) b!.disposeData(t.handle);
    });

  it('autograd: scaledDotProductAttention takes the fused path and its gradients match the CPU', async () => {
    expect(hasFusedAttention(b!)).toBe(true);
    const shape = [2, 2, 5, 16];
    const vals = [0, 1, 2, 3].map(() => Array.from({ length: sizeOf(shape) }, () => rng.normal()));
    const grads: Float32Array[][] = [];
    for (const be of [b!, cpu]) {
      const [q, k, v, w] = vals.map((x, i) =>
        fromStorage(encode('f32', x), shape, 'f32', { backend: be, requiresGrad: i < 3 }),
      );
      sum(mul(scaledDotProductAttention(q!, k!, v!, { causal: true }), w!)).backward();
      grads.push(await Promise.all([q!, k!, v!].map(async (t) => (await t.grad!.data()) as Float32Array)));
      for (const t of [q, k, v, w]) t!.dispose();
    }
    for (let i = 0; i < 3; i++)
      expect(compare(grads[0]![i]!, grads[1]![i]!, TOLERANCES.f32).ratio).toBeLessThanOrEqual(1);
  });

  it('rejects what the CPU rejects, before encoding anything', () => {
    const q = pair([1, 4, 8], 'f32');
    const k = pair([1, 5, 7], 'f32');
    expect(() => b!.ops.attention!(q.g, k.g, k.g, false, 1)).toThrow(ShapeError);
    expect(() => b!.ops.attention!(q.g, q.g, q.g, false, 0)).toThrow(/scale/);
    const wide = pair([1, 1, 257], 'f32');
    expect(() => b!.ops.attention!(wide.g, wide.g, wide.g, false, 1)).toThrow(/head dim/);
  });
});
