import { UnsupportedKernelError } from '../errors.js';

/** For a backend that declares a kernel unsupported: `ops.softmax = unsupported('softmax', 'mybackend')`. */
export function unsupported(kernel: string, backend: string, reason?: string): () => never {
  return () => {
    throw new UnsupportedKernelError(kernel, backend, reason);
  };
}
