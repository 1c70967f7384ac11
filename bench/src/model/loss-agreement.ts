import type { FloatDType } from '@liger-mhc/core';

/**
 * How closely two loss curves from the same initial weights and batches agree. The first step's
 * loss depends only on the forward pass, so it must match to the activation dtype's rounding; later
 * steps drift apart as rounding differences are amplified by training, so the curves are compared
 * through a 10-step moving mean, which still shows any systematic gap (a wrong gradient or
 * optimizer term separates the curves within a few dozen steps by far more than these bounds).
 */
export interface Agreement {
  firstStepDiff: number;
  maxSmoothedDiff: number;
  meanDiff: number;
  ok: boolean;
  bounds: { firstStep: number; smoothed: number };
}

const BOUNDS: Record<FloatDType, { firstStep: number; smoothed: number }> = {
  f32: { firstStep: 1e-4, smoothed: 0.03 },
  bf16: { firstStep: 0.03, smoothed: 0.08 },
  f16: { firstStep: 0.01, smoothed: 0.05 },
};

export function movingMean(xs: readonly number[], k = 10): number[] {
  return xs.map((_, i) => {
    const w = xs.slice(Math.max(0, i - k + 1), i + 1);
    return w.reduce((a, b) => a + b, 0) / w.length;
  });
}

export function compareLosses(a: readonly number[], b: readonly number[], dtype: FloatDType): Agreement {
  const n = Math.min(a.length, b.length);
  if (n === 0) throw new Error('compareLosses: empty loss curve');
  const sa = movingMean(a.slice(0, n));
  const sb = movingMean(b.slice(0, n));
  let maxSmoothed = 0;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    maxSmoothed = Math.max(maxSmoothed, Math.abs(sa[i]! - sb[i]!));
    sum += Math.abs(a[i]! - b[i]!);
  }
  const bounds = BOUNDS[dtype];
  const firstStepDiff = Math.abs(a[0]! - b[0]!);
  return {
    firstStepDiff,
    maxSmoothedDiff: maxSmoothed,
    meanDiff: sum / n,
    ok: firstStepDiff <= bounds.firstStep && maxSmoothed <= bounds.smoothed,
    bounds,
  };
}
