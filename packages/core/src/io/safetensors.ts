import { ArgumentError } from '../errors.js';
import {
  JsonNumber,
  type JsonObject,
  JsonParseError,
  type JsonValue,
  parseStrictJson,
} from './strict-json.js';

/**
 * The safetensors format: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}}`, then
 * the data section. The reader checks every rule of the format before it hands out anything, so a
 * hostile file can neither make us read outside it nor allocate more than its own size: tensors
 * are views into the caller's bytes.
 */

/** Every dtype the format defines (what PyTorch, NumPy, JAX and the Rust crate write). */
export const SAFETENSORS_DTYPES = [
  'BOOL',
  'U8',
  'I8',
  'U16',
  'I16',
  'F16',
  'BF16',
  'U32',
  'I32',
  'F32',
  'U64',
  'I64',
  'F64',
  'C64',
  'F8_E4M3',
  'F8_E5M2',
  'F8_E8M0',
  'F4',
  'F6_E2M3',
  'F6_E3M2',
] as const;
export type SafetensorsDType = (typeof SAFETENSORS_DTYPES)[number];

/** Bits per element (sub-byte float formats pack elements; their total must fill whole bytes). */
const DTYPE_BITS: Record<SafetensorsDType, number> = {
  BOOL: 8,
  U8: 8,
  I8: 8,
  U16: 16,
  I16: 16,
  F16: 16,
  BF16: 16,
  U32: 32,
  I32: 32,
  F32: 32,
  U64: 64,
  I64: 64,
  F64: 64,
  C64: 64,
  F8_E4M3: 8,
  F8_E5M2: 8,
  F8_E8M0: 8,
  F4: 4,
  F6_E2M3: 6,
  F6_E3M2: 6,
};

export function isSafetensorsDType(v: unknown): v is SafetensorsDType {
  return typeof v === 'string' && Object.hasOwn(DTYPE_BITS, v);
}

/** Bits one element of the dtype occupies. */
export function safetensorsDTypeBits(dtype: SafetensorsDType): number {
  return DTYPE_BITS[dtype];
}

/** The format caps the header at 100 MB (so a reader never buffers more than that for it). */
export const SAFETENSORS_MAX_HEADER_BYTES = 100_000_000;
/** The deepest nesting a valid header has: root → entry → shape/offsets array. */
const MAX_JSON_DEPTH = 3;
export const METADATA_KEY = '__metadata__';

/**
 * The rule a file broke. `tensor` in the error names the tensor when the rule is about one.
 */
export type SafetensorsRule =
  | 'file-too-short'
  | 'header-too-large'
  | 'header-out-of-file'
  | 'header-utf8'
  | 'header-start'
  | 'header-json'
  | 'header-too-deep'
  | 'header-not-object'
  | 'duplicate-name'
  | 'metadata-not-object'
  | 'metadata-value'
  | 'entry-not-object'
  | 'entry-fields'
  | 'dtype-unknown'
  | 'shape'
  | 'shape-overflow'
  | 'offsets'
  | 'byte-length'
  | 'offsets-overlap'
  | 'offsets-hole'
  | 'offsets-out-of-file'
  | 'trailing-bytes'
  | 'dtype-unsupported'
  | 'value-out-of-range'
  | 'checksum';

/** A file that breaks a rule of the format (or that asks for a conversion we cannot do). */
export class SafetensorsError extends ArgumentError {
  constructor(
    readonly rule: SafetensorsRule,
    readonly tensor: string | null,
    detail: string,
  ) {
    super(tensor === null ? 'safetensors' : `safetensors tensor '${tensor}'`, `${detail} [${rule}]`);
  }
}

/** One tensor as stored: dtype, shape and its raw little-endian bytes (a view, not a copy). */
export interface SafetensorsEntry {
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  readonly data: Uint8Array;
}

