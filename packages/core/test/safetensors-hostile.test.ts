import { describe, expect, it } from 'vitest';
import {
  deserializeStateDict,
  LigerMHC,
  Linear,
  loadSafetensorsInto,
  Random,
  readSafetensors,
  SafetensorsError,
  type SafetensorsRule,
  writeSafetensors,
} from '../src/index.js';

/**
 * Hand-made hostile and malformed safetensors files. Each must be refused with a SafetensorsError
 * naming the broken rule (and the tensor, where the rule is about one); nothing may load silently.
 */

const enc = new TextEncoder();

/** A file from a raw header (string or bytes), a data section, and optionally a forged length. */
function file(header: string | Uint8Array, data: Uint8Array | number = 0, length?: bigint): Uint8Array {
  const h = typeof header === 'string' ? enc.encode(header) : header;
  const d = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + h.length + d.length);
  new DataView(out.buffer).setBigUint64(0, length ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(d, 8 + h.length);
  return out;
}
const entry = (dtype: unknown, shape: unknown, offs: unknown) => ({ dtype, shape, data_offsets: offs });
const json = (o: unknown) => JSON.stringify(o);
const one = (e: unknown, data: number) => file(json({ t: e }), data);

type Case = [string, () => Uint8Array, SafetensorsRule, (string | null)?];

