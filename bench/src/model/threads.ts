import { type Backend, CpuBackend } from '@liger-mhc/core';

/** Run our CPU backend's kernels on `threads` threads (the same count PyTorch gets). */
export function setCpuThreads(be: Backend, threads: number): void {
  if (!(be instanceof CpuBackend)) throw new Error(`--threads applies to the cpu backend, not '${be.name}'`);
  be.setThreads(threads);
}
