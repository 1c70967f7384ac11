import { NO_CLUSTER, readBoolFlag } from './flags.js';

/**
 * The two mHC kernel paths. 'cluster': the layer forward runs coeffs and pre in one pass over x
 * (native/kernels/mhc/coeffs_pre.cu), whose blocks exchange partial sums through thread-block
 * clusters (sm_90 and newer). 'no-cluster': coeffs and pre as separate kernels, which every
 * supported card (sm_80 and newer) runs; same numerics contract, one more read of x.
 */
export type KernelPath = 'cluster' | 'no-cluster';

/** What the choice depends on: the device, and whether the code loaded for it has the cluster kernels. */
export interface KernelPathInput {
  computeCapability: string;
  /** The device can launch thread-block clusters. */
  clusterLaunch: boolean;
  /** The addon's code loaded for this device was compiled with the cluster kernels (sm_90+ code). */
  clusterKernels: boolean;
}

/**
 * The one place the kernel path is chosen: clusters on sm_90+ devices whose loaded code has them,
 * unless LIGER_MHC_CUDA_NO_CLUSTER forces the path without them (to test it on sm_90+ cards).
 */
export function chooseKernelPath(
  d: KernelPathInput,
  env: Readonly<Record<string, string | undefined>> = process.env,
): KernelPath {
  if (readBoolFlag(NO_CLUSTER, env)) return 'no-cluster';
  const cc = Number(d.computeCapability);
  return cc >= 9 && d.clusterLaunch && d.clusterKernels ? 'cluster' : 'no-cluster';
}
