import { ArgumentError } from '@liger-mhc/core';

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
