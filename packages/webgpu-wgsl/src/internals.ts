/**
 * @liger-mhc/webgpu-wgsl/internals: what the repository's benchmark and tests need beyond the
 * public API (kernel generators, the per-call option choice, the overrides that pin a kernel).
 * Not a stable API.
 */
export type { KernelDef } from './backend.js';
export { WEBGPU_FLAGS, type WebGpuFlags, webgpuFlags } from './flags.js';
export {
  kernelParams,
  type ParamLayout,
  type ParamSchema,
  type ParamValues,
  writeParams,
} from './kernel-params.js';
export {
  coeffsForwardSplitKernel,
  coeffsPhiPackKernel,
  coeffsSplit,
  coeffsSplitBlocker,
  coeffsSplitReduceKernel,
  SPLIT_KG16_K,
  SPLIT_REDUCE_WG,
  SPLIT_SMALL_N,
  type SplitOptions,
  splitMainParams,
} from './kernels/mhc/coeffs-split.wgsl.js';
export { type KernelOverrides, kernelOverrides, setKernelOverrides } from './kernels/mhc/overrides.js';
export { type PostResOptions, postResWideOptions } from './kernels/mhc/post_res.wgsl.js';
