import { registerBackend } from '@liger-mhc/core';
import { createCudaBackend } from './cuda-backend.js';

export { type AddonSource, PLATFORM_PACKAGE } from './addon-loader.js';
export {
  CudaBackend,
  type CudaBackendOptions,
  type CudaDeviceInfo,
  type CudaMemoryInfo,
  createCudaBackend,
  cudaAvailable,
} from './cuda-backend.js';
export { CudaHandle } from './cuda-handle.js';
export { type CudaDoctorReport, cudaDoctor } from './doctor.js';
export {
  CUDA_UNAVAILABLE_KINDS,
  CudaError,
  CudaOutOfMemoryError,
  CudaUnavailableError,
  type CudaUnavailableKind,
} from './errors.js';
export { CUDA_FLAGS, type CudaFlag } from './flags.js';
export type { KernelPath } from './kernel-path.js';

/** Above WebGPU (10) and the CPU reference (0): automatic selection prefers CUDA where it starts. */
export const CUDA_PRIORITY = 20;

registerBackend('cuda', () => createCudaBackend(), CUDA_PRIORITY);
