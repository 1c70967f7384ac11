import { type DType, decode, encode, sizeOf, type TensorInfo } from '@liger-mhc/core';
import { createWebGpuBackend, type WebGpuBackend } from '../src/index.js';

let backend: WebGpuBackend | null | undefined;
let why = '';

/** The shared backend of a test file, or null (with `skipReason()`) when no adapter exists. */
export async function gpu(): Promise<WebGpuBackend | null> {
  if (backend !== undefined) return backend;
  try {
    backend = await createWebGpuBackend();
  } catch (err) {
    why = (err as Error).message;
    backend = null;
    console.warn(`webgpu tests skipped: ${why}`);
  }
  return backend;
}

export function skipReason(): string {
  return why;
}

export function upload(
  b: WebGpuBackend,
  values: ArrayLike<number>,
  shape: readonly number[],
  dtype: DType,
): TensorInfo {
  const h = b.alloc(dtype, sizeOf(shape));
  b.write(h, encode(dtype, values));
  return { handle: h, shape: [...shape], dtype };
}

export async function download(b: WebGpuBackend, t: TensorInfo): Promise<Float64Array> {
  return decode(t.dtype, await b.read(t.handle));
}

export function free(b: WebGpuBackend, ...ts: (TensorInfo | null | undefined)[]): void {
  for (const t of ts) if (t) b.disposeData(t.handle);
}
