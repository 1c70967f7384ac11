import type { CoeffsConfig } from '@liger-mhc/core';

/** The CoeffsConfig fields the coeffs forward launches take, under their declared names. */
export function coeffsLaunchConfig(c: CoeffsConfig) {
  return {
    hc: c.hc,
    tmax: c.tmax,
    rmsEps: c.rmsEps,
    preEps: c.preEps,
    sinkhornEps: c.sinkhornEps,
    postMult: c.postMult,
  };
}
