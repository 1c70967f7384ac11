export * from './attention-shape.js';
export * from './coeffs-pre.js';
export * from './contract.js';
export * from './generic-kernels.js';
export * from './mhc-kernels.js';
export * from './registry.js';
export * from './unsupported.js';
