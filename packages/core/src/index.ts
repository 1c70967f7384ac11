export * from './backend/index.js';
export { CpuBackend } from './cpu/cpu-backend.js';
export { CpuHandle, cpuData, readFloats } from './cpu/cpu-handle.js';
export * from './dtype.js';
export * from './errors.js';

import './cpu/register.js';

export type { GradNode } from './autograd/node.js';
export { isGradEnabled, keep, noGrad, tidy } from './tensor/scope.js';
export { broadcastShapes, sameShape, sizeOf } from './tensor/shape.js';
export { isTensor, Tensor } from './tensor/tensor.js';
export { Random } from './util/random.js';