const cases: Case[] = [
  ['empty file', () => new Uint8Array(0), 'file-too-short'],
  ['7 bytes', () => new Uint8Array(7), 'file-too-short'],
  ['header length 120 MB', () => file('{}', 0, 120_000_000n), 'header-too-large'],
  ['header length 100 MB + 1', () => file('{}', 0, 100_000_001n), 'header-too-large'],
  ['header length 2^64 - 1', () => file('{}', 0, 0xffffffffffffffffn), 'header-too-large'],
  ['header length past the file', () => file('{}', 0, 3n), 'header-out-of-file'],
  ['header length 0', () => file('', 0), 'header-start'],
  ['header starts with junk', () => file('x{}'), 'header-start'],
  ['header starts with a space', () => file(' {}'), 'header-start'],
  ['header starts with a BOM', () => file('\ufeff{}'), 'header-start'],
  ['header is a JSON array', () => file('[]'), 'header-start'],
  ['header is a string', () => file('"{}"'), 'header-start'],
  [
    'invalid UTF-8 in a name',
    () => file(new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x7b, 0x7d, 0x7d])),
    'header-utf8',
  ],
  [
    'overlong UTF-8 encoding',
    () => file(new Uint8Array([0x7b, 0x22, 0xc0, 0xaf, 0x22, 0x3a, 0x7b, 0x7d, 0x7d])),
    'header-utf8',
  ],
  [
    'UTF-8-encoded surrogate',
    () => file(new Uint8Array([0x7b, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x3a, 0x7b, 0x7d, 0x7d])),
    'header-utf8',
  ],
  [
    'truncated UTF-8 sequence',
    () => file(new Uint8Array([0x7b, 0x22, 0xe2, 0x82, 0x22, 0x7d])),
    'header-utf8',
  ],
  ['truncated JSON', () => file('{"t":'), 'header-json'],
  ['not JSON after the brace', () => file('{hello}'), 'header-json'],
  ['trailing garbage after the object', () => file('{} x'), 'header-json'],
  ['NUL padding instead of spaces', () => file('{}\0\0\0\0\0\0'), 'header-json'],
  ['single-quoted key', () => file("{'t':{}}"), 'header-json'],
  ['trailing comma', () => file('{"__metadata__":{},}'), 'header-json'],
  ['control character in a name', () => file('{"a\u0001b":{}}'), 'header-json'],
  ['invalid escape in a name', () => file('{"a\\qb":{}}'), 'header-json'],
  ['lone high surrogate escape in a name', () => file('{"\\ud800":{}}'), 'header-json'],
  ['lone low surrogate escape in a name', () => file('{"\\udc00x":{}}'), 'header-json'],
  ['NaN literal', () => file('{"t":{"dtype":"F32","shape":[NaN],"data_offsets":[0,4]}}', 4), 'header-json'],
  ['entry is a number', () => file('{"t":1}'), 'entry-not-object', 't'],
  ['entry is null', () => file('{"t":null}'), 'entry-not-object', 't'],
  ['entry is an array', () => file('{"t":[]}'), 'entry-not-object', 't'],
  ['__metadata__ is an array', () => file('{"__metadata__":[]}'), 'metadata-not-object'],
  ['__metadata__ is a string', () => file('{"__metadata__":"x"}'), 'metadata-not-object'],
  ['metadata value is a number', () => file('{"__metadata__":{"a":1}}'), 'metadata-value'],
  ['metadata value is null', () => file('{"__metadata__":{"a":null}}'), 'metadata-value'],
  ['metadata value is an object', () => file('{"__metadata__":{"a":{}}}'), 'metadata-value'],
  ['metadata value is an array', () => file('{"__metadata__":{"a":["x"]}}'), 'metadata-value'],
  ['metadata nested 4 deep', () => file('{"__metadata__":{"a":{"b":{}}}}'), 'header-too-deep'],
  [
    'metadata nested 100,000 deep',
    () => file(`{"__metadata__":{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}}`),
    'header-too-deep',
  ],
  ['entry nested 100,000 deep', () => file(`{"t":{"shape":${'['.repeat(100_000)}}}`), 'header-too-deep', 't'],
  [
    'duplicate tensor names',
    () => file(`{"t":${json(entry('U8', [1], [0, 1]))},"t":${json(entry('U8', [1], [1, 2]))}}`, 2),
    'duplicate-name',
    't',
  ],
  [
    'duplicate __metadata__',
    () => file('{"__metadata__":{},"__metadata__":{}}'),
    'duplicate-name',
    '__metadata__',
  ],
  [
    'duplicate metadata key',
    () => file('{"__metadata__":{"a":"1","a":"2"}}'),
    'duplicate-name',
    '__metadata__',
  ],
  [
    'duplicate field in an entry',
    () => file('{"t":{"dtype":"U8","dtype":"I8","shape":[1],"data_offsets":[0,1]}}', 1),
    'duplicate-name',
    't',
  ],
  [
    'names equal after escape decoding',
    () => file(`{"t":${json(entry('U8', [1], [0, 1]))},"\\u0074":${json(entry('U8', [1], [1, 2]))}}`, 2),
    'duplicate-name',
    't',
  ],
  ['missing dtype', () => one({ shape: [1], data_offsets: [0, 1] }, 1), 'entry-fields', 't'],
  ['missing shape', () => one({ dtype: 'U8', data_offsets: [0, 1] }, 1), 'entry-fields', 't'],
  ['missing data_offsets', () => one({ dtype: 'U8', shape: [1] }, 1), 'entry-fields', 't'],
  ['unknown field', () => one({ ...entry('U8', [1], [0, 1]), extra: 1 }, 1), 'entry-fields', 't'],
  ['unknown dtype F128', () => one(entry('F128', [1], [0, 16]), 16), 'dtype-unknown', 't'],
  ['lower-case dtype', () => one(entry('f32', [1], [0, 4]), 4), 'dtype-unknown', 't'],
  ['dtype is a number', () => one(entry(4, [1], [0, 4]), 4), 'dtype-unknown', 't'],
  ['dtype __proto__', () => one(entry('__proto__', [1], [0, 4]), 4), 'dtype-unknown', 't'],
  ['dtype toString', () => one(entry('toString', [1], [0, 4]), 4), 'dtype-unknown', 't'],
  ['dtype null', () => one(entry(null, [1], [0, 4]), 4), 'dtype-unknown', 't'],
  ['negative dimension', () => one(entry('U8', [-1], [0, 0]), 0), 'shape', 't'],
  ['fractional dimension', () => one(entry('U8', [2.5], [0, 2]), 2), 'shape', 't'],
  [
    'exponent dimension 1e1',
    () => file('{"t":{"dtype":"U8","shape":[1e1],"data_offsets":[0,10]}}', 10),
    'shape',
    't',
  ],
  ['dimension -0', () => file('{"t":{"dtype":"U8","shape":[-0],"data_offsets":[0,0]}}'), 'shape', 't'],
  ['dimension as a string', () => one(entry('U8', ['2'], [0, 2]), 2), 'shape', 't'],
  ['shape is a number', () => one(entry('U8', 2, [0, 2]), 2), 'shape', 't'],
  ['shape holds null', () => one(entry('U8', [null], [0, 2]), 2), 'shape', 't'],
  [
    'dimension 2^53',
    () => file('{"t":{"dtype":"U8","shape":[9007199254740992],"data_offsets":[0,0]}}'),
    'shape',
    't',
  ],
  [
    'dimension with 500 digits',
    () => file(`{"t":{"dtype":"U8","shape":[${'9'.repeat(500)}],"data_offsets":[0,0]}}`),
    'header-json',
  ],
  [
    'shape product overflows',
    () => one(entry('U8', [2 ** 30, 2 ** 30, 2 ** 30], [0, 0]), 0),
    'shape-overflow',
    't',
  ],
  ['negative offsets reading header bytes', () => one(entry('F32', [2], [-8, 0]), 0), 'offsets', 't'],
  ['begin after end', () => one(entry('U8', [0], [4, 0]), 4), 'offsets', 't'],
  ['three offsets', () => one(entry('U8', [1], [0, 1, 2]), 2), 'offsets', 't'],
  ['one offset', () => one(entry('U8', [1], [1]), 1), 'offsets', 't'],
  ['fractional offset', () => one(entry('U8', [1], [0, 1.5]), 1), 'offsets', 't'],
  ['offsets as strings', () => one(entry('U8', [1], ['0', '1']), 1), 'offsets', 't'],
  [
    'offset beyond 2^53',
    () => file('{"t":{"dtype":"U8","shape":[1],"data_offsets":[9007199254740993,9007199254740994]}}', 1),
    'offsets',
    't',
  ],
  ['byte length short', () => one(entry('F32', [2], [0, 4]), 4), 'byte-length', 't'],
  ['byte length long', () => one(entry('F32', [1], [0, 8]), 8), 'byte-length', 't'],
  ['I64 shape with I32 span', () => one(entry('I64', [2], [0, 8]), 8), 'byte-length', 't'],
  ['F4 with an odd count', () => one(entry('F4', [3], [0, 2]), 2), 'byte-length', 't'],
  ['F6 not filling a byte', () => one(entry('F6_E2M3', [1], [0, 1]), 1), 'byte-length', 't'],
  [
    'two tensors on one range',
    () => file(json({ a: entry('U8', [4], [0, 4]), b: entry('U8', [4], [0, 4]) }), 4),
    'offsets-overlap',
  ],
  [
    '200 tensors aliasing one 4 KB range',
    () =>
      file(
        json(
          Object.fromEntries(
            Array.from({ length: 200 }, (_, i) => [`w${i}`, entry('F32', [1024], [0, 4096])]),
          ),
        ),
        4096,
      ),
    'offsets-overlap',
  ],
  [
    'partial overlap',
    () => file(json({ a: entry('U8', [4], [0, 4]), b: entry('U8', [4], [2, 6]) }), 6),
    'offsets-overlap',
    'b',
  ],
  [
    'hole between tensors',
    () => file(json({ a: entry('U8', [2], [0, 2]), b: entry('U8', [2], [3, 5]) }), 5),
    'offsets-hole',
    'b',
  ],
  ['first tensor not at 0', () => one(entry('U8', [2], [2, 4]), 4), 'offsets-hole', 't'],
  ['offsets past the data section', () => one(entry('F32', [4], [0, 16]), 8), 'offsets-out-of-file', 't'],
  [
    'offsets far past the file',
    () => one(entry('U8', [1000000], [0, 1000000]), 8),
    'offsets-out-of-file',
    't',
  ],
  ['trailing bytes after the last tensor', () => one(entry('U8', [2], [0, 2]), 3), 'trailing-bytes'],
  ['data but no tensors', () => file('{}', 8), 'trailing-bytes'],
  ['metadata only, with data', () => file('{"__metadata__":{"a":"b"}}', 1), 'trailing-bytes'],
  [
    'header length cut inside the JSON',
    () => {
      const f = file(json({ t: entry('U8', [2], [0, 2]) }), 2);
      new DataView(f.buffer).setBigUint64(0, 10n, true);
      return f;
    },
    'header-json',
  ],
];

