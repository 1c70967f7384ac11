import type { CoeffsConfigJson, FixtureTensor } from './fixtures.js';

/** Cases of fixtures/golden-v4 (format of fixtures/golden; semantics in scripts/gen-v4-fixtures.py). */

/** mhcHead: y = Σ_s w[s]·x[s], w = σ(mix·scale + base) + eps. */
export interface HeadCase {
  name: string;
  op: 'head';
  config: { rmsEps: number; eps: number };
  dtypes: { x: string };
  inputs: Record<'x' | 'phi' | 'base' | 'scale', FixtureTensor>;
  cotangents: { y: FixtureTensor };
  outputs: Record<'y' | 'weights', FixtureTensor>;
  grads: Record<'x' | 'phi' | 'base' | 'scale', FixtureTensor>;
}

/** mhcExpand: x [..., c] repeated into hc streams. */
export interface ExpandCase {
  name: string;
  op: 'expand';
  config: { hc: number };
  dtypes: { x: string };
  inputs: { x: FixtureTensor };
  cotangents: { y: FixtureTensor };
  outputs: { y: FixtureTensor };
  grads: { x: FixtureTensor };
}

/** mhcPreNorm: rmsnorm(Σ_s hPre[s]·x[s])·weight. */
export interface PreNormCase {
  name: string;
  op: 'preNorm';
  config: { eps: number };
  dtypes: { x: string; weight: string };
  inputs: Record<'x' | 'hPre' | 'weight', FixtureTensor>;
  cotangents: { y: FixtureTensor };
  outputs: { y: FixtureTensor };
  grads: Record<'x' | 'hPre' | 'weight', FixtureTensor>;
}

/** mhcCoeffs with V4's parameters as stored: φ [M, K] (hc_*_fn), base [M], scale [3]. */
export interface CoeffsV4Case {
  name: string;
  op: 'coeffsV4';
  config: CoeffsConfigJson;
  dtypes: { x: string; phi: string };
  inputs: Record<'x' | 'phi' | 'base' | 'scale', FixtureTensor>;
  cotangents: Record<'hPre' | 'hPost' | 'hRes', FixtureTensor>;
  outputs: Record<'hPre' | 'hPost' | 'hRes', FixtureTensor>;
  grads: Record<'x' | 'phi' | 'base' | 'scale', FixtureTensor>;
}

/**
 * One V4 sublayer: coefficients (V4 layout), pre with the RMSNorm fused (normWeight), a bias-free
 * Linear (f = xIn·weightᵀ, weight f32), post with the residual matrix transposed.
 */
export interface BlockV4Case {
  name: string;
  op: 'blockV4';
  config: CoeffsConfigJson & { normEps: number };
  dtypes: { x: string };
  inputs: Record<'x' | 'phi' | 'base' | 'scale' | 'normWeight' | 'weight', FixtureTensor>;
  cotangents: { out: FixtureTensor };
  outputs: Record<'out' | 'hPre' | 'hPost' | 'hRes', FixtureTensor>;
  grads: Record<'x' | 'phi' | 'base' | 'scale' | 'normWeight' | 'weight', FixtureTensor>;
}

export type V4Case = HeadCase | ExpandCase | PreNormCase | CoeffsV4Case | BlockV4Case;
