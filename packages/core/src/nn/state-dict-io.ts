import type { DType, StorageArray } from '../dtype.js';
import { ArgumentError } from '../errors.js';
import { fromStorage, type TensorOptions } from '../ops/creation.js';
import { hostPlatform } from '../platform/platform.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Module } from './module.js';

/**
 * State dicts in the safetensors layout (8-byte little-endian header length, a JSON header of
 * {name: {dtype, shape, data_offsets}}, then the raw little-endian bytes), so checkpoints open in
 * other tools too.
 */
const ST_DTYPE: Record<DType, string> = { f32: 'F32', f16: 'F16', bf16: 'BF16', i32: 'I32' };
const FROM_ST: Record<string, DType> = { F32: 'f32', F16: 'f16', BF16: 'bf16', I32: 'i32' };

export async function serializeStateDict(state: Record<string, Tensor>): Promise<Uint8Array> {
  const header: Record<string, unknown> = {};
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(state)) {
    const raw = await t.dataRaw();
    const bytes = new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
    header[name] = {
      dtype: ST_DTYPE[t.dtype],
      shape: t.shape,
      data_offsets: [offset, offset + bytes.length],
    };
    chunks.push(bytes);
    offset += bytes.length;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces to an 8-byte boundary so the data section is aligned.
  while ((json.length + 8) % 8 !== 0) json += ' ';
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let p = 8 + head.length;
  for (const c of chunks) {
    out.set(c, p);
    p += c.length;
  }
  return out;
}

export function deserializeStateDict(bytes: Uint8Array, options: TensorOptions = {}): Record<string, Tensor> {
  if (bytes.length < 8) throw new ArgumentError('bytes', 'too short for a safetensors file');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  if (8 + n > bytes.length) throw new ArgumentError('bytes', `header length ${n} exceeds the file`);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const base = 8 + n;
  const out: Record<string, Tensor> = {};
  for (const [name, e] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const dtype = FROM_ST[e.dtype];
    if (!dtype) throw new ArgumentError(`bytes['${name}']`, `unsupported dtype ${e.dtype}`);
    const [b0, b1] = e.data_offsets;
    const copy = bytes.slice(base + b0, base + b1);
    const raw: StorageArray =
      dtype === 'f32'
        ? new Float32Array(copy.buffer)
        : dtype === 'i32'
          ? new Int32Array(copy.buffer)
          : new Uint16Array(copy.buffer);
    out[name] = fromStorage(raw, e.shape, dtype, options);
  }
  return out;
}

/** Save a module's parameters to a .safetensors file (Node; written atomically). */
export async function saveStateDict(module: Module, path: string): Promise<void> {
  await hostPlatform().writeFile(path, await serializeStateDict(module.stateDict()));
}

/** Load a .safetensors file into a module's parameters (Node). */
export async function loadStateDict(module: Module, path: string): Promise<void> {
  const state = deserializeStateDict(await hostPlatform().readFile(path), { backend: 'cpu' });
  try {
    await module.loadStateDict(state);
  } finally {
    for (const t of Object.values(state)) t.dispose();
  }
}
