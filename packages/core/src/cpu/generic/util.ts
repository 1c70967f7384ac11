import type { TensorInfo } from '../../backend/contract.js';
import {
  allocStorage,
  bytesPerElement,
  type DType,
  isDType,
  isFloat,
  type StorageArray,
} from '../../dtype.js';
import { ArgumentError, DisposedTensorError, DTypeError, ShapeError } from '../../errors.js';
import { sizeOf } from '../../tensor/shape.js';
import type { CpuBackend } from '../cpu-backend.js';
import { allocate, CpuHandle, type FloatArray, notCpuStorage, readFloats } from '../cpu-handle.js';

/**
 * Checks shared by the CPU generic kernels. Every kernel validates all of its arguments with these
 * before it allocates or writes anything, so a failed call leaves no half-written state behind.
 */

/**
 * The raw storage of `t`, after checking that it is a live CPU tensor whose storage matches its
 * declared shape and dtype. TensorInfos are often re-labelled views (a reshape is `{handle, shape}`),
 * so a mismatch here would otherwise read past the data or misinterpret the bytes silently.
 */
export function storageOf(t: TensorInfo, arg: string): StorageArray {
  const h = t.handle as CpuHandle;
  if (!(h instanceof CpuHandle)) throw notCpuStorage(arg);
  if (h.disposed) throw new DisposedTensorError(arg);
  if (h.dtype !== t.dtype) throw new DTypeError(arg, `${h.dtype} (the dtype of its storage)`, t.dtype);
  for (const d of t.shape)
    if (!Number.isInteger(d) || d < 0) throw new ShapeError(arg, 'non-negative integer dims', t.shape);
  if (sizeOf(t.shape) !== h.data.length)
    throw new ShapeError(arg, `a shape of ${h.data.length} elements (the size of its storage)`, t.shape);
  return h.data;
}

/** Validates `t` as storage (see storageOf) and as a float dtype. */
export function checkFloat(t: TensorInfo, arg: string): void {
  storageOf(t, arg);
  if (!isFloat(t.dtype)) throw new DTypeError(arg, 'a float dtype (f32, f16 or bf16)', t.dtype);
}

/** Values of a validated float tensor: f32 storage as is (no copy), half storage decoded to f64. */
export function floatsOf(t: TensorInfo, arg: string): FloatArray {
  checkFloat(t, arg);
  return readFloats(t);
}

export function checkSameDType(t: TensorInfo, arg: string, ref: TensorInfo, refArg: string): void {
  if (t.dtype !== ref.dtype) throw new DTypeError(arg, `${ref.dtype} (the dtype of ${refArg})`, t.dtype);
}

export function checkSameShape(t: TensorInfo, arg: string, ref: TensorInfo, refArg: string): void {
  if (t.shape.length !== ref.shape.length || t.shape.some((d, i) => d !== ref.shape[i]))
    throw new ShapeError(arg, `[${ref.shape.join(', ')}] (the shape of ${refArg})`, t.shape);
}

export function checkDType(dtype: DType, arg: string): void {
  if (!isDType(dtype)) throw new DTypeError(arg, 'one of f32, f16, bf16, i32', String(dtype));
}

export function checkFinite(value: number, arg: string, min = Number.NEGATIVE_INFINITY): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min)
    throw new ArgumentError(
      arg,
      `expected a finite number${min > -Infinity ? ` >= ${min}` : ''}, got ${value}`,
    );
}

/**
 * An output whose storage is filled by raw copies (layout kernels, gathers). Copying the dtype's
 * bit patterns is exact for every dtype and skips the decode/encode round trip of half storage.
 */
export function rawOutput(
  cpu: CpuBackend,
  shape: readonly number[],
  dtype: DType,
): { data: StorageArray; finish(): TensorInfo } {
  const data = allocate('output', shape, () => allocStorage(dtype, sizeOf(shape)), bytesPerElement(dtype));
  return {
    data,
    finish() {
      const h = new CpuHandle(data, dtype);
      cpu.adopt(h);
      return { handle: h, shape: [...shape], dtype };
    },
  };
}

/**
 * Merge adjacent dims that every operand walks contiguously (stride[i] = stride[i+1]·shape[i+1],
 * which also holds for two broadcast 0-strides). [B, T, D] + [D] becomes [B·T, D] + [D]: fewer,
 * longer inner loops, which is where the time of a strided walk goes.
 */
export function collapseDims(
  shape: readonly number[],
  strides: readonly (readonly number[])[],
): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    const n = shape[d]!;
    if (n === 1) continue; // a length-1 dim never moves any offset
    const last = outShape.length - 1;
    if (last >= 0 && strides.every((s, k) => outStrides[k]![last] === s[d]! * n)) {
      outShape[last] = outShape[last]! * n;
      strides.forEach((s, k) => {
        outStrides[k]![last] = s[d]!;
      });
    } else {
      outShape.push(n);
      strides.forEach((s, k) => {
        outStrides[k]!.push(s[d]!);
      });
    }
  }
  // Keep at least one dim so callers always have an inner loop (a size-1 or scalar walk).
  if (outShape.length === 0) {
    outShape.push(1);
    for (const s of outStrides) s.push(0);
  }
  return { shape: outShape, strides: outStrides };
}

/**
 * Walk `shape` row by row (all dims but the last), in row-major order, calling `row(offsets)` with
 * each operand's start offset for that row; the callee loops over the last dim itself with the
 * operand's last stride. The offsets array is reused between calls (no per-row allocation). Pass
 * the output of collapseDims (rank >= 1).
 */
export function forEachRow(
  shape: readonly number[],
  strides: readonly (readonly number[])[],
  row: (offsets: Float64Array) => void,
): void {
  const rank = shape.length;
  const ops = strides.length;
  // Float64Array holds offsets exactly up to 2^53, beyond any array length JS allows.
  const offs = new Float64Array(ops);
  if (rank === 0) throw new ArgumentError('shape', 'forEachRow needs rank >= 1 (see collapseDims)');
  if (rank === 1) {
    row(offs);
    return;
  }
  for (let d = 0; d < rank - 1; d++) if (shape[d] === 0) return;
  const idx = new Array<number>(rank - 1).fill(0);
  for (;;) {
    row(offs);
    // odometer over the outer dims, innermost fastest
    let d = rank - 2;
    for (; d >= 0; d--) {
      idx[d]++;
      for (let k = 0; k < ops; k++) offs[k] += strides[k][d];
      if (idx[d] < shape[d]) break;
      for (let k = 0; k < ops; k++) offs[k] -= strides[k][d] * shape[d];
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

/** Row-major strides of `shape` aligned to `rank` dims, with 0 on dims that broadcast (size 1 or missing). */
export function broadcastStrides(
  shape: readonly number[],
  rank: number,
  target: readonly number[],
): number[] {
  const out = new Array<number>(rank).fill(0);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const d = shape[i]!;
    const t = rank - shape.length + i;
    out[t] = d === 1 && target[t] !== 1 ? 0 : acc;
    acc *= d;
  }
  return out;
}
