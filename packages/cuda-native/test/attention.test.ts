import {
  CpuBackend,
  type DType,
  decode,
  encode,
  hasFusedAttention,
  Random,
  ShapeError,
  sizeOf,
  type TensorInfo,
} from '@liger-mhc/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CudaBackend, createCudaBackend, cudaAvailable } from '../src/index.js';
import { compare, TOL } from './cases/util.js';

/** Fused attention (forward and backward) on the device against the CPU reference backend. */
const avail = cudaAvailable();
const cpu = new CpuBackend();
const rng = new Random(7);

// [batch, heads, Tq, Tk, D, causal, dtype]: odd lengths, several heads, head dims 16/32/64 and an
// odd one, Tq != Tk without the mask, and lengths past one block (64 rows) and one shared-memory
// tile (KT = 32 keys at D 128), so the tiling and the causal block bounds are exercised.
const CASES: [number, number, number, number, number, boolean, DType][] = [
  [1, 2, 5, 5, 16, true, 'f32'],
  [2, 1, 7, 9, 32, false, 'f32'],
  [1, 1, 3, 3, 64, true, 'f32'],
  [1, 3, 5, 5, 3, true, 'f32'],
  [1, 2, 6, 6, 16, true, 'bf16'],
  [1, 1, 5, 3, 32, false, 'f16'],
  [1, 1, 4, 4, 5, true, 'bf16'],
  [2, 3, 130, 130, 64, true, 'f32'],
  [1, 2, 97, 150, 128, false, 'f32'],
  [1, 2, 200, 200, 128, true, 'bf16'],
  [1, 1, 70, 70, 256, true, 'f16'],
];

describe.skipIf(!avail.ok)('fused attention on a CUDA device', () => {
  let be: CudaBackend;
  beforeAll(async () => {
    be = await createCudaBackend();
  });
  afterAll(() => be?.dispose());

  function pair(shape: readonly number[], dtype: DType) {
    const v = Array.from({ length: sizeOf(shape) }, () => rng.normal());
    const put = (b: CudaBackend | CpuBackend): TensorInfo => {
      const h = b.alloc(dtype, v.length);
      b.write(h, encode(dtype, v));
      return { handle: h, shape: [...shape], dtype };
    };
    return { g: put(be), c: put(cpu) };
  }

  async function same(gt: TensorInfo, ct: TensorInfo, what: string) {
    expect(gt.shape, what).toEqual(ct.shape);
    expect(gt.dtype, what).toBe(ct.dtype);
    const a = decode(gt.dtype, await be.read(gt.handle));
    const e = decode(ct.dtype, cpu.readSync(ct.handle));
    const c = compare(what, what, a, e, TOL[ct.dtype]);
    expect(c.ratio, what).toBeLessThanOrEqual(1);
  }

  it('declares fused attention', () => {
    expect(hasFusedAttention(be)).toBe(true);
  });

  for (const [bs, h, tq, tk, dh, causal, dt] of CASES)
    it(`[${bs}, ${h}, ${tq}|${tk}, ${dh}] ${dt}${causal ? ' causal' : ''}: forward, lse and gradients`, async () => {
      const q = pair([bs, h, tq, dh], dt);
      const k = pair([bs, h, tk, dh], dt);
      const v = pair([bs, h, tk, dh], dt);
      const g = pair([bs, h, tq, dh], dt);
      const s = 1 / Math.sqrt(dh);
      const rg = be.ops.attention!(q.g, k.g, v.g, causal, s);
      const rc = cpu.ops.attention(q.c, k.c, v.c, causal, s);
      await same(rg.out, rc.out, 'out');
      await same(rg.lse, rc.lse, 'lse');
      const gg = be.ops.attentionBackward!(g.g, q.g, k.g, v.g, rg.out, rg.lse, causal, s);
      const gc = cpu.ops.attentionBackward(g.c, q.c, k.c, v.c, rc.out, rc.lse, causal, s);
      await same(gg.gradQ, gc.gradQ, 'gradQ');
      await same(gg.gradK, gc.gradK, 'gradK');
      await same(gg.gradV, gc.gradV, 'gradV');
      for (const t of [q, k, v, g]) {
        be.disposeData(t.g.handle);
        cpu.disposeData(t.c.handle);
      }
      for (const t of [rg.out, rg.lse, gg.gradQ, gg.gradK, gg.gradV]) be.disposeData(t.handle);
    });

  it('rejects what the CPU rejects, before launching anything', () => {
    const q = pair([1, 4, 8], 'f32');
    const k = pair([1, 5, 7], 'f32');
    expect(() => be.ops.attention!(q.g, k.g, k.g, false, 1)).toThrow(ShapeError);
    expect(() => be.ops.attention!(q.g, q.g, q.g, false, 0)).toThrow(/scale/);
    const wide = pair([1, 1, 257], 'f32');
    expect(() => be.ops.attention!(wide.g, wide.g, wide.g, false, 1)).toThrow(/head dim/);
  });
});
