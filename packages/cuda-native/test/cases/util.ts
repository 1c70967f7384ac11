import { type Check, compare as compareValues, type Tolerance } from '@liger-mhc/conformance';
import { type DType, decode, encode, type TensorInfo } from '@liger-mhc/core';
import type { CudaBackend } from '../../src/index.js';

/** One compared tensor, as the conformance kit reports it (kit's compare and tolerance rule). */
export function compare(
  caseName: string,
  tensor: string,
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: Tolerance,
): Check {
  return { case: caseName, tensor, tolerance: tol, ...compareValues(actual, expected, tol) };
}

export { TOLERANCES as TOL } from '@liger-mhc/conformance';
export type { Check };

export function upload(
  be: CudaBackend,
  data: ArrayLike<number>,
  shape: readonly number[],
  dtype: DType,
): TensorInfo {
  const h = be.alloc(dtype, data.length);
  be.write(h, encode(dtype, data));
  return { handle: h, shape: [...shape], dtype };
}

export async function download(be: CudaBackend, t: TensorInfo): Promise<Float64Array> {
  return decode(t.dtype, await be.read(t.handle));
}

export async function bits(be: CudaBackend, t: TensorInfo): Promise<Uint8Array> {
  const s = await be.read(t.handle);
  return new Uint8Array(s.buffer, s.byteOffset, s.byteLength);
}

export function sameBits(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function dispose(be: CudaBackend, ...ts: (TensorInfo | null | undefined)[]): void {
  for (const t of ts) if (t) be.disposeData(t.handle);
}
