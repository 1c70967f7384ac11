import type { DataHandle, TensorInfo } from '../backend/contract.js';
import { type DType, decode, encode, type StorageArray } from '../dtype.js';
import { AllocationError, ArgumentError } from '../errors.js';
import { sizeOf } from '../tensor/shape.js';

/** CPU storage: one typed array in the dtype's raw layout. */
export class CpuHandle implements DataHandle {
  disposed = false;
  constructor(
    public data: StorageArray,
    readonly dtype: DType,
  ) {}
}

export type FloatArray = Float32Array | Float64Array;

export function cpuData(t: TensorInfo): StorageArray {
  const h = t.handle as CpuHandle;
  if (!(h instanceof CpuHandle)) throw new ArgumentError('tensor', 'expected a CPU tensor');
  if (h.disposed) throw new ArgumentError('tensor', 'storage has been disposed');
  return h.data;
}

/**
 * Values of a float tensor for reading in a kernel. f32 storage is returned as is (no copy); half
 * storage is decoded to f64 once per kernel call.
 */
export function readFloats(t: TensorInfo): FloatArray {
  const d = cpuData(t);
  if (t.dtype === 'f32') return d as Float32Array;
  if (t.dtype === 'i32') return Float64Array.from(d as Int32Array);
  return decode(t.dtype, d);
}

export function readInts(t: TensorInfo): Int32Array {
  const d = cpuData(t);
  if (t.dtype !== 'i32') throw new ArgumentError('ids', `expected dtype i32, got ${t.dtype}`);
  return d as Int32Array;
}

/**
 * A kernel output: `values` is where the kernel writes (f32 storage directly, or an f64 scratch for
 * half dtypes and i32), and `finish()` encodes it and returns the TensorInfo.
 */
export interface CpuOutput {
  values: FloatArray;
  finish(): TensorInfo;
}

export function cpuOutput(
  shape: readonly number[],
  dtype: DType,
  onAlloc: (h: CpuHandle) => void,
): CpuOutput {
  const n = sizeOf(shape);
  if (dtype === 'f32') {
    const data = allocate(shape, () => new Float32Array(n), 4);
    return {
      values: data,
      finish() {
        const h = new CpuHandle(data, dtype);
        onAlloc(h);
        return { handle: h, shape: [...shape], dtype };
      },
    };
  }
  const values = allocate(shape, () => new Float64Array(n), 8);
  return {
    values,
    finish() {
      const h = new CpuHandle(encode(dtype, values), dtype);
      onAlloc(h);
      return { handle: h, shape: [...shape], dtype };
    },
  };
}

/** A kernel output's array; a host out of memory is an AllocationError naming the size asked for. */
function allocate<A>(shape: readonly number[], make: () => A, bytesPerElement: number): A {
  try {
    return make();
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    const n = sizeOf(shape);
    throw new AllocationError('output', shape, n, n * bytesPerElement, 'the host could not allocate it');
  }
}
