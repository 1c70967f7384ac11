import { isFloat } from '../dtype.js';
import { ArgumentError, FileError, ShapeError } from '../errors.js';
import { sha256Hex, writeFileAtomic } from '../io/atomic-file.js';
import {
  readSafetensors,
  type SafetensorsEntry,
  SafetensorsError,
  type SafetensorsFile,
  safetensorsDataSection,
  writeSafetensors,
} from '../io/safetensors.js';
import { canConvert, entryToStorage, naturalDType, safetensorsDTypeOf } from '../io/safetensors-dtypes.js';
import { fromStorage, type TensorOptions } from '../ops/creation.js';
import { hostPlatform } from '../platform/platform.js';
import { sameShape } from '../tensor/shape.js';
import { isTensor, type Tensor } from '../tensor/tensor.js';
import type { Module } from './module.js';

/**
 * State dicts in the safetensors layout, so checkpoints open in PyTorch and every other tool that
 * reads the format. Files we save carry a checksum of their contents in the metadata, checked on
 * load, so a checkpoint damaged after it was written is refused instead of trained on.
 */

/** Metadata key holding the hex SHA-256 of the data section (written by saveStateDict). */
export const CHECKSUM_METADATA_KEY = 'liger_mhc.sha256';

async function entriesOf(state: Readonly<Record<string, Tensor>>): Promise<Map<string, SafetensorsEntry>> {
  if (state === null || typeof state !== 'object')
    throw new ArgumentError('state', 'expected a record of tensors');
  const entries = new Map<string, SafetensorsEntry>();
  for (const [name, t] of Object.entries(state)) {
    if (!isTensor(t)) throw new ArgumentError(`state['${name}']`, 'expected a Tensor');
    const raw = await t.dataRaw();
    entries.set(name, {
      dtype: safetensorsDTypeOf(t.dtype),
      shape: t.shape,
      data: new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength),
    });
  }
  return entries;
}

/** Serialize tensors (any backends) with optional string metadata into safetensors bytes. */
export async function serializeStateDict(
  state: Readonly<Record<string, Tensor>>,
  metadata?: Readonly<Record<string, string>>,
): Promise<Uint8Array> {
  return writeSafetensors(await entriesOf(state), metadata);
}

/**
 * Tensors from safetensors bytes, each in the dtype that holds it (F32/F16/BF16/I32 as they are;
 * F64 and F8 as f32; integer and BOOL as i32 when every value fits). The result has no prototype,
 * so a tensor named `__proto__` is just a name. Throws SafetensorsError naming rule and tensor.
 */
export function deserializeStateDict(bytes: Uint8Array, options: TensorOptions = {}): Record<string, Tensor> {
  return tensorsFromSafetensors(readSafetensors(bytes), options);
}

/** Tensors from an already-read file (see deserializeStateDict). */
export function tensorsFromSafetensors(
  file: SafetensorsFile,
  options: TensorOptions = {},
): Record<string, Tensor> {
  // Convert everything first, so a bad tensor leaves nothing allocated on the backend.
  const raws: [string, ReturnType<typeof entryToStorage>, SafetensorsEntry][] = [];
  for (const [name, e] of file.tensors) {
    const to = naturalDType(e.dtype);
    if (to === null)
      throw new SafetensorsError('dtype-unsupported', name, `${e.dtype} has no equivalent dtype here`);
    raws.push([name, entryToStorage(name, e, to), e]);
  }
  const out: Record<string, Tensor> = Object.create(null);
  try {
    for (const [name, raw, e] of raws)
      out[name] = fromStorage(raw, e.shape, naturalDType(e.dtype)!, { ...options, requiresGrad: false });
  } catch (err) {
    for (const t of Object.values(out)) t.dispose();
    throw err;
  }
  return out;
}

/**
 * The checksum a checkpoint records: SHA-256 over its names, dtypes, shapes and metadata (in data
 * order, metadata sorted, the checksum entry left out) and the SHA-256 of its data section. It
 * covers the header's meaning rather than its bytes, so a renamed tensor or a changed dtype is
 * caught as surely as a flipped data bit, while whitespace is free.
 */
export async function checkpointDigest(bytes: Uint8Array, file: SafetensorsFile): Promise<string> {
  const meta = Object.entries(file.metadata)
    .filter(([k]) => k !== CHECKSUM_METADATA_KEY)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const tensors = [...file.tensors].map(([name, e]) => [name, e.dtype, e.shape]);
  const dataHash = await sha256Hex(safetensorsDataSection(bytes));
  return sha256Hex(new TextEncoder().encode(JSON.stringify({ tensors, meta, data: dataHash })));
}

/**
 * Check a file's checksum. Files from other tools have none and pass unless `required` (set it for
 * checkpoints we wrote ourselves, where a missing checksum means a damaged header). Throws
 * SafetensorsError rule 'checksum'.
 */
