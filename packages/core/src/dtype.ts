/**
 * Storage dtypes. Activations live in bf16/f16 (f32 opt-in); coefficients, φ-gradients and all
 * reductions are f32. Half types are stored as raw 16-bit patterns in a Uint16Array so every backend
 * (CPU, WGSL packed u32, CUDA) shares one byte layout.
 */
export type DType = 'f32' | 'f16' | 'bf16' | 'i32';
export type FloatDType = 'f32' | 'f16' | 'bf16';

export const DTYPES: readonly DType[] = ['f32', 'f16', 'bf16', 'i32'];

/** The typed array that holds a dtype's raw storage. */
export type StorageArray = Float32Array | Uint16Array | Int32Array;

export function isDType(v: unknown): v is DType {
  return typeof v === 'string' && (DTYPES as readonly string[]).includes(v);
}

export function isFloat(dtype: DType): dtype is FloatDType {
  return dtype !== 'i32';
}

export function bytesPerElement(dtype: DType): number {
  return dtype === 'f16' || dtype === 'bf16' ? 2 : 4;
}

export function allocStorage(dtype: DType, size: number): StorageArray {
  switch (dtype) {
    case 'f32':
      return new Float32Array(size);
    case 'f16':
    case 'bf16':
      return new Uint16Array(size);
    case 'i32':
      return new Int32Array(size);
  }
}

// One shared scratch word for bit casts: no per-element allocation.
const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** f32 -> bf16 bits, round to nearest even (NaN stays NaN). */
export function f32ToBf16(v: number): number {
  scratchF32[0] = v;
  const bits = scratchU32[0]!;
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x007fffff) !== 0) return ((bits >>> 16) | 0x40) & 0xffff;
  const rounded = bits + 0x7fff + ((bits >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

export function bf16ToF32(bits: number): number {
  scratchU32[0] = (bits & 0xffff) << 16;
  return scratchF32[0]!;
}

/** f32 -> IEEE binary16 bits, round to nearest even, with subnormals and overflow to Inf. */
export function f32ToF16(v: number): number {
  scratchF32[0] = v;
  const x = scratchU32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let r = mant >>> shift;
    if (rest > half || (rest === half && (r & 1) === 1)) r += 1;
    return sign | r;
  }
  const rest = mant & 0x1fff;
  let r = (e << 10) | (mant >>> 13);
  if (rest > 0x1000 || (rest === 0x1000 && (r & 1) === 1)) r += 1;
  // A carry out of the mantissa bumps the exponent, which is the correct rounding (up to Inf).
  e = r >>> 10;
  return sign | (e >= 0x1f ? 0x7c00 : r);
}

export function f16ToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Decode a storage array into float64 values (a fresh array: callers own it). */
export function decode(dtype: DType, src: StorageArray, out?: Float64Array): Float64Array {
  const n = src.length;
  const dst = out ?? new Float64Array(n);
  if (dtype === 'bf16') for (let i = 0; i < n; i++) dst[i] = bf16ToF32(src[i]!);
  else if (dtype === 'f16') for (let i = 0; i < n; i++) dst[i] = f16ToF32(src[i]!);
  else for (let i = 0; i < n; i++) dst[i] = src[i]!;
  return dst;
}

/** Encode numbers into a dtype's storage, rounding as the dtype requires (i32 truncates toward zero). */
export function encode(dtype: DType, src: ArrayLike<number>, out?: StorageArray): StorageArray {
  const n = src.length;
  const dst = out ?? allocStorage(dtype, n);
  if (dtype === 'bf16') for (let i = 0; i < n; i++) dst[i] = f32ToBf16(src[i]!);
  else if (dtype === 'f16') for (let i = 0; i < n; i++) dst[i] = f32ToF16(src[i]!);
  else for (let i = 0; i < n; i++) dst[i] = src[i]!;
  return dst;
}

/** Round a number to what the dtype can hold (for tests and reference comparisons). */
export function roundTo(dtype: DType, v: number): number {
  if (dtype === 'bf16') return bf16ToF32(f32ToBf16(v));
  if (dtype === 'f16') return f16ToF32(f32ToF16(v));
  if (dtype === 'f32') return Math.fround(v);
  return Math.trunc(v);
}
