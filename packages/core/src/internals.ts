/**
 * `@liger-mhc/core/internals`: helpers the sibling packages of this repository share (the
 * conformance kit, the backends), outside the public API. No stability promise: they may change in any release.
 */

export { composedPostResCoeffsPreForward } from './backend/mhc-cross-layer-compose.js';
export { writeInto } from './nn/param-io.js';
