import type { CoeffsForwardArgs, CoeffsPreForwardResult, MhcKernels } from './mhc-kernels.js';

/**
 * The coefficients of x and the pre step with their hPre, through a backend's kernels: the fused
 * `coeffsPreForward` where the backend has it and `supportsCoeffsPre` accepts the arguments, else
 * `coeffsForward` then `preForward`. The one place the fused kernel is chosen: core's mhcCoeffsPre,
 * the conformance kit's device checks and the benchmark rows all come through here.
 */
export function runCoeffsPre(
  mhc: MhcKernels,
  args: CoeffsForwardArgs,
): CoeffsPreForwardResult & { fused: boolean } {
  if (mhc.coeffsPreForward && mhc.supportsCoeffsPre?.(args) === true)
    return { ...mhc.coeffsPreForward(args), fused: true };
  const r = mhc.coeffsForward(args);
  const [n, k] = args.x.shape as [number, number];
  const hc = args.config.hc;
  return { ...r, xIn: mhc.preForward({ ...args.x, shape: [n, hc, k / hc] }, r.hPre), fused: false };
}
