import type { Backend } from '@liger-mhc/core';

/** Our CPU backend's thread count for the run (one until the backend runs kernels on workers). */
export function setCpuThreads(_be: Backend, threads: number): void {
  if (threads !== 1)
    process.stderr.write(
      `note: our CPU backend runs on one thread; --threads ${threads} applies to PyTorch\n`,
    );
}
