import { ArgumentError } from '@liger-mhc/core';
import { afterAll, describe, expect, it } from 'vitest';
import type { KernelDef } from '../src/backend.js';
import { kernelParams, type ParamValues, type ParamViews, writeParams } from '../src/kernel-params.js';
import { SLOT_BYTES } from '../src/param-arenas.js';
import { gpu, skipReason } from './helpers.js';

function views(words = 64): ParamViews & { buffer: ArrayBuffer } {
  const buffer = new ArrayBuffer(words * 4);
  return { buffer, u: new Uint32Array(buffer), f: new Float32Array(buffer), i: new Int32Array(buffer) };
}

const offsets = (l: { fields: readonly { name: string; offset: number }[] }) =>
  Object.fromEntries(l.fields.map((f) => [f.name, f.offset]));

describe('kernelParams layout (WGSL uniform address space)', () => {
  it('packs scalars at 4-byte steps in declaration order; size is the end rounded to 4', () => {
    const l = kernelParams({ tokens: 'u32', eps: 'f32', ignore: 'i32' });
    expect(offsets(l)).toEqual({ tokens: 0, eps: 4, ignore: 8 });
    expect(l.align).toBe(4);
    expect(l.size).toBe(12);
    expect(l.fields.map((f) => [f.size, f.align])).toEqual([
      [4, 4],
      [4, 4],
      [4, 4],
    ]);
  });

  it('stores an array of n scalars as array<vec4<T>, ceil(n/4)>, 16-byte aligned', () => {
    const l = kernelParams({ n: 'u32', shape: { array: 'u32', length: 8 }, w: { array: 'f32', length: 5 } });
    // n at 0; shape at the next multiple of 16; w (two vec4s) right after shape's two.
    expect(offsets(l)).toEqual({ n: 0, shape: 16, w: 48 });
    expect(l.fields[1]!.size).toBe(32);
    expect(l.fields[2]!.size).toBe(32);
    expect(l.align).toBe(16);
    expect(l.size).toBe(80);
  });

  it('rounds the struct size up to its largest alignment (a scalar after an array)', () => {
    const l = kernelParams({ a: { array: 'i32', length: 4 }, b: 'f32' });
    expect(offsets(l)).toEqual({ a: 0, b: 16 });
    // roundUp(16, 20) = 32: SizeOf(struct) = roundUp(AlignOf(struct), end of last member).
    expect(l.size).toBe(32);
  });

  it('emits the struct, its binding and one accessor per array', () => {
    const l = kernelParams({ tokens: 'u32', eps: 'f32', strides: { array: 'i32', length: 3 } });
    expect(l.wgsl).toBe(
      [
        'struct Params {',
        '  tokens: u32,',
        '  eps: f32,',
        '  strides: array<vec4<i32>, 1>,',
        '}',
        '@group(0) @binding(0) var<uniform> params: Params;',
        'fn params_strides(i: u32) -> i32 { return params.strides[i >> 2u][i & 3u]; }',
        '',
      ].join('\n'),
    );
  });

  it('an empty schema declares nothing (no empty struct, which WGSL forbids)', () => {
    const l = kernelParams({});
    expect(l.wgsl).toBe('');
    expect(l.size).toBe(0);
  });

  it('every production schema fits the 256-byte parameter slot', async () => {
    const mods = await Promise.all([
      import('../src/kernels/mhc/coeffs-params.js'),
      import('../src/kernels/mhc/common.js'),
      import('../src/kernels/mhc/post_res.wgsl.js'),
      import('../src/kernels/mhc/post_res_coeffs_pre.wgsl.js'),
      import('../src/kernels/mhc/expand.wgsl.js'),
      import('../src/kernels/mhc/head.wgsl.js'),
      import('../src/kernels/mhc/pre_norm.wgsl.js'),
      import('../src/kernels/generic/attention.wgsl.js'),
      import('../src/kernels/generic/elementwise.wgsl.js'),
      import('../src/kernels/generic/embedding.wgsl.js'),
      import('../src/kernels/generic/layout.wgsl.js'),
      import('../src/kernels/generic/matmul.wgsl.js'),
      import('../src/kernels/generic/optim.wgsl.js'),
      import('../src/kernels/generic/reduce.wgsl.js'),
      import('../src/kernels/generic/rows.wgsl.js'),
    ]);
    const layouts = mods.flatMap((m) =>
      Object.values(m).filter(
        (v): v is ReturnType<typeof kernelParams> =>
          typeof v === 'object' && v !== null && 'fields' in v && 'wgsl' in v,
      ),
    );
    expect(layouts.length).toBeGreaterThan(30);
    for (const l of layouts) expect(l.size).toBeLessThanOrEqual(SLOT_BYTES);
  });

  it('rejects names WGSL cannot take and malformed types, naming the field', () => {
    expect(() => kernelParams({ '2x': 'u32' })).toThrow(ArgumentError);
    expect(() => kernelParams({ params: 'u32' })).toThrow(/params\.params/);
    expect(() => kernelParams({ type: 'u32' })).toThrow(ArgumentError);
    expect(() => kernelParams({ params_x: 'u32' })).toThrow(ArgumentError);
    expect(() => kernelParams({ a: 'f64' as 'f32' })).toThrow(/params\.a/);
    expect(() => kernelParams({ a: { array: 'u32', length: 0 } })).toThrow(/params\.a\.length/);
    expect(() => kernelParams({ a: { array: 'u32', length: 2.5 } })).toThrow(ArgumentError);
  });
});

