/**
 * @liger-mhc/patch: opt-in model patching, in the spirit of Liger-Kernel's apply_liger_kernel_to_*
 * done the TypeScript way: instances are patched (never classes), every call returns a handle that
 * undoes it, and a report says what changed where.
 */
export {
  type ApplyLigerMhcOptions,
  applyLigerMhc,
  type PatchedLayer,
  type PatchHandle,
  type PatchReport,
} from './apply.js';
export { type HyperConnectHandle, type HyperConnectOptions, hyperConnect } from './hyper-connect.js';
export { type FusedOps, type MhcOpName, PatchedLigerMHC } from './patched-mhc.js';
