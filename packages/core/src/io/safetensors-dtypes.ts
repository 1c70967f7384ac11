import {
  allocStorage,
  bf16ToF32,
  type DType,
  encode,
  f16ToF32,
  isFloat,
  type StorageArray,
} from '../dtype.js';
import { type SafetensorsDType, type SafetensorsEntry, SafetensorsError } from './safetensors.js';

/**
 * Which stored dtypes become which of our dtypes. Floats load into any float dtype (rounded to it:
 * F64 and the F8 formats have no storage of their own here, so by default they become f32, which
 * holds every F8 value exactly); integers and BOOL load into i32 when every value fits. Complex
 * (C64) and the packed sub-byte floats (F4, F6_*) are rejected, naming the tensor. Integers never
 * load into a float parameter, nor floats into an integer one: that is a checkpoint mismatch, not
 * a conversion.
 */
const FLOAT_SOURCES: ReadonlySet<SafetensorsDType> = new Set([
  'F64',
  'F32',
  'F16',
  'BF16',
  'F8_E4M3',
  'F8_E5M2',
  'F8_E8M0',
]);
const INT_SOURCES: ReadonlySet<SafetensorsDType> = new Set([
  'BOOL',
  'U8',
  'I8',
  'U16',
  'I16',
  'U32',
  'I32',
  'U64',
  'I64',
]);

const NATURAL: Partial<Record<SafetensorsDType, DType>> = {
  F32: 'f32',
  F16: 'f16',
  BF16: 'bf16',
  I32: 'i32',
};

/** Our dtype for a stored dtype (what deserializeStateDict gives), or null where none can hold it. */
export function naturalDType(dtype: SafetensorsDType): DType | null {
  const d = NATURAL[dtype];
  if (d) return d;
  if (FLOAT_SOURCES.has(dtype)) return 'f32';
  if (INT_SOURCES.has(dtype)) return 'i32';
  return null;
}

/** The stored dtype our dtype is written as. */
export function safetensorsDTypeOf(dtype: DType): SafetensorsDType {
  return dtype === 'f32' ? 'F32' : dtype === 'f16' ? 'F16' : dtype === 'bf16' ? 'BF16' : 'I32';
}

/** Whether `from` may be loaded into a tensor of dtype `to`. */
export function canConvert(from: SafetensorsDType, to: DType): boolean {
  return isFloat(to) ? FLOAT_SOURCES.has(from) : INT_SOURCES.has(from);
}

function f8e4m3ToF32(b: number): number {
  const sign = b & 0x80 ? -1 : 1;
  const e = (b >>> 3) & 0xf;
  const m = b & 0x7;
  // The "fn" variant PyTorch writes: no infinities, one NaN pattern per sign.
  if (e === 0xf && m === 0x7) return Number.NaN;
  if (e === 0) return sign * (m / 8) * 2 ** -6;
  return sign * (1 + m / 8) * 2 ** (e - 7);
}

function f8e5m2ToF32(b: number): number {
  const sign = b & 0x80 ? -1 : 1;
  const e = (b >>> 2) & 0x1f;
  const m = b & 0x3;
  if (e === 0x1f) return m ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  if (e === 0) return sign * (m / 4) * 2 ** -14;
  return sign * (1 + m / 4) * 2 ** (e - 15);
}

function f8e8m0ToF32(b: number): number {
  return b === 0xff ? Number.NaN : 2 ** (b - 127);
}