export async function verifyChecksum(
  bytes: Uint8Array,
  file: SafetensorsFile,
  required = false,
): Promise<void> {
  const want = file.metadata[CHECKSUM_METADATA_KEY];
  if (want === undefined) {
    if (required)
      throw new SafetensorsError('checksum', null, `the file has no '${CHECKSUM_METADATA_KEY}' checksum`);
    return;
  }
  const got = await checkpointDigest(bytes, file);
  if (got !== want)
    throw new SafetensorsError('checksum', null, `the file's contents hash to ${got}, it records ${want}`);
}

export interface SaveStateDictOptions {
  /** String metadata stored in the file's `__metadata__` (model config, vocabulary, version). */
  metadata?: Readonly<Record<string, string>>;
}

/**
 * Save tensors to a .safetensors file atomically (temp file + fsync + rename), with the data
 * checksum (see checkpointDigest) added to the metadata. Node only.
 */
export async function saveTensors(
  path: string,
  state: Readonly<Record<string, Tensor>>,
  options: SaveStateDictOptions = {},
): Promise<void> {
  const meta: Record<string, string> = { ...(options.metadata ?? {}) };
  delete meta[CHECKSUM_METADATA_KEY];
  const entries = await entriesOf(state);
  const plain = writeSafetensors(entries, meta);
  meta[CHECKSUM_METADATA_KEY] = await checkpointDigest(plain, readSafetensors(plain));
  await writeFileAtomic(path, writeSafetensors(entries, meta));
}

/**
 * Read and verify a .safetensors file (Node). The tensors are views into the file's bytes.
 * `requireChecksum` refuses files without our checksum (for checkpoints we wrote).
 */
export async function readSafetensorsFile(
  path: string,
  options: { requireChecksum?: boolean } = {},
): Promise<SafetensorsFile> {
  if (typeof path !== 'string' || path.length === 0) throw new ArgumentError('path', 'expected a file path');
  let bytes: Uint8Array;
  try {
    bytes = await hostPlatform().readFile(path);
  } catch (err) {
    throw FileError.from(path, err);
  }
  const file = readSafetensors(bytes);
  await verifyChecksum(bytes, file, options.requireChecksum ?? false);
  return file;
}

/** Save a module's parameters to a .safetensors file (Node), atomically and with a checksum. */
export async function saveStateDict(
  module: Module,
  path: string,
  options: SaveStateDictOptions = {},
): Promise<void> {
  await saveTensors(path, module.stateDict(), options);
}

export interface LoadStateDictOptions {
  /** Require the file's names to match the module's parameters exactly (default true). */
  strict?: boolean;
  /** Refuse a file without our checksum (default false: files from other tools have none). */
  requireChecksum?: boolean;
}

/**
 * Load a read file into a module's parameters. Every name, shape and dtype is checked before
 * anything is written: floats (F64, F32, F16, BF16, F8) load into float parameters rounded to the
 * parameter's dtype; integers load only into integer parameters. Returns the file's metadata.
 */
export async function loadSafetensorsInto(
  module: Module,
  file: SafetensorsFile,
  options: LoadStateDictOptions = {},
): Promise<Record<string, string>> {
  const strict = options.strict ?? true;
  const own = new Map(module.namedParameters());
  if (strict) {
    const missing = [...own.keys()].filter((k) => !file.tensors.has(k));
    const extra = [...file.tensors.keys()].filter((k) => !own.has(k));
    if (missing.length || extra.length)
      throw new ArgumentError(
        'state',
        `state dict mismatch: missing [${missing.join(', ')}], unexpected [${extra.join(', ')}]`,
      );
  }
  for (const [name, p] of own) {
    const e = file.tensors.get(name);
    if (!e) continue;
    if (!sameShape(e.shape, p.shape))
      throw new ShapeError(`state['${name}']`, `[${p.shape.join(', ')}]`, e.shape);
    if (!canConvert(e.dtype, p.dtype))
      throw new SafetensorsError(
        'dtype-unsupported',
        name,
        `cannot load ${e.dtype} into a ${p.dtype} parameter (${isFloat(p.dtype) ? 'float parameters take F64/F32/F16/BF16/F8 data' : 'integer parameters take integer data'})`,
      );
  }
  // Convert everything before writing anything, so an out-of-range value leaves the module as it was.
  const writes: [Tensor, ReturnType<typeof entryToStorage>][] = [];
  for (const [name, p] of own) {
    const e = file.tensors.get(name);
    if (e) writes.push([p, entryToStorage(name, e, p.dtype)]);
  }
  for (const [p, raw] of writes) p.backend.write(p.handle, raw);
  return { ...file.metadata };
}

/**
 * Load a .safetensors file into a module's parameters (Node), verifying its checksum when it has
 * one. Returns the file's metadata.
 */
export async function loadStateDict(
  module: Module,
  path: string,
  options: LoadStateDictOptions = {},
): Promise<Record<string, string>> {
  return loadSafetensorsInto(module, await readSafetensorsFile(path, options), options);
}