describe('writeParams (the host writer)', () => {
  const L = kernelParams({
    tokens: 'u32',
    eps: 'f32',
    ignore: 'i32',
    shape: { array: 'u32', length: 8 },
  });

  it('writes each field at its offset with its type, from the slot base', () => {
    const v = views();
    const base = 16;
    writeParams(L, { tokens: 0xffffffff, eps: 1e-6, ignore: -100, shape: [3, 5, 7] }, v, base);
    expect(v.u[base + 0]).toBe(0xffffffff);
    expect(v.f[base + 1]).toBe(Math.fround(1e-6));
    expect(v.i[base + 2]).toBe(-100);
    expect(v.u[base + 3]).toBe(0); // padding before the 16-byte-aligned array
    expect(Array.from(v.u.subarray(base + 4, base + 12))).toEqual([3, 5, 7, 0, 0, 0, 0, 0]);
    // Nothing outside the slot's struct.
    expect(Array.from(v.u.subarray(0, base)).every((w) => w === 0)).toBe(true);
    expect(Array.from(v.u.subarray(base + L.size / 4)).every((w) => w === 0)).toBe(true);
  });

  const good: ParamValues<typeof L.schema> = { tokens: 4, eps: 0.5, ignore: 0, shape: [1] };
  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['missing field', { eps: 0.5, ignore: 0, shape: [1] }, /params\.tokens/],
    ['misspelt field', { ...good, tokns: 4 }, /params\.tokns.*valid: tokens, eps, ignore, shape/],
    ['string for a u32', { ...good, tokens: '4' }, /params\.tokens.*number/],
    ['negative u32', { ...good, tokens: -1 }, /params\.tokens.*u32/],
    ['fractional u32', { ...good, tokens: 1.5 }, /params\.tokens/],
    ['u32 past 2^32', { ...good, tokens: 2 ** 32 }, /params\.tokens/],
    ['i32 past 2^31', { ...good, ignore: 2 ** 31 }, /params\.ignore.*i32/],
    ['boolean for an f32', { ...good, eps: true }, /params\.eps/],
    ['array too long', { ...good, shape: [1, 2, 3, 4, 5, 6, 7, 8, 9] }, /params\.shape.*at most 8/],
    ['scalar for an array', { ...good, shape: 3 }, /params\.shape/],
    ['bad array element', { ...good, shape: [1, -2] }, /params\.shape\[1\]/],
  ];
  for (const [what, values, message] of bad)
    it(`${what}: ArgumentError naming the parameter, nothing written`, () => {
      const v = views();
      const call = () => writeParams(L, values as unknown as ParamValues<typeof L.schema>, v, 0, 'k');
      expect(call).toThrow(ArgumentError);
      expect(call).toThrow(message);
      expect(v.u.every((w) => w === 0)).toBe(true);
    });

  it('a mistyped or missing field is a compile-time error too', () => {
    const v = views();
    const check = (values: ParamValues<typeof L.schema>) => () => writeParams(L, values, v, 0);
    // @ts-expect-error tokens must be a number
    expect(check({ ...good, tokens: '4' })).toThrow(ArgumentError);
    // @ts-expect-error eps is missing
    expect(check({ tokens: 1, ignore: 0, shape: [] })).toThrow(ArgumentError);
    // @ts-expect-error shape is an array
    expect(check({ ...good, shape: 2 })).toThrow(ArgumentError);
  });
});

