import {
  ArgumentError,
  type DType,
  DTypeError,
  fmtShape,
  ShapeError,
  sizeOf,
  type TensorInfo,
} from '@liger-mhc/core';

/** Shape and dtype checks run before any launch, so a bad call enqueues nothing. */
export function expectDType(t: TensorInfo, name: string, ...dtypes: DType[]): void {
  if (!dtypes.includes(t.dtype)) throw new DTypeError(name, dtypes.join(' or '), t.dtype);
}

export function expectFloat(t: TensorInfo, name: string): void {
  expectDType(t, name, 'f32', 'f16', 'bf16');
}

export function expectShape(t: TensorInfo, name: string, shape: readonly number[]): void {
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
    throw new ShapeError(name, fmtShape(shape), t.shape);
}

export function expectScalar(t: TensorInfo, name: string): void {
  if (sizeOf(t.shape) !== 1) throw new ShapeError(name, '[] (one element)', t.shape);
}

export function expectSameDType(a: TensorInfo, an: string, b: TensorInfo, bn: string): void {
  if (a.dtype !== b.dtype) throw new DTypeError(bn, `${a.dtype} (like ${an})`, b.dtype);
}

export function expectInt(v: number, name: string, min = 0): void {
  if (!Number.isInteger(v) || v < min)
    throw new ArgumentError(name, `expected an integer >= ${min}, got ${v}`);
}

export function rowMajorStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** The kernels take at most 8 dimensions; merge nothing, just refuse more. */
export function expectRank(shape: readonly number[], name: string, max = 8): void {
  if (shape.length > max) throw new ShapeError(name, `at most ${max} dimensions`, shape);
}
