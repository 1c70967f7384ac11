import { describe, expect, it } from 'vitest';
import {
  FatbinError,
  listFatbin,
  missingTargets,
  PREBUILT_TARGETS,
  summarize,
} from '../scripts/list-fatbin.mjs';

// Synthetic files in the layout nvcc writes (field offsets as in list-fatbin.mjs's header comment).
const ARCH_SPECIFIC = 0x100000n;
const COMPRESSED = 0x8000n;

/** A cubin stand-in: an ELF64 header of ABI version 8 whose e_flags name the SM arch. */
function cubin(arch: number): Buffer {
  const b = Buffer.alloc(96);
  b.writeUInt32BE(0x7f454c46, 0);
  b[4] = 2;
  b[5] = 1;
  b[7] = 0x41;
  b[8] = 8;
  b.writeUInt32LE((arch << 8) | 2, 0x30);
  return b;
}

interface EntrySpec {
  kind: 1 | 2;
  arch: number;
  flags?: bigint;
  payload?: Buffer;
  major?: number;
  minor?: number;
}

function entry(e: EntrySpec): Buffer {
  const payload = e.payload ?? (e.kind === 2 ? cubin(e.arch) : Buffer.from('.version 9.0\n.target sm_120\n'));
  const h = Buffer.alloc(64);
  h.writeUInt16LE(e.kind, 0);
  h.writeUInt16LE(0x101, 2);
  h.writeUInt32LE(64, 4);
  h.writeBigUInt64LE(BigInt(payload.length), 8);
  h.writeUInt16LE(e.minor ?? 0, 24);
  h.writeUInt16LE(e.major ?? 9, 26);
  h.writeUInt32LE(e.arch, 28);
  h.writeBigUInt64LE(0x11n | (e.flags ?? 0n), 40);
  return Buffer.concat([h, payload]);
}

function container(entries: EntrySpec[]): Buffer {
  const body = Buffer.concat(entries.map(entry));
  const h = Buffer.alloc(16);
  h.writeUInt32LE(0xba55ed50, 0);
  h.writeUInt16LE(1, 4);
  h.writeUInt16LE(16, 6);
  h.writeBigUInt64LE(BigInt(body.length), 8);
  return Buffer.concat([h, body]);
}

/** An ELF64 file with sections: null, .shstrtab, .text, .nv_fatbin (holding `fatbin`). */
function elf(fatbin: Buffer): Buffer {
  const names = Buffer.from('\0.shstrtab\0.text\0.nv_fatbin\0', 'latin1');
  const text = Buffer.alloc(32, 0xcc);
  const dataStart = 64;
  const namesOff = dataStart;
  const textOff = namesOff + names.length;
  const fatOff = textOff + text.length;
  const shoff = fatOff + fatbin.length;
  const sh = Buffer.alloc(4 * 64);
  const section = (i: number, name: number, type: number, off: number, size: number) => {
    sh.writeUInt32LE(name, i * 64);
    sh.writeUInt32LE(type, i * 64 + 4);
    sh.writeBigUInt64LE(BigInt(off), i * 64 + 24);
    sh.writeBigUInt64LE(BigInt(size), i * 64 + 32);
  };
  section(1, 1, 3, namesOff, names.length);
  section(2, 11, 1, textOff, text.length);
  section(3, 17, 1, fatOff, fatbin.length);
  const h = Buffer.alloc(64);
  h.writeUInt32BE(0x7f454c46, 0);
  h[4] = 2;
  h[5] = 1;
  h[6] = 1;
  h.writeBigUInt64LE(BigInt(shoff), 0x28);
  h.writeUInt16LE(64, 0x3a);
  h.writeUInt16LE(4, 0x3c);
  h.writeUInt16LE(1, 0x3e);
  return Buffer.concat([h, names, text, fatbin, sh]);
}

/** One translation unit as the prebuilt build writes it. */
const PREBUILT_TU: EntrySpec[] = [
  { kind: 2, arch: 80 },
  { kind: 2, arch: 86 },
  { kind: 2, arch: 89 },
  { kind: 2, arch: 90, flags: ARCH_SPECIFIC },
  { kind: 2, arch: 100, flags: ARCH_SPECIFIC },
  { kind: 2, arch: 120 },
  { kind: 1, arch: 120, flags: COMPRESSED },
];

