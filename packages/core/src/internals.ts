/**
 * `@liger-mhc/core/internals`: helpers the sibling packages of this repository share (the
 * conformance kit), outside the public API. No stability promise: they may change in any release.
 */
export { writeInto } from './nn/param-io.js';