export interface SafetensorsFile {
  /** Tensors in the order of their data in the file. */
  readonly tensors: Map<string, SafetensorsEntry>;
  /** `__metadata__` (string → string), as a prototype-free object; empty when absent. */
  readonly metadata: Record<string, string>;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Number of bytes a tensor of this dtype and element count occupies, or null when not whole. */
function byteLengthOf(dtype: SafetensorsDType, count: number): number | null {
  const bits = DTYPE_BITS[dtype] * count;
  if (!Number.isSafeInteger(bits) || bits % 8 !== 0) return null;
  return bits / 8;
}

function describe(v: JsonValue): string {
  if (v === null) return 'null';
  if (v instanceof JsonNumber) return v.text.length > 40 ? `${v.text.slice(0, 40)}…` : v.text;
  if (v instanceof Map) return 'an object';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  return String(v);
}

function intList(v: JsonValue | undefined): number[] | null {
  if (!Array.isArray(v)) return null;
  const out: number[] = [];
  for (const x of v) {
    // '-0' is an integer in JSON but never a valid size or offset.
    if (!(x instanceof JsonNumber) || x.text.startsWith('-')) return null;
    const k = x.safeInteger();
    if (k === null || k < 0) return null;
    out.push(k);
  }
  return out;
}

/**
 * Read a safetensors file, checking every rule of the format first. Returns views into `bytes`.
 * Throws SafetensorsError (an ArgumentError) naming the rule and, where there is one, the tensor.
 */
export function readSafetensors(bytes: Uint8Array): SafetensorsFile {
  if (!(bytes instanceof Uint8Array)) throw new ArgumentError('bytes', 'expected a Uint8Array');
  if (bytes.length < 8)
    throw new SafetensorsError(
      'file-too-short',
      null,
      `file of ${bytes.length} bytes has no 8-byte header length`,
    );
  const n64 = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(SAFETENSORS_MAX_HEADER_BYTES))
    throw new SafetensorsError(
      'header-too-large',
      null,
      `header length ${n64} exceeds the format's limit of ${SAFETENSORS_MAX_HEADER_BYTES} bytes`,
    );
  const n = Number(n64);
  if (8 + n > bytes.length)
    throw new SafetensorsError(
      'header-out-of-file',
      null,
      `header length ${n} runs past the end of the ${bytes.length}-byte file`,
    );
  if (n === 0 || bytes[8] !== 0x7b)
    throw new SafetensorsError('header-start', null, "the header must start with '{'");
  let text: string;
  try {
    text = utf8.decode(bytes.subarray(8, 8 + n));
  } catch {
    throw new SafetensorsError('header-utf8', null, 'the header is not valid UTF-8');
  }
  let root: JsonValue;
  try {
    root = parseStrictJson(text, MAX_JSON_DEPTH);
  } catch (e) {
    if (!(e instanceof JsonParseError)) throw e;
    if (e.kind === 'duplicate-key') {
      const top = e.path?.length === 0;
      throw new SafetensorsError(
        'duplicate-name',
        top ? (e.key ?? null) : (e.path?.[0] ?? null),
        top ? 'the name appears more than once in the header' : `duplicate key '${e.key}'`,
      );
    }
    if (e.kind === 'too-deep')
      throw new SafetensorsError(
        'header-too-deep',
        e.path?.[0] === METADATA_KEY ? null : (e.path?.[0] ?? null),
        `${e.path?.[0] === METADATA_KEY ? '__metadata__ ' : ''}nests deeper than a safetensors header can`,
      );
    throw new SafetensorsError('header-json', null, `the header is not valid JSON: ${e.detail}`);
  }
  if (!(root instanceof Map))
    throw new SafetensorsError('header-not-object', null, 'the header is not a JSON object');

  const metadata: Record<string, string> = Object.create(null);
  const infos: { name: string; dtype: SafetensorsDType; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, v] of root) {
    if (name === METADATA_KEY) {
      if (!(v instanceof Map))
        throw new SafetensorsError(
          'metadata-not-object',
          null,
          `__metadata__ is ${describe(v)}, not an object`,
        );
      for (const [k, mv] of v) {
        if (typeof mv !== 'string')
          throw new SafetensorsError(
            'metadata-value',
            null,
            `__metadata__['${k}'] is ${describe(mv)}; metadata values must be strings`,
          );
        metadata[k] = mv;
      }
      continue;
    }
    if (!(v instanceof Map))
      throw new SafetensorsError('entry-not-object', name, `entry is ${describe(v)}, not an object`);
    const e = v as JsonObject;
    for (const k of e.keys())
      if (k !== 'dtype' && k !== 'shape' && k !== 'data_offsets')
        throw new SafetensorsError(
          'entry-fields',
          name,
          `unknown field '${k}' (expected dtype, shape, data_offsets)`,
        );
    for (const k of ['dtype', 'shape', 'data_offsets'])
      if (!e.has(k)) throw new SafetensorsError('entry-fields', name, `missing field '${k}'`);
    const dtype = e.get('dtype')!;
    if (!isSafetensorsDType(dtype))
      throw new SafetensorsError('dtype-unknown', name, `unknown dtype ${describe(dtype)}`);
    const shape = intList(e.get('shape'));
    if (!shape)
      throw new SafetensorsError(
        'shape',
        name,
        `shape ${describe(e.get('shape')!)} is not a list of non-negative integers`,
      );
    let count = 1;
    for (const d of shape) count *= d;
    if (!Number.isSafeInteger(count))
      throw new SafetensorsError(
        'shape-overflow',
        name,
        `shape [${shape.join(', ')}] has more elements than fit in memory`,
      );
    const offs = intList(e.get('data_offsets'));
    if (offs?.length !== 2 || offs[0]! > offs[1]!)
      throw new SafetensorsError(
        'offsets',
        name,
        'data_offsets must be two non-negative integers [begin, end] with begin <= end',
      );
    const len = byteLengthOf(dtype, count);
    if (len === null)
      throw new SafetensorsError(
        'byte-length',
        name,
        `${count} elements of ${dtype} do not fill whole bytes`,
      );
    if (offs[1]! - offs[0]! !== len)
      throw new SafetensorsError(
        'byte-length',
        name,
        `data_offsets span ${offs[1]! - offs[0]!} bytes but shape [${shape.join(', ')}] of ${dtype} needs ${len}`,
      );
    infos.push({ name, dtype, shape, begin: offs[0]!, end: offs[1]! });
  }

  // The data section must be covered exactly: sorted by offset, each tensor begins where the last
  // ended, the first at 0 and the last at the end of the file.
  const base = 8 + n;
  const dataLen = bytes.length - base;
  infos.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const t of infos) {
    if (t.begin < at)
      throw new SafetensorsError(
        'offsets-overlap',
        t.name,
        `bytes [${t.begin}, ${t.end}) overlap the previous tensor`,
      );
    if (t.begin > at)
      throw new SafetensorsError(
        'offsets-hole',
        t.name,
        `bytes [${at}, ${t.begin}) before this tensor belong to no tensor`,
      );
    if (t.end > dataLen)
      throw new SafetensorsError(
        'offsets-out-of-file',
        t.name,
        `bytes [${t.begin}, ${t.end}) run past the ${dataLen}-byte data section`,
      );
    at = t.end;
  }
  if (at !== dataLen)
    throw new SafetensorsError(
      'trailing-bytes',
      null,
      `${dataLen - at} bytes after the last tensor belong to no tensor`,
    );

  const tensors = new Map<string, SafetensorsEntry>();
  for (const t of infos)
    tensors.set(t.name, {
      dtype: t.dtype,
      shape: Object.freeze(t.shape),
      data: bytes.subarray(base + t.begin, base + t.end),
    });
  return { tensors, metadata };
}

