import { ArgumentError } from './errors.js';

/**
 * The knobs of @liger-mhc/core that are not per-call options, each declared once here with its
 * default and meaning.
 */

/**
 * Threads the CPU backend's heavy kernels (matmul) run on, the calling thread included. Default:
 * every core the runtime reports (os.availableParallelism() in Node, navigator.hardwareConcurrency
 * in browsers). Results are bit-identical for any count. 1 keeps everything on the calling thread;
 * so does any runtime without workers and SharedArrayBuffer (browsers that are not cross-origin
 * isolated). Set per backend with `new CpuBackend({ threads })` or `cpu.setThreads(n)`, or for the
 * process with this environment variable.
 */
export const CPU_THREADS_ENV = 'LIGER_MHC_CPU_THREADS';

/** Cores the runtime reports (1 where it reports none). */
export function availableCores(): number {
  const g = globalThis as {
    process?: { versions?: { node?: string }; getBuiltinModule?: (m: string) => unknown };
    navigator?: { hardwareConcurrency?: number };
  };
  if (g.process?.versions?.node && typeof g.process.getBuiltinModule === 'function') {
    const os = g.process.getBuiltinModule('node:os') as {
      availableParallelism?: () => number;
      cpus(): unknown[];
    };
    return Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
  }
  return Math.max(1, g.navigator?.hardwareConcurrency ?? 1);
}

/** Check a thread count: an integer >= 1 (`argument` names where it came from). */
export function checkThreads(n: unknown, argument: string): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1)
    throw new ArgumentError(argument, `expected an integer >= 1, got ${String(n)}`);
  return n;
}

/** The default CPU thread count: $LIGER_MHC_CPU_THREADS if set, else every core. */
export function defaultCpuThreads(): number {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[
    CPU_THREADS_ENV
  ]?.trim();
  if (env) return checkThreads(Number(env), CPU_THREADS_ENV);
  return availableCores();
}
