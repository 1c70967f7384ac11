import { BackendError } from '@liger-mhc/core';

/**
 * Why the CUDA backend cannot start, in the order a user has to fix it:
 * - 'no-addon': no native addon for this platform was found (or it failed to load);
 * - 'addon-mismatch': an addon was found but belongs to another version of this package;
 * - 'no-driver': the NVIDIA driver (libcuda.so.1) is not installed or does not work;
 * - 'driver-too-old': the driver supports an older CUDA than the addon was built with;
 * - 'no-device': the driver sees no usable CUDA device;
 * - 'unsupported-device': the card is older than sm_80, or the addon carries no code for it.
 */
export type CudaUnavailableKind =
  | 'no-addon'
  | 'addon-mismatch'
  | 'no-driver'
  | 'driver-too-old'
  | 'no-device'
  | 'unsupported-device';

export const CUDA_UNAVAILABLE_KINDS: readonly CudaUnavailableKind[] = [
  'no-addon',
  'addon-mismatch',
  'no-driver',
  'driver-too-old',
  'no-device',
  'unsupported-device',
];

/** The CUDA backend cannot start here; `kind` says which of the causes above, the message what to do. */
export class CudaUnavailableError extends BackendError {
  constructor(
    readonly kind: CudaUnavailableKind,
    readonly reason: string,
  ) {
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
  if (code === 'CUDA_UNSUPPORTED') return new CudaUnavailableError('unsupported-device', e.message);
  return e;
}
