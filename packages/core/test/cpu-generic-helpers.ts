// Shared by the CPU generic-kernel tests: tensors from plain arrays, seeded inputs exactly
// representable in their dtype, index helpers and finite differences.
import { expect } from 'vitest';
import type { TensorInfo } from '../src/backend/contract.js';
import { CpuBackend } from '../src/cpu/cpu-backend.js';
import { type DType, decode, encode, roundTo } from '../src/dtype.js';
import { sizeOf, stridesOf } from '../src/tensor/shape.js';
import { Random } from '../src/util/random.js';

export const cpu = new CpuBackend();
export const ops = cpu.ops;
export const rng = new Random(20261126);

export function tensor(
  values: ArrayLike<number>,
  shape: readonly number[],
  dtype: DType = 'f32',
): TensorInfo {
  const h = cpu.alloc(dtype, sizeOf(shape));
  cpu.write(h, encode(dtype, values));
  return { handle: h, shape: [...shape], dtype };
}

/** Values of a tensor as f64 (decoded from its storage). */
export function read(t: TensorInfo): Float64Array {
  return decode(t.dtype, cpu.readSync(t.handle));
}

/** Random normal values, rounded to what `dtype` holds. */
export function randn(n: number, dtype: DType = 'f32', scale = 1): number[] {
  return Array.from({ length: n }, () => roundTo(dtype, rng.normal() * scale));
}

export function rand(
  shape: readonly number[],
  dtype: DType = 'f32',
  scale = 1,
): { t: TensorInfo; v: number[] } {
  const v = randn(sizeOf(shape), dtype, scale);
  return { t: tensor(v, shape, dtype), v };
}

/** |a − e| <= atol·max|e| + rtol·|e| elementwise, reporting the first failing index. */
export function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  rtol: number,
  atol = rtol,
) {
  expect(actual.length).toBe(expected.length);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]!));
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    const a = actual[i]!;
    const bound = atol * scale + rtol * Math.abs(e);
    if (!(Math.abs(a - e) <= bound))
      expect.fail(`index ${i}: got ${a}, expected ${e} (|diff| ${Math.abs(a - e)} > ${bound})`);
  }
}

export function expectExact(actual: ArrayLike<number>, expected: ArrayLike<number>) {
  expect(Array.from(actual)).toEqual(Array.from(expected));
}

export const fround = (xs: ArrayLike<number>, dtype: DType = 'f32') =>
  Array.from(xs, (x) => roundTo(dtype, x));

// ---- index helpers for the references ------------------------------------------------------------

export function unravel(flat: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = flat % shape[d]!;
    flat = Math.floor(flat / shape[d]!);
  }
  return idx;
}

export function ravel(idx: readonly number[], shape: readonly number[]): number {
  const s = stridesOf(shape);
  return idx.reduce((acc, i, d) => acc + i * s[d]!, 0);
}

/** The flat index in `shape` that broadcasting reads for the output index `outIdx`. */
export function bcastFlat(outIdx: readonly number[], shape: readonly number[]): number {
  const lead = outIdx.length - shape.length;
  return ravel(
    shape.map((d, i) => (d === 1 ? 0 : outIdx[lead + i]!)),
    shape,
  );
}

/** Central finite difference of a scalar f64 function, one coordinate at a time. */
export function fdGrad(f: (x: number[]) => number, x0: readonly number[], h = 1e-5): number[] {
  const x = [...x0];
  return x0.map((v, i) => {
    x[i] = v + h;
    const fp = f(x);
    x[i] = v - h;
    const fm = f(x);
    x[i] = v;
    return (fp - fm) / (2 * h);
  });
}

export const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};

// ---- fill / cast / affine ----------------------------------------------------------------------
