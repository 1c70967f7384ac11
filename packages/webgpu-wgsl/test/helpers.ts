import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type DType, decode, encode, sizeOf, type TensorInfo } from '@liger-mhc/core';
import { createWebGpuBackend, type WebGpuBackend } from '../src/index.js';

export const FIXTURES = fileURLToPath(new URL('../../core/fixtures/golden/', import.meta.url));

export interface FixtureTensor {
  shape: number[];
  data: number[];
}

// biome-ignore lint/suspicious/noExplicitAny: fixture JSON is loosely typed by design
export type Fixture = any;

export function loadFixture(name: string): Fixture {
  return JSON.parse(readFileSync(`${FIXTURES}${name}.json`, 'utf8'));
}

export function fixtureNames(op: string): string[] {
  const index = JSON.parse(readFileSync(`${FIXTURES}index.json`, 'utf8')) as { name: string; op: string }[];
  return index.filter((e) => e.op === op).map((e) => e.name);
}

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

export function up(b: WebGpuBackend, t: FixtureTensor, dtype: DType = 'f32'): TensorInfo {
  return upload(b, t.data, t.shape, dtype);
}

export async function download(b: WebGpuBackend, t: TensorInfo): Promise<Float64Array> {
  return decode(t.dtype, await b.read(t.handle));
}

export interface Tol {
  rtol: number;
  atol: number;
}

export const TOL: Record<DType, Tol> = {
  f32: { rtol: 1e-4, atol: 1e-5 },
  f16: { rtol: 4e-3, atol: 2e-3 },
  bf16: { rtol: 2e-2, atol: 1e-2 },
  i32: { rtol: 0, atol: 0 },
};

/** Max over elements of |a-e| / (atol·max|e| + rtol·|e|): passes when <= 1 (core's rule). */
export function ratio(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tol): number {
  if (actual.length !== expected.length) return Number.POSITIVE_INFINITY;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]!));
  let r = 0;
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i]! - expected[i]!);
    if (!Number.isFinite(actual[i]!)) return Number.POSITIVE_INFINITY;
    const bound = tol.atol * scale + tol.rtol * Math.abs(expected[i]!);
    r = Math.max(r, err === 0 ? 0 : bound === 0 ? Number.POSITIVE_INFINITY : err / bound);
  }
  return r;
}

export function free(b: WebGpuBackend, ...ts: (TensorInfo | null | undefined)[]): void {
  for (const t of ts) if (t) b.disposeData(t.handle);
}
