export * from './checkpoint.js';
export * from './layers.js';
export * from './liger-mhc.js';
export * from './liger-mhc-stack.js';
export * from './mini-lm.js';
export * from './module.js';
export * from './recompute.js';
export * from './state-dict-io.js';
