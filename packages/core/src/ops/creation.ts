import type { Backend } from '../backend/contract.js';
import { getBackend } from '../backend/registry.js';
import { type DType, encode, isDType, isFloat, type StorageArray } from '../dtype.js';
import { ArgumentError, DTypeError, ShapeError } from '../errors.js';
import { checkShape, sizeOf } from '../tensor/shape.js';
import { Storage } from '../tensor/storage.js';
import { Tensor } from '../tensor/tensor.js';
import { Random } from '../util/random.js';

export interface TensorOptions {
  dtype?: DType;
  /** A backend name or instance; default: the current backend. */
  backend?: string | Backend;
  requiresGrad?: boolean;
}

type Nested = number | readonly Nested[];
export type TensorData = ArrayLike<number> | readonly Nested[] | number;

export function resolveBackend(b: string | Backend | undefined): Backend {
  if (b === undefined) return getBackend();
  return typeof b === 'string' ? getBackend(b) : b;
}

function resolveDType(dtype: DType | undefined, fallback: DType = 'f32'): DType {
  const d = dtype ?? fallback;
  if (!isDType(d)) throw new DTypeError('dtype', 'one of f32, f16, bf16, i32', String(d));
  return d;
}

/** A tensor from raw storage (16-bit patterns for halves). The data is copied. */
export function fromStorage(
  raw: StorageArray,
  shape: readonly number[],
  dtype: DType,
  options: TensorOptions = {},
): Tensor {
  checkShape('shape', shape);
  if (raw.length !== sizeOf(shape))
    throw new ShapeError(
      'data',
      `${sizeOf(shape)} elements for shape [${shape.join(', ')}]`,
      `${raw.length} elements`,
    );
  const backend = resolveBackend(options.backend);
  const h = backend.alloc(dtype, raw.length);
  backend.write(h, raw);
  const t = new Tensor(new Storage(backend, h, raw.length), shape, dtype);
  if (options.requiresGrad) t.requiresGrad = true;
  return t;
}

/**
 * A tensor from numbers: a flat array-like with `shape`, nested arrays (shape inferred), or a
 * scalar. Values are rounded to the dtype (default f32).
 */
export function tensor(data: TensorData, shape?: readonly number[], options: TensorOptions = {}): Tensor {
  const dtype = resolveDType(options.dtype);
  let flat: ArrayLike<number>;
  let inferred: number[];
  if (typeof data === 'number') {
    flat = [data];
    inferred = [];
  } else if (isNestedArray(data)) {
    inferred = nestedShape(data);
    flat = flatten(data, inferred);
  } else {
    flat = data as ArrayLike<number>;
    inferred = [flat.length];
  }
  const finalShape = shape ?? inferred;
  checkShape('shape', finalShape);
  if (sizeOf(finalShape) !== flat.length)
    throw new ShapeError('shape', `a shape with ${flat.length} elements`, finalShape);
  if (dtype === 'i32')
    for (let i = 0; i < flat.length; i++)
      if (!Number.isInteger(flat[i]))
        throw new ArgumentError('data', `i32 tensors need integers, got ${flat[i]} at index ${i}`);
  return fromStorage(encode(dtype, flat), finalShape, dtype, options);
}

export function full(shape: readonly number[], value: number, options: TensorOptions = {}): Tensor {
  checkShape('shape', shape);
  const backend = resolveBackend(options.backend);
  const t = Tensor.fromInfo(backend, backend.ops.fill(shape, resolveDType(options.dtype), value));
  if (options.requiresGrad) t.requiresGrad = true;
  return t;
}

export function zeros(shape: readonly number[], options: TensorOptions = {}): Tensor {
  return full(shape, 0, options);
}

export function ones(shape: readonly number[], options: TensorOptions = {}): Tensor {
  return full(shape, 1, options);
}

export interface RandomOptions extends TensorOptions {
  /** Seeded generator; default: a fixed-seed generator shared by the process. */
  rng?: Random;
  mean?: number;
  std?: number;
}

const defaultRng = new Random(20260101);

/** Normal samples drawn in JS (reproducible on every backend), then uploaded. */
export function randn(shape: readonly number[], options: RandomOptions = {}): Tensor {
  checkShape('shape', shape);
  const dtype = resolveDType(options.dtype);
  if (!isFloat(dtype)) throw new DTypeError('dtype', 'a float dtype', dtype);
  const rng = options.rng ?? defaultRng;
  const mean = options.mean ?? 0;
  const std = options.std ?? 1;
  const n = sizeOf(shape);
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = mean + std * rng.normal();
  return fromStorage(encode(dtype, v), shape, dtype, options);
}

/** Uniform samples in [low, high). */
export function rand(
  shape: readonly number[],
  options: TensorOptions & { rng?: Random; low?: number; high?: number } = {},
): Tensor {
  checkShape('shape', shape);
  const dtype = resolveDType(options.dtype);
  const rng = options.rng ?? defaultRng;
  const low = options.low ?? 0;
  const high = options.high ?? 1;
  const n = sizeOf(shape);
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = low + (high - low) * rng.uniform();
  if (dtype === 'i32') for (let i = 0; i < n; i++) v[i] = Math.floor(v[i]!);
  return fromStorage(encode(dtype, v), shape, dtype, options);
}

function isNestedArray(d: unknown): d is readonly Nested[] {
  return Array.isArray(d);
}

function nestedShape(d: readonly Nested[]): number[] {
  const shape: number[] = [];
  let cur: Nested = d;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    cur = (cur as readonly Nested[])[0] as Nested;
    if (cur === undefined) break;
  }
  return shape;
}

function flatten(d: readonly Nested[], shape: readonly number[]): number[] {
  const out: number[] = [];
  const walk = (v: Nested, depth: number, path: string) => {
    if (depth === shape.length) {
      if (typeof v !== 'number')
        throw new ArgumentError('data', `expected a number at ${path}, got ${typeof v}`);
      out.push(v);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[depth])
      throw new ShapeError(
        'data',
        `a rectangular nested array of shape [${shape.join(', ')}]`,
        `ragged at ${path || 'top'}`,
      );
    (v as readonly Nested[]).forEach((e, i) => {
      walk(e, depth + 1, `${path}[${i}]`);
    });
  };
  walk(d, 0, '');
  return out;
}
