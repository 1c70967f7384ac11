import { describe, expect, it } from 'vitest';
import {
  bf16ToF32,
  f16ToF32,
  f32ToBf16,
  f32ToF16,
  fromStorage,
  full,
  ones,
  Random,
  randn,
  ShapeError,
  tensor,
  zeros,
} from '../src/index.js';

describe('dtypes', () => {
  it('bf16 rounds to nearest even and round-trips exactly representable values', () => {
    expect(bf16ToF32(f32ToBf16(1))).toBe(1);
    expect(bf16ToF32(f32ToBf16(-2.5))).toBe(-2.5);
    // 1 + 2^-8 is halfway between bf16 neighbours 1 and 1 + 2^-7: ties to even -> 1.
    expect(bf16ToF32(f32ToBf16(1 + 2 ** -8))).toBe(1);
    expect(bf16ToF32(f32ToBf16(1 + 3 * 2 ** -8))).toBe(1 + 2 ** -6);
    expect(Number.isNaN(bf16ToF32(f32ToBf16(Number.NaN)))).toBe(true);
  });

  it('f16 handles normals, subnormals, overflow and ties', () => {
    expect(f16ToF32(f32ToF16(1))).toBe(1);
    expect(f16ToF32(f32ToF16(65504))).toBe(65504);
    expect(f16ToF32(f32ToF16(70000))).toBe(Number.POSITIVE_INFINITY);
    expect(f16ToF32(f32ToF16(2 ** -24))).toBe(2 ** -24);
    expect(f16ToF32(f32ToF16(1 + 2 ** -11))).toBe(1);
    expect(f16ToF32(f32ToF16(1 + 3 * 2 ** -11))).toBe(1 + 2 ** -9);
    expect(f32ToF16(-0)).toBe(0x8000);
  });
});

describe('tensors', () => {
  it('from nested arrays, with shape and dtype', async () => {
    const t = tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(t.shape).toEqual([2, 3]);
    expect(Array.from(await t.data())).toEqual([1, 2, 3, 4, 5, 6]);
    const b = tensor([1.00390625, 3], [2], { dtype: 'bf16' });
    expect(Array.from(await b.data())).toEqual([1, 3]);
    expect(() => tensor([[1, 2], [3]])).toThrow(ShapeError);
    expect(() => tensor([1, 2, 3], [2, 2])).toThrow(
      'shape: expected shape a shape with 3 elements, got [2, 2]',
    );
    expect(() => tensor([1.5], [1], { dtype: 'i32' })).toThrow(
      'data: i32 tensors need integers, got 1.5 at index 0',
    );
  });

  it('fill, zeros, ones, raw storage, seeded randn', async () => {
    expect(Array.from(await full([2], 7).data())).toEqual([7, 7]);
    expect(Array.from(await zeros([2], { dtype: 'bf16' }).data())).toEqual([0, 0]);
    expect(Array.from(await ones([1, 2], { dtype: 'i32' }).data())).toEqual([1, 1]);
    const raw = fromStorage(new Uint16Array([0x3f80, 0x4000]), [2], 'bf16');
    expect(Array.from(await raw.data())).toEqual([1, 2]);
    expect(Array.from(await raw.dataRaw())).toEqual([0x3f80, 0x4000]);
    const a = await randn([5], { rng: new Random(3) }).data();
    const b = await randn([5], { rng: new Random(3) }).data();
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(new Set(a).size).toBe(5);
  });

  it('reshape shares storage; dispose of one view keeps the other alive', async () => {
    const t = tensor([1, 2, 3, 4], [4]);
    const v = t.reshape([2, -1]);
    expect(v.shape).toEqual([2, 2]);
    t.dispose();
    expect(Array.from(await v.data())).toEqual([1, 2, 3, 4]);
    expect(() => t.reshape([3])).toThrow(/disposed/);
    expect(() => v.reshape([3])).toThrow(ShapeError);
  });

  it('to() copies onto another backend', async () => {
    const t = tensor([1, 2], [2], { dtype: 'f16' });
    const c = await t.to('cpu');
    expect(c).not.toBe(t);
    expect(c.dtype).toBe('f16');
    expect(Array.from(await c.data())).toEqual([1, 2]);
  });
});
