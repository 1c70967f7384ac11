import type { Orientation } from '../backend/mhc-kernels.js';
import type { PhiLayout } from '../backend/mhc-v4-kernels.js';

export type MhcPresetName = 'liger' | 'deepseek-v4';

/** The conventions a preset fixes; any option given explicitly overrides its preset's value. */
export interface MhcPreset {
  /** Sinkhorn-Knopp iterations. */
  tmax: number;
  /** eps of the RMS over the hc·c inputs of the coefficient projection. */
  rmsEps: number;
  /** Added to sigmoid for hPre (and for the head's weights). */
  preEps: number;
  sinkhornEps: number;
  /** hPost = postMult · sigmoid(...). */
  postMult: number;
  /** How the residual matrix is applied. */
  orientation: Orientation;
  /** How φ is stored. */
  phiLayout: PhiLayout;
  /** eps of the layer's own RMSNorm over c when it is fused into pre (mhcPreNorm). */
  normEps: number;
}

/**
 * 'liger': Liger-Kernel's LigerMHC / liger_mhc_* defaults (pre_eps 0, φ as [hc·c, M], residual
 * matrix applied as H_res·x). 'deepseek-v4': DeepSeek-V4's public model definition (hc_eps = 1e-6
 * added to pre and used by Sinkhorn, norm_eps = 1e-6, hc_sinkhorn_iters = 20, post = 2·sigmoid,
 * φ stored as hc_*_fn [M, hc·c], residual matrix applied transposed: out[o] = Σ_i comb[i, o]·x[i]).
 */
export const MHC_PRESETS: Readonly<Record<MhcPresetName, Readonly<MhcPreset>>> = {
  liger: {
    tmax: 20,
    rmsEps: 1e-6,
    preEps: 0,
    sinkhornEps: 1e-6,
    postMult: 2,
    orientation: 'liger',
    phiLayout: 'liger',
    normEps: 1e-6,
  },
  'deepseek-v4': {
    tmax: 20,
    rmsEps: 1e-6,
    preEps: 1e-6,
    sinkhornEps: 1e-6,
    postMult: 2,
    orientation: 'deepseek',
    phiLayout: 'deepseek',
    normEps: 1e-6,
  },
};
