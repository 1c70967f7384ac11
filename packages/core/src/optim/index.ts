export * from './adamw.js';
export * from './optimizer.js';
export * from './sgd.js';
