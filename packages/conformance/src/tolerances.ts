import type { DType } from '@liger-mhc/core';

/**
 * The one place where comparison tolerances live. A value passes when
 *     |actual - expected| <= atol * max(|expected|) + rtol * |expected|
 * i.e. atol is relative to the largest magnitude in the tensor (gradients range from 1e-4 to 1e3
 * between fixtures, so an absolute floor must scale), rtol is per element.
 *
 * The dtype is the one the backend stores the compared tensor in. Inputs of every fixture are exact
 * in their storage dtype, so the error budget covers only the rounding of outputs and intermediates
 * stored at that precision, plus f32 accumulation on GPUs:
 *   f32  : a few ulps of f32 (2^-24 = 6e-8) amplified by reductions over K <= 2080 and 20 Sinkhorn
 *          iterations;
 *   f16  : 2^-11 = 4.9e-4 per rounding, a few roundings deep;
 *   bf16 : 2^-8 = 3.9e-3 per rounding, a few roundings deep (x -> xIn -> f -> xOut).
 */
export interface Tolerance {
  rtol: number;
  atol: number;
}

export const TOLERANCES: Readonly<Record<DType, Tolerance>> = {
  f32: { rtol: 1e-4, atol: 1e-5 },
  f16: { rtol: 4e-3, atol: 2e-3 },
  bf16: { rtol: 2e-2, atol: 1e-2 },
  i32: { rtol: 0, atol: 0 },
};

/** Tighter bounds for the f64-math CPU reference (its f32 outputs are correctly rounded or nearly). */
export const REFERENCE_F32: Tolerance = { rtol: 2e-6, atol: 1e-6 };

export interface Comparison {
  /** max over elements of |a-e| / (atol*scale + rtol*|e|): passes when <= 1. */
  ratio: number;
  maxAbsError: number;
  worstIndex: number;
  pass: boolean;
}

export function compare(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance): Comparison {
  if (actual.length !== expected.length)
    return {
      ratio: Number.POSITIVE_INFINITY,
      maxAbsError: Number.POSITIVE_INFINITY,
      worstIndex: -1,
      pass: false,
    };
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]!));
  let ratio = 0;
  let maxAbs = 0;
  let worst = -1;
  const floor = tol.atol * scale;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    const a = actual[i]!;
    const err = Math.abs(a - e);
    if (!Number.isFinite(a) || Number.isNaN(err))
      return { ratio: Number.POSITIVE_INFINITY, maxAbsError: Number.NaN, worstIndex: i, pass: false };
    const bound = floor + tol.rtol * Math.abs(e);
    const r = err === 0 ? 0 : bound === 0 ? Number.POSITIVE_INFINITY : err / bound;
    if (err > maxAbs) maxAbs = err;
    if (r > ratio) {
      ratio = r;
      worst = i;
    }
  }
  return { ratio, maxAbsError: maxAbs, worstIndex: worst, pass: ratio <= 1 };
}
