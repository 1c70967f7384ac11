#!/usr/bin/env node
// Lists the GPU code inside a CUDA binary (a .node addon, a shared library, an object file, or a bare
// .fatbin) without the CUDA toolkit: the SASS architectures and PTX versions of every fatbin
// container in its ELF `.nv_fatbin` section.
//   node list-fatbin.mjs FILE [--json] [--require sm_80,sm_90a,compute_120,...]
// --require: exit 1 unless every container holds every listed target (sm_XX: SASS, compute_XX: PTX);
// an addon whose one translation unit lacks an architecture fails on that card at run time.
// Exit code 0 when the file parses (and the requirements hold), 1 otherwise, 2 for bad arguments.
//
// Layout read here (the one nvcc writes; only headers are read, so compressed entries are listed too):
//   container: u32 magic 0xBA55ED50, u16 version, u16 header size, u64 size of the entries that follow
//   entry:     u16 kind (1 PTX, 2 ELF), u16 version, u32 header size, u64 payload size,
//              u32 compressed size, u32 -, u16 minor, u16 major, u32 sm arch, u32 -, u32 -, u64 flags
//   flags:     0x1 64-bit, 0x2000 / 0x8000 payload compressed, 0x100000 arch-specific (sm_90a),
//              0x200000 family-specific (sm_100f)
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

/** The targets the prebuilt addon of @liger-mhc/cuda-native-linux-x64-gnu must carry. */
export const PREBUILT_TARGETS = Object.freeze([
  'sm_80',
  'sm_86',
  'sm_89',
  'sm_90a',
  'sm_100a',
  'sm_120',
  'compute_120',
]);

const FATBIN_MAGIC = 0xba55ed50;
const ENTRY_HEADER_MIN = 64;
const KIND_PTX = 1;
const KIND_ELF = 2;
const FLAG_COMPRESSED = 0x2000n | 0x8000n;
const FLAG_ARCH_SPECIFIC = 0x100000n;
const FLAG_FAMILY_SPECIFIC = 0x200000n;
const SHT_NOBITS = 8;

/** The file is not what it claims to be; the message says where and what was expected. */
export class FatbinError extends Error {
  constructor(message) {
    super(message);
    this.name = 'FatbinError';
  }
}

/** Bounds-checked little-endian reads of buf[start, end). */
function reader(buf, what) {
  const need = (off, len, field) => {
    if (!Number.isInteger(off) || off < 0 || off + len > buf.length)
      throw new FatbinError(`${what}: ${field} at byte ${off} lies outside the file (${buf.length} bytes)`);
  };
  return {
    u8(off, field) {
      need(off, 1, field);
      return buf.readUInt8(off);
    },
    u16(off, field) {
      need(off, 2, field);
      return buf.readUInt16LE(off);
    },
    u32(off, field) {
      need(off, 4, field);
      return buf.readUInt32LE(off);
    },
    u64big(off, field) {
      need(off, 8, field);
      return buf.readBigUInt64LE(off);
    },
    /** A u64 used as a size or offset: must fit a safe integer (a larger one cannot lie in the file). */
    u64(off, field) {
      need(off, 8, field);
      const v = buf.readBigUInt64LE(off);
      if (v > BigInt(Number.MAX_SAFE_INTEGER))
        throw new FatbinError(`${what}: ${field} at byte ${off} is ${v}, larger than any file`);
      return Number(v);
    },
  };
}

/** The [offset, size) ranges of the ELF sections named `.nv_fatbin` (ELF64 little-endian only). */
export function fatbinSections(buf) {
  const r = reader(buf, 'ELF');
  if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46)
    throw new FatbinError('not an ELF file (no \\x7fELF magic) and not a fatbin (no 0xBA55ED50 magic)');
  if (r.u8(4, 'EI_CLASS') !== 2) throw new FatbinError('ELF: only 64-bit files are supported');
  if (r.u8(5, 'EI_DATA') !== 1) throw new FatbinError('ELF: only little-endian files are supported');
  const shoff = r.u64(0x28, 'e_shoff');
  const shentsize = r.u16(0x3a, 'e_shentsize');
  let shnum = r.u16(0x3c, 'e_shnum');
  let shstrndx = r.u16(0x3e, 'e_shstrndx');
  if (shoff === 0) throw new FatbinError('ELF: no section header table (e_shoff = 0)');
  if (shentsize < 64)
    throw new FatbinError(`ELF: section header entries of ${shentsize} bytes, expected >= 64`);
  // More than 0xff00 sections: the real count and string-table index live in section 0.
  if (shnum === 0) shnum = r.u64(shoff + 32, 'section 0 sh_size (section count)');
  if (shstrndx === 0xffff) shstrndx = r.u32(shoff + 40, 'section 0 sh_link (string table index)');
  if (shoff + shnum * shentsize > buf.length)
    throw new FatbinError(`ELF: ${shnum} section headers at byte ${shoff} run past the end of the file`);
  if (shstrndx >= shnum)
    throw new FatbinError(`ELF: string table index ${shstrndx} >= section count ${shnum}`);
  const section = (i) => {
    const o = shoff + i * shentsize;
    return {
      name: r.u32(o, `section ${i} sh_name`),
      type: r.u32(o + 4, `section ${i} sh_type`),
      offset: r.u64(o + 24, `section ${i} sh_offset`),
      size: r.u64(o + 32, `section ${i} sh_size`),
    };
  };
  const strtab = section(shstrndx);
  if (strtab.offset + strtab.size > buf.length)
    throw new FatbinError('ELF: the section-name string table runs past the end of the file');
  const nameOf = (off) => {
    if (off >= strtab.size) throw new FatbinError(`ELF: section name offset ${off} outside the string table`);
    const start = strtab.offset + off;
    const nul = buf.indexOf(0, start);
    if (nul < 0 || nul >= strtab.offset + strtab.size)
      throw new FatbinError(`ELF: section name at ${off} is not NUL-terminated inside the string table`);
    return buf.toString('latin1', start, nul);
  };
  const out = [];
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    if (nameOf(s.name) !== '.nv_fatbin') continue;
    if (s.type === SHT_NOBITS) continue;
    if (s.offset + s.size > buf.length)
      throw new FatbinError(
        `ELF: section .nv_fatbin (${s.size} bytes at ${s.offset}) runs past the end of the file`,
      );
    out.push({ offset: s.offset, size: s.size });
  }
  return out;
}

