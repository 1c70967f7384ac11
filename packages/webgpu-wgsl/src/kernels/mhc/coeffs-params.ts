import { kernelParams } from '../../kernel-params.js';

/**
 * The named parameters of the coeffs kernels (coeffs.wgsl.ts, coeffs-split.wgsl.ts): one
 * declaration per kernel, from which its WGSL struct and the host writer are generated.
 */

/** The forward's parameters; the split path's per-token kernel extends them. */
export const COEFFS_FIELDS = {
  N: 'u32',
  K: 'u32',
  /** ceil(K / 2): pairs of a token's x row */
  KP: 'u32',
  tmax: 'u32',
  rmsEps: 'f32',
  preEps: 'f32',
  sinkhornEps: 'f32',
  postMult: 'f32',
} as const;
export const COEFFS_PARAMS = kernelParams(COEFFS_FIELDS);
/** gradRes: 1 when hRes has a cotangent (else the Sinkhorn backward is skipped). */
export const COEFFS_BACKWARD_TOKEN_PARAMS = kernelParams({
  N: 'u32',
  K: 'u32',
  tmax: 'u32',
  sinkhornEps: 'f32',
  postMult: 'f32',
  gradRes: 'u32',
});
/** Column sums of an [N, cols] f32 matrix. */
export const COLUMN_SUM_PARAMS = kernelParams({ N: 'u32', cols: 'u32' });
/** NC tokens per chunk, KB k-blocks; needX / needPhi: 1 when that gradient is wanted. */
export const COEFFS_BACKWARD_X_PARAMS = kernelParams({
  N: 'u32',
  K: 'u32',
  KP: 'u32',
  NC: 'u32',
  KB: 'u32',
  needX: 'u32',
  needPhi: 'u32',
});
export const PHI_REDUCE_PARAMS = kernelParams({ KM: 'u32', chunks: 'u32' });

export const PHI_PACK_PARAMS = kernelParams({ K: 'u32', packed: 'u32' });

/**
 * rowPieces: a token's x row in 16-byte pieces (K/8); zero: 0, the sink the touch loads are
 * masked with (a value the compiler cannot know, so it keeps them).
 */
export const SPLIT_MAIN_PARAMS = kernelParams({
  N: 'u32',
  K: 'u32',
  steps: 'u32',
  stepsPerChunk: 'u32',
  chunks: 'u32',
  rowPieces: 'u32',
  zero: 'u32',
});

/**
 * The forward's parameters, then: chunks of partial sums, coefOffset (where b and the alphas start
 * in the packed buffer, in floats), epilogueGroups (workgroups of the epilogue role), and for the
 * fused pre role per (threads a token), total (N·per) and P8 (pieces a row, c/8).
 */
export const SPLIT_REDUCE_PARAMS = kernelParams({
  ...COEFFS_FIELDS,
  chunks: 'u32',
  coefOffset: 'u32',
  epilogueGroups: 'u32',
  per: 'u32',
  total: 'u32',
  P8: 'u32',
});