/** What writeSafetensors takes: a Map or a plain record of entries. */
export type SafetensorsInput =
  | ReadonlyMap<string, SafetensorsEntry>
  | Readonly<Record<string, SafetensorsEntry>>;

/**
 * Write tensors (and optional string metadata) as a safetensors file, in the given order, with the
 * header padded by spaces to an 8-byte boundary so every tensor's data is aligned for its dtype.
 * The input is checked as strictly as the reader checks files.
 */
export function writeSafetensors(
  tensors: SafetensorsInput,
  metadata?: Readonly<Record<string, string>>,
): Uint8Array {
  if (tensors === null || typeof tensors !== 'object')
    throw new ArgumentError('tensors', 'expected a Map or a record of {dtype, shape, data}');
  const entries: [string, SafetensorsEntry][] =
    tensors instanceof Map
      ? [...tensors.entries()]
      : Object.entries(tensors as Record<string, SafetensorsEntry>);
  // Build the JSON by hand so a key named __proto__ is written as data, never as a prototype.
  const parts: string[] = [];
  if (metadata !== undefined) {
    if (metadata === null || typeof metadata !== 'object')
      throw new ArgumentError('metadata', 'expected a record of string values');
    const kv: string[] = [];
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string')
        throw new ArgumentError(`metadata['${k}']`, `metadata values must be strings, got ${typeof v}`);
      kv.push(`${JSON.stringify(k)}:${JSON.stringify(v)}`);
    }
    if (kv.length) parts.push(`${JSON.stringify(METADATA_KEY)}:{${kv.join(',')}}`);
  }
  let offset = 0;
  for (const [name, t] of entries) {
    if (name === METADATA_KEY)
      throw new ArgumentError('tensors', `'${METADATA_KEY}' is reserved for metadata`);
    const arg = `tensors['${name}']`;
    if (t === null || typeof t !== 'object') throw new ArgumentError(arg, 'expected {dtype, shape, data}');
    if (!isSafetensorsDType(t.dtype))
      throw new ArgumentError(`${arg}.dtype`, `unknown dtype ${String(t.dtype)}`);
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw new ArgumentError(`${arg}.shape`, 'expected a list of non-negative integers');
    if (!(t.data instanceof Uint8Array)) throw new ArgumentError(`${arg}.data`, 'expected a Uint8Array');
    const count = t.shape.reduce((a, b) => a * b, 1);
    const len = byteLengthOf(t.dtype, count);
    if (len !== t.data.length)
      throw new ArgumentError(
        `${arg}.data`,
        `shape [${t.shape.join(', ')}] of ${t.dtype} needs ${len ?? 'a whole number of'} bytes, got ${t.data.length}`,
      );
    parts.push(
      `${JSON.stringify(name)}:{"dtype":"${t.dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${offset + len}]}`,
    );
    offset += len;
  }
  const head = new TextEncoder().encode(`{${parts.join(',')}}`);
  const padded = Math.ceil(head.length / 8) * 8;
  if (padded > SAFETENSORS_MAX_HEADER_BYTES)
    throw new ArgumentError('tensors', `the header would be ${padded} bytes, over the format's 100 MB limit`);
  const out = new Uint8Array(8 + padded + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(head, 8);
  out.fill(0x20, 8 + head.length, 8 + padded);
  let p = 8 + padded;
  for (const [, t] of entries) {
    out.set(t.data, p);
    p += t.data.length;
  }
  return out;
}

/** The data section of a valid file (what checkpoint checksums cover). */
export function safetensorsDataSection(bytes: Uint8Array): Uint8Array {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  return bytes.subarray(8 + n);
}
