import { vi } from 'vitest';
import type { WebGpuBackend } from '../src/index.js';

/**
 * Runs `fn` with every dispatch of `b` recorded by its kernel key (the kernel still runs), so a test
 * can assert which kernels a call took.
 */
export async function withDispatchLog<T>(b: WebGpuBackend, fn: () => T | Promise<T>): Promise<[T, string[]]> {
  const keys: string[] = [];
  const original = b.dispatch.bind(b);
  const spy = vi.spyOn(b, 'dispatch').mockImplementation((def, ...rest) => {
    keys.push(def.key);
    original(def, ...rest);
  });
  try {
    return [await fn(), keys];
  } finally {
    spy.mockRestore();
  }
}

/** A key's kernel name (the part before the specialisation). */
export const kernelName = (key: string): string => key.split(':')[0]!;
