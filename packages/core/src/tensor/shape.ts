import { AllocationError, ArgumentError, ShapeError } from '../errors.js';

/**
 * The most elements one tensor may hold: storage is indexed with 32-bit integers in the GPU
 * kernels, and JS typed arrays of more elements cannot be allocated on common hosts.
 */
export const MAX_TENSOR_ELEMENTS = 2 ** 31 - 1;

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function checkShape(argument: string, shape: readonly number[]): void {
  for (const d of shape)
    if (!Number.isInteger(d) || d < 0)
      throw new ArgumentError(
        argument,
        `shape entries must be non-negative integers, got [${shape.join(', ')}]`,
      );
  checkElements(argument, shape);
}

/** Refuse a shape with more than MAX_TENSOR_ELEMENTS elements before anything is allocated. */
export function checkElements(argument: string, shape: readonly number[], bytesPerElement?: number): void {
  const n = sizeOf(shape);
  if (n > MAX_TENSOR_ELEMENTS)
    throw new AllocationError(
      argument,
      shape,
      n,
      bytesPerElement === undefined ? null : n * bytesPerElement,
      `at most ${MAX_TENSOR_ELEMENTS} elements per tensor`,
    );
}

/** Resolve one -1 in a reshape target. */
export function inferShape(argument: string, target: readonly number[], size: number): number[] {
  const out = [...target];
  const free = out.indexOf(-1);
  if (free >= 0) {
    if (out.indexOf(-1, free + 1) >= 0) throw new ArgumentError(argument, 'at most one -1 in a shape');
    const rest = sizeOf(out.filter((_, i) => i !== free));
    if (rest === 0 || size % rest !== 0)
      throw new ShapeError(argument, `a shape with ${size} elements`, target);
    out[free] = size / rest;
  }
  checkShape(argument, out);
  if (sizeOf(out) !== size) throw new ShapeError(argument, `a shape with ${size} elements`, target);
  return out;
}

/** NumPy broadcasting of two shapes; throws naming both arguments if incompatible. */
export function broadcastShapes(
  a: readonly number[],
  b: readonly number[],
  names: [string, string] = ['a', 'b'],
): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1)
      throw new ShapeError(names[1], `broadcastable with ${names[0]} [${a.join(', ')}]`, b);
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Row-major strides. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

export function normAxis(axis: number, rank: number, argument = 'axis'): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank)
    throw new ArgumentError(argument, `expected an axis in [-${rank}, ${rank}), got ${axis}`);
  return a;
}
