import { ArgumentError, declareEnv, envFlag } from '@liger-mhc/core';

/**
 * The knobs of the CUDA backend's loader and kernel-path choice, each read from one environment
 * variable. Parsed strictly: a value that is not one of the documented ones is an error naming the
 * variable, never silently the default.
 */
export interface CudaFlag<T> {
  readonly env: string;
  readonly default: T;
  readonly meaning: string;
}

/** Path of the addon to load instead of the prebuilt or source build; must name a `.node` file. */
export const ADDON_PATH: CudaFlag<string | null> = {
  env: 'LIGER_MHC_CUDA_ADDON',
  default: null,
  meaning:
    'path of the liger_mhc_cuda .node file to load, instead of the prebuilt platform package or the build from source',
};

/**
 * Force the kernel path without thread-block clusters (the one cards before sm_90 take) on any card,
 * so it can be tested on sm_90+.
 */
export const NO_CLUSTER: CudaFlag<boolean> = {
  env: 'LIGER_MHC_CUDA_NO_CLUSTER',
  default: false,
  meaning:
    'use the kernel path without thread-block clusters (separate coeffs and pre kernels) even where the card has clusters',
};

export const CUDA_FLAGS = [ADDON_PATH, NO_CLUSTER] as const;

type Env = Readonly<Record<string, string | undefined>>;

function raw(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/** A boolean flag: unset or empty → its default; 1/true → true; 0/false → false; anything else throws. */
export function readBoolFlag(flag: CudaFlag<boolean>, env: Env = process.env): boolean {
  const v = raw(env, flag.env);
  if (v === undefined) return flag.default;
  const l = v.toLowerCase();
  if (l === '1' || l === 'true') return true;
  if (l === '0' || l === 'false') return false;
  throw new ArgumentError(flag.env, `expected 1, true, 0 or false (or unset), got '${v}'`);
}

/** LIGER_MHC_CUDA_ADDON: null when unset; a path ending in `.node`, else an error naming the variable. */
export function readAddonPath(env: Env = process.env): string | null {
  const v = raw(env, ADDON_PATH.env);
  if (v === undefined) return ADDON_PATH.default;
  if (!v.endsWith('.node'))
    throw new ArgumentError(ADDON_PATH.env, `expected the path of the addon's .node file, got '${v}'`);
  return v;
}

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
export const NO_CROSS_LAYER = envFlag(
  'LIGER_MHC_CUDA_NO_CROSS_LAYER',
  'run the boundary between mHC sublayers as separate post_res, coeffs and pre kernels instead of post_res_coeffs_pre',
);
export const NO_MMA = envFlag(
  'LIGER_MHC_CUDA_NO_MMA',
  'use the CUDA-core coeffs forward instead of tensor cores',
);
export const PROFILE = envFlag(
  'LIGER_MHC_CUDA_PROFILE',
  'print per-kernel times to stderr (synchronises each op)',
);
export const CUBLAS = declareEnv({
  name: 'LIGER_MHC_CUBLAS',
  type: 'path',
  default: null,
  meaning: 'the cuBLAS shared library to open before the default names (libcublas.so.13, .12)',
});

/** Parse the native switches strictly and write them back canonically (see the note above). */
export function applyNativeEnv(): void {
  for (const f of [NO_MMA, PROFILE]) if (f.raw() !== null) process.env[f.name] = f.get() ? '1' : '0';
}
