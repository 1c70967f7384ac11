import { declareEnv, envFlag } from '@liger-mhc/core';

/**
 * Every knob of the WebGPU backend that the environment can set, declared once in core's registry
 * (name, type, default, meaning; parsed strictly). Backend options (WebGpuBackendOptions) take
 * precedence over these; anything not listed here is not configurable.
 */

export type CoeffsPath = 'split' | 'scalar';

export const COEFFS_PATH = declareEnv({
  name: 'LIGER_MHC_WEBGPU_COEFFS',
  type: 'enum',
  values: ['split', 'scalar'] as const,
  default: 'split',
  meaning:
    "coeffs forward path: 'split' (register-tiled K-split kernel where the call allows it) or 'scalar' (always the per-token kernel)",
});

export const TRACE_PIPELINES = envFlag(
  'LIGER_MHC_WEBGPU_TRACE',
  "log each pipeline's compile time to the console (slow shader compilers, e.g. lavapipe)",
);

export const NO_CROSS_LAYER = envFlag(
  'LIGER_MHC_WEBGPU_NO_CROSS_LAYER',
  'run the boundary between mHC sublayers as separate post_res, coeffs and pre kernels instead of post_res_coeffs_pre',
);

/** The flag table (for documentation and `doctor`). */
export const WEBGPU_FLAGS = [COEFFS_PATH, TRACE_PIPELINES, NO_CROSS_LAYER] as const;

export interface WebGpuFlags {
  /** The coeffs forward path (see WebGpuCapabilities.coeffsForward). */
  coeffsPath: CoeffsPath;
  /** Log each pipeline's compile time. */
  trace: boolean;
}

/** The flags as the environment sets them now (unset variables give the defaults). */
export function webgpuFlags(): WebGpuFlags {
  return { coeffsPath: (COEFFS_PATH.get() ?? 'split') as CoeffsPath, trace: TRACE_PIPELINES.get() };
}
