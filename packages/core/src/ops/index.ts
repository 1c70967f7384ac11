import './layout.js';

export * from './cast.js';
export * from './creation.js';
export * from './elementwise.js';
export * from './layout.js';
export * from './linalg.js';
export * from './mhc.js';
export * from './mhc-options.js';
export * from './nn-ops.js';
export * from './reduce.js';
