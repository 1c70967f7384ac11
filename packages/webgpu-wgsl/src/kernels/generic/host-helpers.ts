import { ArgumentError, type DType } from '@liger-mhc/core';
import { isHalf } from '../wgsl-lib.js';
import { MAX_RANK } from './elementwise.wgsl.js';

// Shape arithmetic the generic kernels' host code shares (strides, axis checks, dimension folding).

export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

export function normAxis(axis: number, rank: number, name: string): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank)
    throw new ArgumentError(name, `expected an axis in [${-rank}, ${rank}), got ${axis}`);
  return axis < 0 ? axis + rank : axis;
}

/**
 * Merge adjacent axes that are contiguous in every stride set, and drop size-1 axes: fewer axes
 * make the index walk cheaper, and shapes of any rank fit the kernels' 8-entry shape and stride parameters.
 */
export function collapse(
  shape: readonly number[],
  strides: number[][],
): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    const n = shape[d]!;
    if (n === 1) continue;
    const last = outShape.length - 1;
    if (last >= 0 && strides.every((s, k) => outStrides[k]![last] === s[d]! * n)) {
      outShape[last]! *= n;
      strides.forEach((s, k) => {
        outStrides[k]![last] = s[d]!;
      });
    } else {
      outShape.push(n);
      for (let k = 0; k < strides.length; k++) outStrides[k]!.push(strides[k]![d]!);
    }
  }
  if (outShape.length === 0) {
    outShape.push(1);
    for (const s of outStrides) s.push(0);
  }
  if (outShape.length > MAX_RANK)
    throw new ArgumentError(
      'shape',
      `at most ${MAX_RANK} non-mergeable axes are supported, got ${outShape.length}`,
    );
  return { shape: outShape, strides: outStrides };
}

/** Strides of x in the rank of `shape` (NumPy broadcasting: 0 on broadcast axes). */
export function broadcastStrides(xShape: readonly number[], shape: readonly number[]): number[] {
  const rank = shape.length;
  const xs = stridesOf(xShape);
  const out = new Array<number>(rank).fill(0);
  const off = rank - xShape.length;
  for (let i = 0; i < xShape.length; i++) out[off + i] = xShape[i] === 1 ? 0 : xs[i]!;
  return out;
}

/** Output dtype of a row kernel: f32 scratch when a half row would not start on a word. */
export function rowOut(dtype: DType, rowLen: number): DType {
  return isHalf(dtype) && rowLen % 2 !== 0 ? 'f32' : dtype;
}
