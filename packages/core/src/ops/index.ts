import './layout.js';

export * from './attention.js';
export * from './cast.js';
export * from './creation.js';
export * from './elementwise.js';
export * from './layout.js';
export * from './linalg.js';
// Explicit: mhc.js also holds core-internal helpers (callLayerChecked).
export {
  type MhcCoefficients,
  type MhcCoefficientsAndPre,
  type MhcLayerFn,
  mhcApply,
  mhcCoeffs,
  mhcCoeffsPre,
  mhcForward,
  mhcPostRes,
  mhcPre,
  splitScale,
} from './mhc.js';
export { hasCrossLayerKernels, type MhcBoundary, mhcPostResCoeffsPre } from './mhc-cross-layer.js';
export * from './mhc-options.js';
export * from './mhc-presets.js';
export * from './mhc-unfused.js';
export { mhcExpand, mhcHead, mhcPreNorm } from './mhc-v4.js';
export * from './nn-ops.js';
export * from './reduce.js';