describe('list-fatbin', () => {
  it('lists SASS targets (with the arch-specific suffix) and PTX with its ISA version', () => {
    const file = elf(Buffer.concat([container(PREBUILT_TU), container(PREBUILT_TU)]));
    const cs = listFatbin(file);
    expect(cs).toHaveLength(2);
    expect(cs[0].entries.map((e) => e.target)).toEqual([
      'sm_80',
      'sm_86',
      'sm_89',
      'sm_90a',
      'sm_100a',
      'sm_120',
      'compute_120',
    ]);
    const s = summarize(cs);
    expect(s.sass).toEqual(['sm_80', 'sm_86', 'sm_89', 'sm_90a', 'sm_100a', 'sm_120']);
    expect(s.ptx).toEqual(['compute_120']);
    expect(s.ptxVersions).toEqual(['9.0']);
    expect(s.compressedEntries).toBe(2);
    expect(missingTargets(cs, PREBUILT_TARGETS)).toEqual([]);
  });

  it('reports a target missing from one translation unit, and sm_90 as not sm_90a', () => {
    const partial = PREBUILT_TU.filter((e) => e.arch !== 89).map((e) =>
      e.arch === 90 ? { kind: 2 as const, arch: 90 } : e,
    );
    const cs = listFatbin(elf(Buffer.concat([container(PREBUILT_TU), container(partial)])));
    expect(missingTargets(cs, PREBUILT_TARGETS)).toEqual(['sm_89', 'sm_90a']);
    expect(summarize(cs).inEvery).not.toContain('sm_89');
    expect(missingTargets([], ['sm_80'])).toEqual(['sm_80']);
  });

  it('reads a bare fatbin and skips zero padding between containers', () => {
    const one = container([{ kind: 2, arch: 90 }]);
    const pad = Buffer.alloc(8 - (one.length % 8 || 8));
    const cs = listFatbin(Buffer.concat([one, pad, container([{ kind: 1, arch: 90, minor: 8, major: 8 }])]));
    expect(cs.map((c) => c.entries[0].target)).toEqual(['sm_90', 'compute_90']);
    expect(cs[1].entries[0].ptxVersion).toBe('8.8');
  });

  it('gives an empty list for an ELF without GPU code', () => {
    const file = elf(Buffer.alloc(0));
    expect(listFatbin(file)).toEqual([]);
  });

  it('rejects a cubin whose own header names another arch', () => {
    const file = elf(container([{ kind: 2, arch: 86, payload: cubin(80) }]));
    expect(() => listFatbin(file)).toThrow(/says sm_86 but its cubin is for sm_80/);
  });

  describe('corrupt files give a FatbinError, never a read outside the buffer', () => {
    const good = elf(container(PREBUILT_TU));
    const fatOff = good.indexOf(Buffer.from([0x50, 0xed, 0x55, 0xba]));

    it('not ELF, not fatbin', () => {
      expect(() =>
        listFatbin(Buffer.from('hello world, this is not a binary at all........................')),
      ).toThrow(FatbinError);
      expect(() => listFatbin(Buffer.alloc(3))).toThrow(/not an ELF file/);
    });

    it('every truncation of the file', () => {
      for (let n = 0; n < good.length; n += 7) {
        const cut = good.subarray(0, n);
        expect(() => listFatbin(cut), `truncated to ${n}`).toThrow(FatbinError);
      }
    });

    it('section table, container and entry sizes pointing past the end', () => {
      const cases: [string, (b: Buffer) => void, RegExp][] = [
        ['e_shoff', (b) => b.writeBigUInt64LE(BigInt(b.length), 0x28), /past the end|outside/],
        ['e_shoff huge', (b) => b.writeBigUInt64LE(0xffffffffffffffffn, 0x28), /larger than any file/],
        ['e_shnum', (b) => b.writeUInt16LE(0xfff0, 0x3c), /past the end/],
        ['shstrndx', (b) => b.writeUInt16LE(9, 0x3e), /string table index/],
        [
          'container size',
          (b) => b.writeBigUInt64LE(1n << 40n, fatOff + 8),
          /runs past the end of its section/,
        ],
        [
          'entry size',
          (b) => b.writeBigUInt64LE(1n << 30n, fatOff + 16 + 8),
          /runs past the end of its container/,
        ],
        ['entry header size', (b) => b.writeUInt32LE(8, fatOff + 16 + 4), /header, expected >= 64/],
        ['container magic', (b) => b.writeUInt32LE(0xdeadbeef, fatOff), /expected a fatbin container/],
      ];
      for (const [what, corrupt, msg] of cases) {
        const b = Buffer.from(good);
        corrupt(b);
        expect(() => listFatbin(b), what).toThrow(msg);
        expect(() => listFatbin(b), what).toThrow(FatbinError);
      }
    });

    it('random single-byte corruption never escapes as another error', () => {
      let seed = 12345;
      const rand = () => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed;
      };
      for (let i = 0; i < 2000; i++) {
        const b = Buffer.from(good);
        b[rand() % b.length] = rand() & 0xff;
        try {
          listFatbin(b);
        } catch (e) {
          expect(e).toBeInstanceOf(FatbinError);
        }
      }
    });
  });
});
