import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CHECKSUM_METADATA_KEY,
  deserializeStateDict,
  Linear,
  loadStateDict,
  Random,
  readSafetensors,
  readSafetensorsFile,
  SafetensorsError,
  saveStateDict,
  writeSafetensors,
} from '../src/index.js';

function le(kind: 'f64' | 'i64' | 'i16' | 'f32', values: number[]): Uint8Array {
  const size = kind === 'i16' ? 2 : kind === 'f32' ? 4 : 8;
  const out = new Uint8Array(values.length * size);
  const v = new DataView(out.buffer);
  values.forEach((x, i) => {
    if (kind === 'f64') v.setFloat64(i * 8, x, true);
    else if (kind === 'i64') v.setBigInt64(i * 8, BigInt(x), true);
    else if (kind === 'i16') v.setInt16(i * 2, x, true);
    else v.setFloat32(i * 4, x, true);
  });
  return out;
}

describe('safetensors dtypes and metadata', () => {
  it('a file with I64 tensors and metadata round-trips byte for byte', () => {
    const bytes = writeSafetensors(
      {
        ids: { dtype: 'I64', shape: [3], data: le('i64', [-5, 0, 2 ** 31 - 1]) },
        mask: { dtype: 'BOOL', shape: [2], data: new Uint8Array([1, 0]) },
        w: { dtype: 'F64', shape: [2], data: le('f64', [0.1, -3]) },
      },
      { format: 'pt', config: '{"hc":4}' },
    );
    const r = readSafetensors(bytes);
    expect({ ...r.metadata }).toEqual({ format: 'pt', config: '{"hc":4}' });
    expect(writeSafetensors(r.tensors, r.metadata)).toEqual(bytes);
    const state = deserializeStateDict(bytes, { backend: 'cpu' });
    expect(state.ids!.dtype).toBe('i32');
    expect(state.mask!.dtype).toBe('i32');
    expect(state.w!.dtype).toBe('f32');
    return Promise.all([state.ids!.data(), state.mask!.data(), state.w!.data()]).then(([ids, mask, w]) => {
      expect(Array.from(ids)).toEqual([-5, 0, 2 ** 31 - 1]);
      expect(Array.from(mask)).toEqual([1, 0]);
      expect(Array.from(w)).toEqual([Math.fround(0.1), -3]);
      for (const t of Object.values(state)) t.dispose();
    });
  });

  it('every integer dtype PyTorch writes loads as i32', async () => {
    const bytes = writeSafetensors({
      u8: { dtype: 'U8', shape: [2], data: new Uint8Array([0, 255]) },
      i8: { dtype: 'I8', shape: [2], data: new Uint8Array([0x80, 0x7f]) },
      i16: { dtype: 'I16', shape: [2], data: le('i16', [-32768, 32767]) },
      u16: { dtype: 'U16', shape: [1], data: new Uint8Array([0xff, 0xff]) },
      u32: { dtype: 'U32', shape: [1], data: new Uint8Array([0xff, 0xff, 0xff, 0x7f]) },
      u64: { dtype: 'U64', shape: [1], data: new Uint8Array([7, 0, 0, 0, 0, 0, 0, 0]) },
    });
    const s = deserializeStateDict(bytes, { backend: 'cpu' });
    expect(Array.from(await s.u8!.data())).toEqual([0, 255]);
    expect(Array.from(await s.i8!.data())).toEqual([-128, 127]);
    expect(Array.from(await s.i16!.data())).toEqual([-32768, 32767]);
    expect(Array.from(await s.u16!.data())).toEqual([65535]);
    expect(Array.from(await s.u32!.data())).toEqual([2 ** 31 - 1]);
    expect(Array.from(await s.u64!.data())).toEqual([7]);
    for (const t of Object.values(s)) t.dispose();
  });

  it('F8 formats decode to their exact values', async () => {
    // E4M3fn: 0x38 = 1.0, 0x7e = 448 (max), 0x01 = 2^-9 (min subnormal), 0xb8 = -1, 0x7f = NaN.
    // E5M2: 0x3c = 1.0, 0x7b = 57344 (max), 0x7c = Inf, 0x01 = 2^-16. E8M0: 127 = 1, 130 = 8, 0xff = NaN.
    const bytes = writeSafetensors({
      a: { dtype: 'F8_E4M3', shape: [5], data: new Uint8Array([0x38, 0x7e, 0x01, 0xb8, 0x7f]) },
      b: { dtype: 'F8_E5M2', shape: [4], data: new Uint8Array([0x3c, 0x7b, 0x7c, 0x01]) },
      c: { dtype: 'F8_E8M0', shape: [3], data: new Uint8Array([127, 130, 0xff]) },
    });
    const s = deserializeStateDict(bytes, { backend: 'cpu' });
    expect(Array.from(await s.a!.data())).toEqual([1, 448, 2 ** -9, -1, Number.NaN]);
    expect(Array.from(await s.b!.data())).toEqual([1, 57344, Number.POSITIVE_INFINITY, 2 ** -16]);
    expect(Array.from(await s.c!.data())).toEqual([1, 8, Number.NaN]);
    for (const t of Object.values(s)) t.dispose();
  });

  it('F64 and BF16 load into an f32 parameter, rounded; metadata comes back', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lmhc-st-'));
    try {
      const m = new Linear(2, 1, { rng: new Random(1), bias: false });
      const path = join(dir, 'w.safetensors');
      await writeFile(
        path,
        writeSafetensors(
          { weight: { dtype: 'F64', shape: [1, 2], data: le('f64', [0.1, 1e300]) } },
          { v: '1' },
        ),
      );
      const meta = await loadStateDict(m, path);
      expect(meta).toEqual({ v: '1' });
      expect(Array.from(await m.weight.data())).toEqual([Math.fround(0.1), Number.POSITIVE_INFINITY]);
      m.dispose();
    } finally {
      await rm(dir, { recursive: true });
    }
  });

  it('saveStateDict writes a checksum; a damaged checkpoint is refused on load', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lmhc-st-'));
    try {
      const m = new Linear(3, 2, { rng: new Random(1) });
      const path = join(dir, 'm.safetensors');
      await saveStateDict(m, path, { metadata: { config: '{"in":3}' } });
      const file = await readSafetensorsFile(path, { requireChecksum: true });
      expect(file.metadata.config).toBe('{"in":3}');
      expect(file.metadata[CHECKSUM_METADATA_KEY]).toMatch(/^[0-9a-f]{64}$/);
      const bytes = new Uint8Array(await readFile(path));
      bytes[bytes.length - 1]! ^= 0x10;
      await writeFile(path, bytes);
      await expect(loadStateDict(m, path)).rejects.toBeInstanceOf(SafetensorsError);
      await expect(loadStateDict(m, path)).rejects.toMatchObject({ rule: 'checksum' });
      m.dispose();
    } finally {
      await rm(dir, { recursive: true });
    }
  });

  it('the writer refuses bad input, naming it', () => {
    expect(() => writeSafetensors({ a: { dtype: 'F32', shape: [2], data: new Uint8Array(4) } })).toThrow(
      /tensors\['a'\]\.data/,
    );
    expect(() =>
      writeSafetensors({ a: { dtype: 'X' as 'F32', shape: [1], data: new Uint8Array(4) } }),
    ).toThrow(/unknown dtype X/);
    expect(() => writeSafetensors({}, { a: 1 as unknown as string })).toThrow(/metadata\['a'\]/);
    expect(() =>
      writeSafetensors({ __metadata__: { dtype: 'U8', shape: [0], data: new Uint8Array(0) } }),
    ).toThrow(/reserved/);
  });
});
