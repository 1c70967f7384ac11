import type { DataHandle, TensorInfo } from '../backend/contract.js';
import { type DType, decode, encode, type StorageArray } from '../dtype.js';
import { AllocationError, ArgumentError, BackendError, DisposedTensorError } from '../errors.js';
import { checkElements, sizeOf } from '../tensor/shape.js';

/** CPU storage: one typed array in the dtype's raw layout. */
export class CpuHandle implements DataHandle {
  disposed = false;
  /**
   * The backend that accounts for this storage, set when it adopts the handle. Kernels compare it
   * with themselves: storage of another instance would otherwise be read, written or freed behind
   * its owner's memory accounting.
   */
  owner: object | null = null;
  constructor(
    public data: StorageArray,
    readonly dtype: DType,
  ) {}
}

/** The error for storage that is not a CpuHandle (a GPU backend's, or no handle at all). */
export function notCpuStorage(argument: string): BackendError {
  return new BackendError(
    `${argument}: expected a tensor on backend 'cpu', got storage of another backend; move it with await t.to('cpu')`,
    argument,
  );
}

export type FloatArray = Float32Array | Float64Array;

export function cpuData(t: TensorInfo): StorageArray {
  const h = t.handle as CpuHandle;
  if (!(h instanceof CpuHandle)) throw notCpuStorage('tensor');
  if (h.disposed) throw new DisposedTensorError('tensor');
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
    const data = allocate('output', shape, () => new Float32Array(n), 4);
    return {
      values: data,
      finish() {
        const h = new CpuHandle(data, dtype);
        onAlloc(h);
        return { handle: h, shape: [...shape], dtype };
      },
    };
  }
  const values = allocate('output', shape, () => new Float64Array(n), 8);
  return {
    values,
    finish() {
      const h = new CpuHandle(encode(dtype, values), dtype);
      onAlloc(h);
      return { handle: h, shape: [...shape], dtype };
    },
  };
}

/**
 * Storage of `shape` made by `make`, refused before trying when it is over the per-tensor limit, and
 * an AllocationError naming the size asked for (not a raw RangeError) when the host cannot give it.
 */
export function allocate<A>(
  argument: string,
  shape: readonly number[],
  make: () => A,
  bytesPerElement: number,
): A {
  checkElements(argument, shape, bytesPerElement);
  try {
    return make();
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    const n = sizeOf(shape);
    throw new AllocationError(argument, shape, n, n * bytesPerElement, 'the host could not allocate it');
  }
}
