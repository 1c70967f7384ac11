import './layout.js';

export * from './attention.js';
export * from './cast.js';
export * from './creation.js';
export * from './elementwise.js';
export * from './layout.js';
export * from './linalg.js';
// Explicit: mhc.js also holds core-internal helpers (mhcCoeffsAndPre, mhcApplyAfterPre).
export {
  type MhcCoefficients,
  type MhcLayerFn,
  mhcApply,
  mhcCoeffs,
  mhcForward,
  mhcPostRes,
  mhcPre,
  splitScale,
} from './mhc.js';
export { hasCrossLayerKernels, type MhcBoundary, mhcPostResCoeffsPre } from './mhc-cross-layer.js';
export * from './mhc-options.js';
export * from './mhc-presets.js';
export { mhcExpand, mhcHead, mhcPreNorm } from './mhc-v4.js';
export * from './nn-ops.js';
export * from './reduce.js';