/** The name of one entry's target: sm_90a for SASS, compute_120 for PTX. */
function targetName(kind, arch, flags) {
  const suffix = flags & FLAG_ARCH_SPECIFIC ? 'a' : flags & FLAG_FAMILY_SPECIFIC ? 'f' : '';
  return `${kind === KIND_PTX ? 'compute' : 'sm'}_${arch}${suffix}`;
}

/**
 * The SM architecture an uncompressed cubin states in its own ELF header (e_flags; the field moved
 * up a byte in ABI version 8), or null when the payload is not a readable ELF.
 */
function cubinArch(buf, start, end) {
  if (end - start < 0x34 || buf.readUInt32BE(start) !== 0x7f454c46 || buf[start + 4] !== 2) return null;
  const abi = buf[start + 8];
  const flags = buf.readUInt32LE(start + 0x30);
  return abi >= 8 ? (flags >> 8) & 0xff : flags & 0xff;
}

/** The containers in buf[start, start + size): each with its entries. Padding between them is zeros. */
function parseContainers(buf, start, size, where) {
  const r = reader(buf, where);
  const end = start + size;
  const containers = [];
  let o = start;
  while (o < end) {
    if (end - o < 16 || r.u32(o, 'container magic') !== FATBIN_MAGIC) {
      // Zero padding up to the next 8-byte boundary or the end is allowed, nothing else.
      const next = Math.min(end, o + 8 - ((o - start) % 8));
      for (let i = o; i < next; i++)
        if (buf[i] !== 0)
          throw new FatbinError(
            `${where}: expected a fatbin container (magic 0xBA55ED50) or zero padding at byte ${i}, found 0x${buf[i].toString(16)}`,
          );
      o = next;
      continue;
    }
    const version = r.u16(o + 4, 'container version');
    const headerSize = r.u16(o + 6, 'container header size');
    const bodySize = r.u64(o + 8, 'container size');
    if (headerSize < 16)
      throw new FatbinError(
        `${where}: container at byte ${o} has a ${headerSize}-byte header, expected >= 16`,
      );
    const bodyStart = o + headerSize;
    const bodyEnd = bodyStart + bodySize;
    if (bodyEnd > end)
      throw new FatbinError(
        `${where}: container at byte ${o} (${bodySize} bytes) runs past the end of its section`,
      );
    const entries = [];
    let e = bodyStart;
    while (e < bodyEnd) {
      if (bodyEnd - e < ENTRY_HEADER_MIN)
        throw new FatbinError(
          `${where}: ${bodyEnd - e} stray bytes at byte ${e}, too few for an entry header`,
        );
      const kind = r.u16(e, 'entry kind');
      const entryHeader = r.u32(e + 4, 'entry header size');
      const payloadSize = r.u64(e + 8, 'entry payload size');
      const compressedSize = r.u32(e + 16, 'entry compressed size');
      const minor = r.u16(e + 24, 'entry minor version');
      const major = r.u16(e + 26, 'entry major version');
      const arch = r.u32(e + 28, 'entry sm arch');
      const flags = r.u64big(e + 40, 'entry flags');
      if (entryHeader < ENTRY_HEADER_MIN)
        throw new FatbinError(
          `${where}: entry at byte ${e} has a ${entryHeader}-byte header, expected >= ${ENTRY_HEADER_MIN}`,
        );
      const payloadStart = e + entryHeader;
      const payloadEnd = payloadStart + payloadSize;
      if (payloadEnd > bodyEnd)
        throw new FatbinError(
          `${where}: entry at byte ${e} (${payloadSize} bytes) runs past the end of its container`,
        );
      const compressed = (flags & FLAG_COMPRESSED) !== 0n;
      const entry = {
        kind: kind === KIND_PTX ? 'ptx' : kind === KIND_ELF ? 'sass' : `kind-${kind}`,
        target: kind === KIND_PTX || kind === KIND_ELF ? targetName(kind, arch, flags) : `arch_${arch}`,
        arch,
        compressed,
        size: payloadSize,
      };
      if (kind === KIND_PTX) entry.ptxVersion = `${major}.${minor}`;
      if (compressed && compressedSize > payloadSize)
        throw new FatbinError(
          `${where}: entry at byte ${e} claims ${compressedSize} compressed bytes in a ${payloadSize}-byte payload`,
        );
      if (kind === KIND_ELF && !compressed) {
        // Cross-check the header against the cubin itself.
        const own = cubinArch(buf, payloadStart, payloadEnd);
        if (own === null)
          throw new FatbinError(`${where}: ELF entry at byte ${e} (${entry.target}) holds no ELF cubin`);
        if (own !== arch)
          throw new FatbinError(
            `${where}: entry at byte ${e} says sm_${arch} but its cubin is for sm_${own}`,
          );
      }
      entries.push(entry);
      e = payloadEnd;
    }
    containers.push({ offset: o, version, size: bodySize, entries });
    o = bodyEnd;
  }
  return containers;
}

