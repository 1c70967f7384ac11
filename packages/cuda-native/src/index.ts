import { registerBackend } from '@liger-mhc/core';
import { createCudaBackend } from './cuda-backend.js';

export {
  CudaBackend,
  type CudaBackendOptions,
  type CudaMemoryInfo,
  createCudaBackend,
  cudaAvailable,
} from './cuda-backend.js';
export { CudaHandle } from './cuda-handle.js';
export { CudaError, CudaOutOfMemoryError, CudaUnavailableError } from './errors.js';

/** Above WebGPU (10) and the CPU reference (0): automatic selection prefers CUDA where it starts. */
export const CUDA_PRIORITY = 20;

registerBackend('cuda', () => createCudaBackend(), CUDA_PRIORITY);
