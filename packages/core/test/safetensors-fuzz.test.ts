import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CHECKSUM_METADATA_KEY,
  checkpointDigest,
  readSafetensors,
  SAFETENSORS_DTYPES,
  type SafetensorsDType,
  SafetensorsError,
  type SafetensorsFile,
  safetensorsDataSection,
  safetensorsDTypeBits,
  verifyChecksum,
  writeSafetensors,
} from '../src/index.js';

/**
 * Mutation fuzzing of the reader: valid files written by writeSafetensors (with a data checksum)
 * are damaged at random (byte flips, forged header lengths, truncation, appended or spliced
 * bytes). Each damaged file must either be refused with a SafetensorsError, or read back as
 * exactly the tensors that were written; nothing else is allowed (no other error type, no
 * silently different contents).
 */

type Written = { name: string; dtype: SafetensorsDType; shape: number[]; data: Uint8Array };

const name = fc.oneof(
  fc.string({ minLength: 0, maxLength: 6 }),
  fc.constantFrom('__proto__', 'constructor', 'toString', 'layer.0.weight', 'ü€😀'),
);
const tensorArb = fc
  .record({
    name,
    dtype: fc.constantFrom(...SAFETENSORS_DTYPES),
    shape: fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 0, maxLength: 3 }),
  })
  .chain((t) => {
    let count = t.shape.reduce((a, b) => a * b, 1);
    // Sub-byte dtypes need a whole number of bytes: round the element count up to fill them.
    const bits = safetensorsDTypeBits(t.dtype);
    while ((count * bits) % 8 !== 0) {
      t.shape = [...t.shape, 1].map((d, i, a) => (i === a.length - 1 ? 1 : d));
      t.shape[0] = (t.shape[0] ?? 0) + 1;
      count = t.shape.reduce((a, b) => a * b, 1);
    }
    return fc
      .uint8Array({ minLength: (count * bits) / 8, maxLength: (count * bits) / 8 })
      .map((data) => ({ ...t, data }));
  });
const filesArb = fc
  .uniqueArray(tensorArb, { selector: (t) => t.name, minLength: 0, maxLength: 5 })
  .filter((ts) => ts.every((t) => t.name !== '__metadata__'))
  .chain((ts) =>
    fc
      .dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 8 }), { maxKeys: 3 })
      .map((meta) => ({ ts: ts as Written[], meta })),
  );

async function build(ts: Written[], meta: Record<string, string>): Promise<Uint8Array> {
  const tensors = new Map(ts.map((t) => [t.name, { dtype: t.dtype, shape: t.shape, data: t.data }]));
  const plain = writeSafetensors(tensors, meta);
  const digest = await checkpointDigest(plain, readSafetensors(plain));
  return writeSafetensors(tensors, { ...meta, [CHECKSUM_METADATA_KEY]: digest });
}

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('length' as const), delta: fc.integer({ min: -64, max: 64 }) }),
  fc.record({ kind: fc.constant('truncate' as const), keep: fc.nat() }),
  fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({
    kind: fc.constant('splice' as const),
    at: fc.nat(),
    text: fc.constantFrom(
      '-1',
      '9',
      ',',
      '"',
      '{',
      '}',
      '[',
      ']',
      ' ',
      '\\u0000',
      'e9',
      '.5',
      'null',
      '"I64"',
      '"F32"',
    ),
  }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(src: Uint8Array, ms: Mutation[]): Uint8Array {
  let b = src.slice();
  for (const m of ms) {
    if (m.kind === 'flip' && b.length) b[m.at % b.length]! ^= 1 << m.bit;
    else if (m.kind === 'set' && b.length) b[m.at % b.length] = m.value;
    else if (m.kind === 'length' && b.length >= 8) {
      const v = new DataView(b.buffer, b.byteOffset, 8);
      v.setBigUint64(0, v.getBigUint64(0, true) + BigInt(m.delta), true);
    } else if (m.kind === 'truncate') b = b.slice(0, m.keep % (b.length + 1));
    else if (m.kind === 'append') {
      const c = new Uint8Array(b.length + m.bytes.length);
      c.set(b);
      c.set(m.bytes, b.length);
      b = c;
    } else if (m.kind === 'splice') {
      const t = new TextEncoder().encode(m.text);
      const at = m.at % (b.length + 1);
      const c = new Uint8Array(b.length + t.length);
      c.set(b.subarray(0, at));
      c.set(t, at);
      c.set(b.subarray(at), at + t.length);
      b = c;
    }
  }
  return b;
}

function sameAsWritten(r: SafetensorsFile, ts: Written[], meta: Record<string, string>): boolean {
  if (r.tensors.size !== ts.length) return false;
  for (const t of ts) {
    const e = r.tensors.get(t.name);
    if (!e || e.dtype !== t.dtype || e.shape.join() !== t.shape.join()) return false;
    if (e.data.length !== t.data.length || e.data.some((v, i) => v !== t.data[i])) return false;
  }
  const got = { ...r.metadata };
  delete got[CHECKSUM_METADATA_KEY];
  return JSON.stringify(Object.entries(got).sort()) === JSON.stringify(Object.entries(meta).sort());
}

describe('safetensors reader: mutation fuzzing', () => {
  it('every valid file round-trips exactly', async () => {
    await fc.assert(
      fc.asyncProperty(filesArb, async ({ ts, meta }) => {
        const bytes = await build(ts, meta);
        const r = readSafetensors(bytes);
        await verifyChecksum(bytes, r);
        expect(sameAsWritten(r, ts, meta)).toBe(true);
      }),
      { numRuns: 300, seed: 1 },
    );
  });

  it('mutated files: a SafetensorsError or exactly the tensors written (3,000 files)', async () => {
    let refused = 0;
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(
        filesArb,
        fc.array(mutation, { minLength: 1, maxLength: 3 }),
        async ({ ts, meta }, ms) => {
          const bytes = mutate(await build(ts, meta), ms);
          let r: SafetensorsFile;
          try {
            r = readSafetensors(bytes);
          } catch (e) {
            if (!(e instanceof SafetensorsError)) throw e;
            refused++;
            return;
          }
          // Whatever the reader accepts is consistent with the bytes: the views tile the data section.
          const data = safetensorsDataSection(bytes);
          let at = 0;
          for (const e of r.tensors.values()) {
            expect(e.data.buffer).toBe(bytes.buffer);
            expect(e.data.byteOffset - data.byteOffset).toBe(at);
            at += e.data.length;
          }
          expect(at).toBe(data.length);
          try {
            await verifyChecksum(bytes, r, true);
          } catch (e) {
            if (!(e instanceof SafetensorsError)) throw e;
            refused++;
            return;
          }
          // Past the checksum, the file holds exactly what was written.
          expect(sameAsWritten(r, ts, meta)).toBe(true);
          accepted++;
        },
      ),
      { numRuns: 3000, seed: 7 },
    );
    // The mutations must actually reach the checks: most damaged files are refused.
    expect(refused).toBeGreaterThan(2000);
    expect(accepted + refused).toBe(3000);
  });
});
