import { declareEnv, envFlag } from '@liger-mhc/core';

/**
 * The environment variables this package reads, declared in core's registry. The native device
 * reads its switches with getenv when it starts; applyNativeEnv() parses them strictly first and
 * rewrites each set one in the canonical form the native code tests ('1' / '0'), so `true` means on
 * and `false` means off on both sides, and garbage is an EnvError before any device starts.
 */

export const NO_FUSED_PRE = envFlag(
  'LIGER_MHC_CUDA_NO_FUSED_PRE',
  'run coeffs and pre as separate kernels instead of the fused tensor-core coeffs+pre',
);
export const NO_MMA = envFlag(
  'LIGER_MHC_CUDA_NO_MMA',
  'use the CUDA-core coeffs forward instead of tensor cores',
);
export const PROFILE = envFlag(
  'LIGER_MHC_CUDA_PROFILE',
  'print per-kernel times to stderr (synchronises each op)',
);
export const SAFE = envFlag(
  'LIGER_MHC_CUDA_SAFE',
  'use the first, plain versions of kernels that have a faster variant',
);
export const PHI_IN_PLACE = envFlag(
  'LIGER_MHC_CUDA_PHI_IN_PLACE',
  "let the tensor-core coeffs forward read phi's [K, M] layout itself instead of a packed copy",
);
export const FWD_TOK = declareEnv({
  name: 'LIGER_MHC_CUDA_FWD_TOK',
  type: 'enum',
  values: ['32', '64'],
  default: null,
  meaning: 'tokens per tile in the tensor-core coeffs forward (32 or 64; unset: 32)',
});
export const CUBLAS = declareEnv({
  name: 'LIGER_MHC_CUBLAS',
  type: 'path',
  default: null,
  meaning: 'the cuBLAS shared library to open before the default names (libcublas.so.13, .12)',
});

/** Parse the native switches strictly and write them back canonically (see the note above). */
export function applyNativeEnv(): void {
  for (const f of [NO_MMA, PROFILE, SAFE, PHI_IN_PLACE])
    if (f.raw() !== null) process.env[f.name] = f.get() ? '1' : '0';
  if (FWD_TOK.raw() !== null) process.env[FWD_TOK.name] = FWD_TOK.get() ?? '';
}
