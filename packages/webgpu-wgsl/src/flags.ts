import { envFlag } from '@liger-mhc/core';

/** The environment variables this package reads, declared in core's registry (strict on/off). */

export const NO_SUBGROUP_MATRIX = envFlag(
  'LIGER_MHC_WEBGPU_NO_SUBGROUP_MATRIX',
  'do not ask for subgroup-matrix (the coeffs forward stays on its f32 path), unless a device option decides',
);

export const TRACE_PIPELINES = envFlag(
  'LIGER_WEBGPU_TRACE',
  "log each pipeline's compile time to the console (slow shader compilers, e.g. lavapipe)",
);
