export type { GradNode } from './autograd/node.js';
export * from './backend/index.js';
export { CpuBackend, type CpuBackendOptions } from './cpu/cpu-backend.js';
export { CpuHandle, cpuData, readFloats } from './cpu/cpu-handle.js';
export * from './dtype.js';
export * from './errors.js';
export {
  availableCores,
  BACKEND_ENV_VAR,
  CONFIG_ENV_VAR,
  CPU_THREADS_ENV,
  CPU_THREADS_ENV_VAR,
  defaultCpuThreads,
} from './flags.js';
export * from './io/index.js';
export * from './nn/index.js';
export * from './ops/index.js';
export * from './optim/index.js';
export { type HostPlatform, hostPlatform, setHostPlatform } from './platform/platform.js';
export { isGradEnabled, keep, noGrad, tidy } from './tensor/scope.js';
export { broadcastShapes, sameShape, sizeOf } from './tensor/shape.js';
export { isTensor, Tensor } from './tensor/tensor.js';
export {
  checkEnv,
  declaredEnv,
  declareEnv,
  EnvError,
  type EnvSpec,
  type EnvType,
  type EnvVar,
  envFlag,
  parseFlag,
} from './util/env.js';
export { checkBoolean, checkNumber, checkOptionKeys, nearest } from './util/options.js';
export type { RandomState } from './util/random.js';
export { Random } from './util/random.js';