/**
 * Every fatbin container of a CUDA binary: a bare fatbin (starts with the container magic) or an ELF
 * file whose `.nv_fatbin` sections hold them. Throws FatbinError for a file that is neither, or whose
 * headers point outside it; an ELF without GPU code gives an empty list.
 */
export function listFatbin(buf) {
  if (!(buf instanceof Uint8Array)) throw new TypeError('listFatbin: expected a Buffer or Uint8Array');
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length >= 4 && b.readUInt32LE(0) === FATBIN_MAGIC) return parseContainers(b, 0, b.length, 'fatbin');
  return fatbinSections(b).flatMap((s) => parseContainers(b, s.offset, s.size, '.nv_fatbin'));
}

/** The targets (sm_XX SASS, compute_XX PTX) that every container holds, and those only some hold. */
export function summarize(containers) {
  const all = new Set();
  for (const c of containers) for (const e of c.entries) all.add(e.target);
  const inEvery = [...all].filter((t) => containers.every((c) => c.entries.some((e) => e.target === t)));
  const order = (a, b) => a.localeCompare(b, 'en', { numeric: true });
  return {
    containers: containers.length,
    sass: [...all].filter((t) => t.startsWith('sm_')).sort(order),
    ptx: [...all].filter((t) => t.startsWith('compute_')).sort(order),
    ptxVersions: [
      ...new Set(containers.flatMap((c) => c.entries.filter((e) => e.ptxVersion).map((e) => e.ptxVersion))),
    ].sort(order),
    inEvery: inEvery.sort(order),
    compressedEntries: containers.reduce((n, c) => n + c.entries.filter((e) => e.compressed).length, 0),
    entries: containers.reduce((n, c) => n + c.entries.length, 0),
  };
}

/** The required targets missing from at least one container (empty when all are there). */
export function missingTargets(containers, required) {
  if (containers.length === 0) return [...required];
  return required.filter((t) => !containers.every((c) => c.entries.some((e) => e.target === t)));
}

function main() {
  let values;
  let positionals;
  try {
    ({ values, positionals } = parseArgs({
      options: { json: { type: 'boolean', default: false }, require: { type: 'string' } },
      allowPositionals: true,
      strict: true,
    }));
    if (positionals.length !== 1) throw new Error('expected one file');
  } catch (e) {
    console.error(`list-fatbin: ${e instanceof Error ? e.message : String(e)}`);
    console.error('usage: list-fatbin.mjs FILE [--json] [--require sm_80,sm_90a,compute_120,...]');
    process.exit(2);
  }
  const required =
    values.require === undefined
      ? []
      : values.require
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
  for (const t of required)
    if (!/^(sm|compute)_\d+[af]?$/.test(t)) {
      console.error(`list-fatbin: --require: '${t}' is not a target like sm_90a or compute_120`);
      process.exit(2);
    }
  let containers;
  try {
    containers = listFatbin(readFileSync(positionals[0]));
  } catch (e) {
    console.error(`list-fatbin: ${positionals[0]}: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  }
  const s = summarize(containers);
  const missing = missingTargets(containers, required);
  if (values.json) console.log(JSON.stringify({ ...s, missing, containerList: containers }, null, 2));
  else {
    console.log(
      `${positionals[0]}: ${s.containers} fatbin containers, ${s.entries} entries (${s.compressedEntries} compressed)`,
    );
    console.log(`SASS: ${s.sass.join(' ') || '(none)'}`);
    console.log(
      `PTX:  ${s.ptx.join(' ') || '(none)'}${s.ptxVersions.length ? ` (PTX ISA ${s.ptxVersions.join(', ')})` : ''}`,
    );
    const partial = [...s.sass, ...s.ptx].filter((t) => !s.inEvery.includes(t));
    if (partial.length) console.log(`only in some containers: ${partial.join(' ')}`);
  }
  if (missing.length) {
    console.error(
      `list-fatbin: missing from ${containers.length ? 'some container' : 'the file (no GPU code)'}: ${missing.join(' ')}`,
    );
    process.exit(1);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) main();