/** Decode a float entry into float64 values. */
function floatValues(name: string, e: SafetensorsEntry, count: number): Float64Array {
  const v = new DataView(e.data.buffer, e.data.byteOffset, e.data.byteLength);
  const out = new Float64Array(count);
  switch (e.dtype) {
    case 'F64':
      for (let i = 0; i < count; i++) out[i] = v.getFloat64(i * 8, true);
      break;
    case 'F32':
      for (let i = 0; i < count; i++) out[i] = v.getFloat32(i * 4, true);
      break;
    case 'F16':
      for (let i = 0; i < count; i++) out[i] = f16ToF32(v.getUint16(i * 2, true));
      break;
    case 'BF16':
      for (let i = 0; i < count; i++) out[i] = bf16ToF32(v.getUint16(i * 2, true));
      break;
    case 'F8_E4M3':
      for (let i = 0; i < count; i++) out[i] = f8e4m3ToF32(e.data[i]!);
      break;
    case 'F8_E5M2':
      for (let i = 0; i < count; i++) out[i] = f8e5m2ToF32(e.data[i]!);
      break;
    case 'F8_E8M0':
      for (let i = 0; i < count; i++) out[i] = f8e8m0ToF32(e.data[i]!);
      break;
    default:
      throw new SafetensorsError('dtype-unsupported', name, `${e.dtype} is not a float dtype`);
  }
  return out;
}

/** Decode an integer entry into i32 storage, rejecting any value outside the i32 range. */
function intValues(name: string, e: SafetensorsEntry, count: number): Int32Array {
  const v = new DataView(e.data.buffer, e.data.byteOffset, e.data.byteLength);
  const out = new Int32Array(count);
  const bad = (i: number, value: bigint | number): never => {
    throw new SafetensorsError(
      'value-out-of-range',
      name,
      `${e.dtype} value ${value} at flat index ${i} does not fit in i32`,
    );
  };
  switch (e.dtype) {
    case 'BOOL':
      for (let i = 0; i < count; i++) {
        const b = e.data[i]!;
        // The format stores booleans as one byte, 0 or 1; anything else is corrupt.
        if (b > 1) bad(i, b);
        out[i] = b;
      }
      break;
    case 'U8':
      for (let i = 0; i < count; i++) out[i] = e.data[i]!;
      break;
    case 'I8':
      for (let i = 0; i < count; i++) out[i] = v.getInt8(i);
      break;
    case 'U16':
      for (let i = 0; i < count; i++) out[i] = v.getUint16(i * 2, true);
      break;
    case 'I16':
      for (let i = 0; i < count; i++) out[i] = v.getInt16(i * 2, true);
      break;
    case 'I32':
      for (let i = 0; i < count; i++) out[i] = v.getInt32(i * 4, true);
      break;
    case 'U32':
      for (let i = 0; i < count; i++) {
        const x = v.getUint32(i * 4, true);
        if (x > 0x7fffffff) bad(i, x);
        out[i] = x;
      }
      break;
    case 'I64':
      for (let i = 0; i < count; i++) {
        const x = v.getBigInt64(i * 8, true);
        if (x > 2147483647n || x < -2147483648n) bad(i, x);
        out[i] = Number(x);
      }
      break;
    case 'U64':
      for (let i = 0; i < count; i++) {
        const x = v.getBigUint64(i * 8, true);
        if (x > 2147483647n) bad(i, x);
        out[i] = Number(x);
      }
      break;
    default:
      throw new SafetensorsError('dtype-unsupported', name, `${e.dtype} is not an integer dtype`);
  }
  return out;
}

/**
 * The storage of an entry as dtype `to` (a fresh array the caller owns). Throws SafetensorsError
 * naming the tensor when the stored dtype cannot become `to`.
 */
export function entryToStorage(name: string, e: SafetensorsEntry, to: DType): StorageArray {
  const count = e.shape.reduce((a, b) => a * b, 1);
  if (!canConvert(e.dtype, to)) {
    const why =
      e.dtype === 'C64' || e.dtype === 'F4' || e.dtype === 'F6_E2M3' || e.dtype === 'F6_E3M2'
        ? `${e.dtype} has no equivalent here`
        : isFloat(to)
          ? 'integer data does not load into a float tensor'
          : 'float data does not load into an integer tensor';
    throw new SafetensorsError('dtype-unsupported', name, `cannot load ${e.dtype} as ${to}: ${why}`);
  }
  if (NATURAL[e.dtype] === to) {
    // Same layout: one copy of the bytes (the file buffer stays the caller's).
    const out = allocStorage(to, count);
    new Uint8Array(out.buffer).set(e.data);
    return out;
  }
  if (!isFloat(to)) return intValues(name, e, count);
  return encode(to, floatValues(name, e, count));
}
