import type { TensorInfo } from '../../backend/contract.js';
import { type DType, encode, f16ToF32 } from '../../dtype.js';
import { DTypeError, ShapeError } from '../../errors.js';
import { sizeOf } from '../../tensor/shape.js';
import type { CpuBackend } from '../cpu-backend.js';
import { allocate, CpuHandle, cpuData, readFloats } from '../cpu-handle.js';

/**
 * Storage helpers shared by the mHC kernels. Every kernel reads activations as a Float32Array and
 * writes them into one: bf16 and f16 values are exact in f32, so nothing is lost, and the hot loops
 * stay monomorphic (V8 compiles one element kind instead of dispatching per access). All arithmetic
 * happens in JS numbers (f64); only the stored results are rounded.
 */

let f16Table: Float32Array | null = null;

/** All 65536 f16 values as f32 (256 KiB, built on first use): widening becomes one lookup. */
function f16Values(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) f16Table[i] = f16ToF32(i);
  }
  return f16Table;
}

/**
 * An activation tensor's values as f32: f32 storage as is (no copy), half storage widened exactly.
 * bf16 is the top half of an f32, so widening is a shift written through a u32 view.
 */
export function readF32(t: TensorInfo, name: string): Float32Array {
  const d = cpuData(t);
  if (t.dtype === 'f32') return d as Float32Array;
  const n = d.length;
  const out = new Float32Array(n);
  if (t.dtype === 'bf16') {
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) bits[i] = d[i] << 16;
  } else if (t.dtype === 'f16') {
    const table = f16Values();
    for (let i = 0; i < n; i++) out[i] = table[d[i]];
  } else throw new DTypeError(name, 'f32, f16 or bf16', t.dtype);
  return out;
}

/** f32 -> bf16 bits for a whole array, rounding exactly as `f32ToBf16` (nearest even; NaN stays NaN). */
function narrowBf16(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i];
    out[i] =
      (b & 0x7f800000) === 0x7f800000 && (b & 0x007fffff) !== 0
        ? ((b >>> 16) | 0x40) & 0xffff
        : ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
  }
  return out;
}

/** A coefficient tensor (always f32 in the contract) as a Float32Array. */
export function readCoeff(t: TensorInfo, name: string): Float32Array {
  if (t.dtype !== 'f32') throw new DTypeError(name, 'f32', t.dtype);
  return cpuData(t) as Float32Array;
}

/** The value of a one-element tensor (the alphas). */
export function readScalar(t: TensorInfo, name: string): number {
  const v = readFloats(t);
  if (v.length !== 1) throw new ShapeError(name, '[] (one element)', t.shape);
  return v[0];
}

export interface F32Output {
  values: Float32Array;
  finish(): TensorInfo;
}

/**
 * An output in `dtype` that the kernel fills as f32. For half dtypes the f32 values are encoded at
 * finish(); `encode` itself goes through f32, so this rounds exactly as writing f64 values would.
 */
export function f32Output(cpu: CpuBackend, shape: readonly number[], dtype: DType): F32Output {
  if (dtype === 'f32') {
    const out = cpu.output(shape, 'f32');
    return { values: out.values as Float32Array, finish: out.finish };
  }
  if (dtype !== 'f16' && dtype !== 'bf16') throw new DTypeError('output', 'f32, f16 or bf16', dtype);
  const n = sizeOf(shape);
  const values = allocate('output', shape, () => new Float32Array(n), 4);
  return {
    values,
    finish() {
      const h = new CpuHandle(dtype === 'bf16' ? narrowBf16(values) : encode(dtype, values), dtype);
      cpu.adopt(h);
      return { handle: h, shape: [...shape], dtype };
    },
  };
}

/**
 * Saved tensors hold f64 values, two f32 words per value (shape [2*count], dtype f32): the oracle
 * must carry full precision from the forward to the backward, so that 'history' and 'recompute'
 * agree to f64 rounding and the backward does not inherit f32 rounding of intermediates. The
 * contract leaves the layout of saved tensors to the backend.
 */
export function savedF64(cpu: CpuBackend, count: number): { values: Float64Array; finish(): TensorInfo } {
  const out = cpu.output([2 * count], 'f32');
  const f32 = out.values as Float32Array;
  return { values: new Float64Array(f32.buffer, f32.byteOffset, count), finish: out.finish };
}

export function readSavedF64(t: TensorInfo, name: string, count: number): Float64Array {
  const d = cpuData(t);
  if (t.dtype !== 'f32' || !(d instanceof Float32Array) || d.length !== 2 * count)
    throw new ShapeError(name, `[${2 * count}] f32 (a saved tensor of this backend)`, t.shape);
  return new Float64Array(d.buffer, d.byteOffset, count);
}

/** Leading size, hc and c of an activation [..., hc, c]. */
export function streamsShape(t: TensorInfo, name: string): { n: number; hc: number; c: number } {
  const s = t.shape;
  if (s.length < 2) throw new ShapeError(name, '[..., hc, c]', s);
  const hc = s[s.length - 2];
  const c = s[s.length - 1];
  let n = 1;
  for (let i = 0; i < s.length - 2; i++) n *= s[i];
  return { n, hc, c };
}

export function expectSize(t: TensorInfo, name: string, expected: string, size: number): void {
  let n = 1;
  for (const d of t.shape) n *= d;
  if (n !== size) throw new ShapeError(name, expected, t.shape);
}
