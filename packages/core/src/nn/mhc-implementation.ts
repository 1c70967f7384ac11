import { ArgumentError } from '../errors.js';
import {
  type MhcCoefficients,
  type MhcCoefficientsAndPre,
  mhcCoeffs,
  mhcCoeffsPre,
  mhcPostRes,
  mhcPre,
} from '../ops/mhc.js';
import type { MhcOptions } from '../ops/mhc-options.js';
import { type MhcParams, unfusedMhcCoeffs, unfusedMhcPostRes, unfusedMhcPre } from '../ops/mhc-unfused.js';
import type { Tensor } from '../tensor/tensor.js';

/**
 * How an mHC module computes its three steps. LigerMHC owns parameters, initialisation and options
 * once; the implementation only says which ops run: the backend's fused mHC kernels, the unfused
 * generic ops (mhc-unfused.ts), or a mix of the two (what a partial patch installs).
 */
export interface MhcImplementation {
  /** 'fused', 'unfused' or a mix such as 'coeffs fused, pre unfused, postRes fused'. */
  readonly name: string;
  coeffs(x: Tensor, params: MhcParams, options: MhcOptions): MhcCoefficients;
  /** coeffs then pre on the same x; the fused kernels run both in one pass where the backend can. */
  coeffsPre(x: Tensor, params: MhcParams, options: MhcOptions): MhcCoefficientsAndPre;
  postRes(x: Tensor, f: Tensor, hPost: Tensor, hRes: Tensor, options: MhcOptions): Tensor;
}

/** Which of the three computations run as the backend's fused mHC kernels. */
export interface FusedOps {
  coeffs: boolean;
  pre: boolean;
  postRes: boolean;
}

export type MhcOpName = keyof FusedOps;

export const MHC_OP_NAMES: readonly MhcOpName[] = ['coeffs', 'pre', 'postRes'];

const fusedCoeffs = (x: Tensor, p: MhcParams, o: MhcOptions) =>
  mhcCoeffs(x, p.phi, p.b, p.alphaPre, p.alphaPost, p.alphaRes, o);

/** Every step on the backend's fused mHC kernels (the default). */
export const FUSED_MHC: MhcImplementation = {
  name: 'fused',
  coeffs: fusedCoeffs,
  coeffsPre: (x, p, o) => mhcCoeffsPre(x, p.phi, p.b, p.alphaPre, p.alphaPost, p.alphaRes, o),
  postRes: (x, f, hPost, hRes, o) => mhcPostRes(x, f, hPost, hRes, o),
};

/** Every step from generic ops (mhc-unfused.ts): no mHC kernel runs. */
export const UNFUSED_MHC: MhcImplementation = {
  name: 'unfused',
  coeffs: unfusedMhcCoeffs,
  coeffsPre: (x, p, o) => {
    const coeffs = unfusedMhcCoeffs(x, p, o);
    return { coeffs, xIn: unfusedMhcPre(x, coeffs.hPre) };
  },
  postRes: unfusedMhcPostRes,
};

/** Each step fused or unfused as `fused` says; all fused is FUSED_MHC, none fused UNFUSED_MHC. */
export function mhcImplementation(fused: FusedOps): MhcImplementation {
  for (const k of MHC_OP_NAMES)
    if (typeof fused?.[k] !== 'boolean')
      throw new ArgumentError(`fused.${k}`, `expected a boolean, got ${String(fused?.[k])}`);
  if (fused.coeffs && fused.pre && fused.postRes) return FUSED_MHC;
  if (!fused.coeffs && !fused.pre && !fused.postRes) return UNFUSED_MHC;
  const coeffs = fused.coeffs ? fusedCoeffs : unfusedMhcCoeffs;
  return {
    name: MHC_OP_NAMES.map((k) => `${k} ${fused[k] ? 'fused' : 'unfused'}`).join(', '),
    coeffs,
    coeffsPre: (x, p, o) => {
      if (fused.coeffs && fused.pre) return FUSED_MHC.coeffsPre(x, p, o);
      const h = coeffs(x, p, o);
      return { coeffs: h, xIn: fused.pre ? mhcPre(x, h.hPre, o) : unfusedMhcPre(x, h.hPre) };
    },
    postRes: fused.postRes ? FUSED_MHC.postRes : UNFUSED_MHC.postRes,
  };
}
