import type { CoeffsConfigJson, FixtureTensor } from './fixtures.js';

/**
 * Cases of fixtures/golden-xlayer (format of fixtures/golden; written by
 * scripts/gen-xlayer-fixtures.py): the cross-layer boundary op mhcPostResCoeffsPre, i.e.
 * xOut = post_res(x, f, hPost, hRes), then the coefficients (φ, b, α) of xOut and xIn = pre(xOut, hPre).
 * φ is stored in `config.phiLayout`; `grads` are the VJP of all five outputs w.r.t. every input.
 */
export interface PostResCoeffsPreCase {
  name: string;
  op: 'postResCoeffsPre';
  config: CoeffsConfigJson & { orientation: 'liger' | 'deepseek'; phiLayout: 'liger' | 'deepseek' };
  dtypes: { x: string; f: string; phi: string };
  inputs: Record<XLayerInput, FixtureTensor>;
  cotangents: Record<XLayerOutput, FixtureTensor>;
  outputs: Record<XLayerOutput, FixtureTensor>;
  grads: Record<XLayerInput, FixtureTensor>;
}

export type XLayerInput = 'x' | 'f' | 'hPost' | 'hRes' | 'phi' | 'b' | 'alphaPre' | 'alphaPost' | 'alphaRes';
export type XLayerOutput = 'xOut' | 'hPre' | 'hPost' | 'hRes' | 'xIn';

/** The ops of fixtures/golden-xlayer. */
export const XLAYER_OPS = ['postResCoeffsPre'] as const;

/** The cross-layer fixtures shipped with this package. */
export function defaultXLayerFixturesDir(): string {
  return decodeURIComponent(new URL('../fixtures/golden-xlayer', import.meta.url).pathname);
}