describe('safetensors reader: hostile files', () => {
  it('the table holds at least 60 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(60);
  });

  for (const [name, make, rule, tensor] of cases)
    it(`refuses: ${name} (${rule})`, () => {
      let err: unknown;
      try {
        readSafetensors(make());
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SafetensorsError);
      const se = err as SafetensorsError;
      expect(se.rule).toBe(rule);
      if (tensor !== undefined) expect(se.tensor).toBe(tensor);
      expect(se.message).toContain(`[${rule}]`);
      if (se.tensor) expect(se.message).toContain(`'${se.tensor}'`);
    });

  it('a tensor named __proto__ is only a name: no prototype changes', () => {
    // An object literal's __proto__ key sets the prototype, so the header is written by hand.
    const g = file(
      '{"__proto__":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"x":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}',
      new Uint8Array([7, 9]),
    );
    const r = readSafetensors(g);
    expect([...r.tensors.keys()]).toEqual(['__proto__', 'x']);
    expect(r.tensors.get('__proto__')!.data[0]).toBe(7);
    const state = deserializeStateDict(g, { backend: 'cpu' });
    expect(Object.getPrototypeOf(state)).toBe(null);
    expect(Object.keys(state).sort()).toEqual(['__proto__', 'x']);
    expect(({} as Record<string, unknown>).dtype).toBeUndefined();
    for (const t of Object.values(state)) t.dispose();
  });

  it('metadata keys such as __proto__ and constructor stay plain strings', () => {
    const r = readSafetensors(file('{"__metadata__":{"__proto__":"p","constructor":"c","format":"pt"}}'));
    expect(Object.getPrototypeOf(r.metadata)).toBe(null);
    expect(Object.keys(r.metadata)).toEqual(['__proto__', 'constructor', 'format']);
    expect(Object.getOwnPropertyDescriptor(r.metadata, '__proto__')?.value).toBe('p');
  });

  it('offsets out of header order but contiguous are valid (the format sorts by offset)', () => {
    const r = readSafetensors(
      file(
        json({ b: entry('U8', [1], [2, 3]), a: entry('U8', [2], [0, 2]), e: entry('U8', [0], [3, 3]) }),
        new Uint8Array([1, 2, 3]),
      ),
    );
    expect([...r.tensors.keys()]).toEqual(['a', 'b', 'e']);
    expect(Array.from(r.tensors.get('b')!.data)).toEqual([3]);
    expect(r.tensors.get('e')!.data.length).toBe(0);
  });

  it('tensors are views into the file, never copies', () => {
    const bytes = writeSafetensors({ a: { dtype: 'F32', shape: [2], data: new Uint8Array(8).fill(1) } });
    const r = readSafetensors(bytes);
    const d = r.tensors.get('a')!.data;
    expect(d.buffer).toBe(bytes.buffer);
    expect(d.byteOffset + d.length).toBe(bytes.length);
  });

  it('conversions refuse what does not fit, naming the tensor', () => {
    const i64 = new Uint8Array(16);
    new DataView(i64.buffer).setBigInt64(8, 2n ** 40n, true);
    const cases: [string, Uint8Array, SafetensorsRule][] = [
      [
        'I64 over the i32 range',
        writeSafetensors({ big: { dtype: 'I64', shape: [2], data: i64 } }),
        'value-out-of-range',
      ],
      [
        'BOOL byte 2',
        writeSafetensors({ big: { dtype: 'BOOL', shape: [1], data: new Uint8Array([2]) } }),
        'value-out-of-range',
      ],
      [
        'U32 over 2^31',
        writeSafetensors({ big: { dtype: 'U32', shape: [1], data: new Uint8Array([0, 0, 0, 0x80]) } }),
        'value-out-of-range',
      ],
      [
        'C64',
        writeSafetensors({ big: { dtype: 'C64', shape: [1], data: new Uint8Array(8) } }),
        'dtype-unsupported',
      ],
      [
        'F4',
        writeSafetensors({ big: { dtype: 'F4', shape: [2], data: new Uint8Array(1) } }),
        'dtype-unsupported',
      ],
      [
        'F6_E3M2',
        writeSafetensors({ big: { dtype: 'F6_E3M2', shape: [4], data: new Uint8Array(3) } }),
        'dtype-unsupported',
      ],
    ];
    for (const [, bytes, rule] of cases) {
      let err: unknown;
      try {
        deserializeStateDict(bytes, { backend: 'cpu' });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SafetensorsError);
      expect((err as SafetensorsError).rule).toBe(rule);
      expect((err as SafetensorsError).tensor).toBe('big');
    }
  });

  it('loading into a module checks dtype per parameter: I32 data never fills an f32 parameter', async () => {
    const m = new LigerMHC(new Linear(4, 4, { rng: new Random(1) }), { hc: 2, c: 4, rng: new Random(2) });
    const state = m.stateDict();
    const before = Array.from(await m.phi.data());
    const tensors: Record<string, { dtype: 'F32' | 'I32'; shape: number[]; data: Uint8Array }> = {};
    for (const [k, t] of Object.entries(state)) {
      const raw = await t.dataRaw();
      tensors[k] = {
        dtype: k === 'b' ? 'I32' : 'F32',
        shape: [...t.shape],
        data: new Uint8Array(raw.buffer.slice(0)),
      };
    }
    const bytes = writeSafetensors(tensors);
    await expect(loadSafetensorsInto(m, readSafetensors(bytes))).rejects.toMatchObject({
      rule: 'dtype-unsupported',
      tensor: 'b',
    });
    // Nothing was written before the check failed.
    expect(Array.from(await m.phi.data())).toEqual(before);
    m.dispose();
  });

  it('negative offsets cannot reach a module either', async () => {
    const m = new Linear(1, 2, { rng: new Random(1), bias: false });
    const bad = file('{"weight":{"dtype":"F32","shape":[2,1],"data_offsets":[-8,0]}}', 0);
    let err: unknown;
    try {
      await loadSafetensorsInto(m, readSafetensors(bad));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SafetensorsError);
    expect((err as SafetensorsError).rule).toBe('offsets');
    m.dispose();
  });
});