// On a device: the generated struct and the host writer agree (every type, arrays, padding).
const b = await gpu();
const d = b ? describe : describe.skip;
afterAll(() => b?.dispose());

d(`named parameters on the device${b ? '' : ` (skipped: ${skipReason()})`}`, () => {
  it('a kernel reads back what the host wrote, field by field', async () => {
    const be = b!;
    const P = kernelParams({
      a: 'u32',
      x: 'f32',
      s: { array: 'i32', length: 6 },
      k: 'i32',
      w: { array: 'f32', length: 3 },
    });
    const def: KernelDef<typeof P.schema> = {
      key: 'test_params_roundtrip',
      params: P,
      bufs: [{ name: 'o', dtype: 'f32', access: 'rw' }],
      body: `
@compute @workgroup_size(1)
fn main() {
  o[0] = f32(params.a);
  o[1] = params.x;
  for (var i = 0u; i < 6u; i++) { o[2u + i] = f32(params_s(i)); }
  o[8] = f32(params.k);
  for (var i = 0u; i < 3u; i++) { o[9u + i] = params_w(i); }
}
`,
    };
    const out = be.zeros([12], 'f32');
    be.dispatch(def, [out], { a: 123456, x: -2.5, s: [1, -2, 3, -4, 5, -6], k: -7, w: [0.25, 8, -1] }, 1);
    const got = Array.from((await be.read(out.handle)) as Float32Array);
    expect(got).toEqual([123456, -2.5, 1, -2, 3, -4, 5, -6, -7, 0.25, 8, -1]);
    be.disposeData(out.handle);
  });

  it('a bad parameter throws before anything is encoded', () => {
    const be = b!;
    const P = kernelParams({ n: 'u32' });
    const def: KernelDef<typeof P.schema> = {
      key: 'test_params_bad',
      params: P,
      bufs: [{ name: 'o', dtype: 'f32', access: 'rw' }],
      body: '@compute @workgroup_size(1)\nfn main() { o[0] = f32(params.n); }\n',
    };
    const out = be.zeros([1], 'f32');
    expect(() => be.dispatch(def, [out], { n: -1 }, 1)).toThrow(/params\.n/);
    be.disposeData(out.handle);
  });

  it('a kernel whose parameters outgrow the 256-byte slot is refused', () => {
    const be = b!;
    const P = kernelParams({ n: 'u32', big: { array: 'u32', length: 64 } });
    const def: KernelDef<typeof P.schema> = {
      key: 'test_params_too_big',
      params: P,
      bufs: [{ name: 'o', dtype: 'f32', access: 'rw' }],
      body: '@compute @workgroup_size(1)\nfn main() { o[0] = f32(params.n); }\n',
    };
    const out = be.zeros([1], 'f32');
    expect(() => be.dispatch(def, [out], { n: 1, big: [] }, 1)).toThrow(
      /272 bytes do not fit a 256-byte slot/,
    );
    be.disposeData(out.handle);
  });
});
