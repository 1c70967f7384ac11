import { BackendError } from '@liger-mhc/core';

/** The CUDA backend cannot start here (no addon, no driver, no device). */
export class CudaUnavailableError extends BackendError {
  constructor(readonly reason: string) {
    super(`CUDA backend unavailable: ${reason}`);
  }
}

/** A CUDA call or launch failed; the message carries the CUDA error name and text. */
export class CudaError extends BackendError {}

/** Device memory ran out even after the backend's cache was emptied; the backend stays usable. */
export class CudaOutOfMemoryError extends CudaError {}

/** Map an error thrown by the addon (its `code` says which kind) to a typed JS error. */
export function mapNativeError(e: unknown): Error {
  if (!(e instanceof Error)) return new CudaError(String(e));
  const code = (e as { code?: string }).code;
  if (code === 'CUDA_OOM') return new CudaOutOfMemoryError(e.message);
  if (code === 'CUDA_ERROR') return new CudaError(e.message);
  return e;
}
