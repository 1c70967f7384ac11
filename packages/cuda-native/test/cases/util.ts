import { type DType, decode, encode, type TensorInfo } from '@liger-mhc/core';
import type { CudaBackend } from '../../src/index.js';

/** Same bound as core's conformance tolerances: |a - e| <= atol * max|e| + rtol * |e|. */
export const TOL: Readonly<Record<DType, { rtol: number; atol: number }>> = {
  f32: { rtol: 1e-4, atol: 1e-5 },
  f16: { rtol: 4e-3, atol: 2e-3 },
  bf16: { rtol: 2e-2, atol: 1e-2 },
  i32: { rtol: 0, atol: 0 },
};

export interface Check {
  case: string;
  tensor: string;
  pass: boolean;
  ratio: number;
  maxAbs: number;
}

export function compare(
  caseName: string,
  tensor: string,
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: { rtol: number; atol: number },
): Check {
  if (actual.length !== expected.length)
    return { case: caseName, tensor, pass: false, ratio: Infinity, maxAbs: Infinity };
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]!));
  let ratio = 0;
  let maxAbs = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    const a = actual[i]!;
    const err = Math.abs(a - e);
    if (!Number.isFinite(a)) return { case: caseName, tensor, pass: false, ratio: Infinity, maxAbs: NaN };
    const bound = tol.atol * scale + tol.rtol * Math.abs(e);
    const r = err === 0 ? 0 : bound === 0 ? Infinity : err / bound;
    maxAbs = Math.max(maxAbs, err);
    ratio = Math.max(ratio, r);
  }
  return { case: caseName, tensor, pass: ratio <= 1, ratio, maxAbs };
}

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
