import type { SplitOptions } from './coeffs-split.wgsl.js';
import type { PostResOptions } from './post_res.wgsl.js';

/**
 * Kernel options pinned for one backend's mHC kernels instead of the production choice per call.
 * Every value is a valid production kernel (the choice a different shape or device would make), so
 * tests can reach each kernel on one device and the benchmark can time the alternatives; nothing in
 * the package sets them.
 */
export interface KernelOverrides {
  split?: SplitOptions;
  postRes?: PostResOptions;
}

const pinned = new WeakMap<object, KernelOverrides>();

/** The overrides pinned for `kernels` (none by default). */
export function kernelOverrides(kernels: object): KernelOverrides {
  return pinned.get(kernels) ?? {};
}

/** Pin (or with `{}`, clear) the overrides of a backend's mHC kernels (`backend.mhc`). */
export function setKernelOverrides(kernels: object, overrides: KernelOverrides): void {
  pinned.set(kernels, { ...overrides });
}
