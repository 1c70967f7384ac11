import { ArgumentError } from './errors.js';
import { declareEnv } from './util/env.js';

/** The environment variables core reads (declared once here; see util/env.ts for the rules). */

/** Which backend to use when the code does not call setBackend. */
export const BACKEND_ENV_VAR = declareEnv({
  name: 'LIGER_MHC_BACKEND',
  type: 'string',
  default: null,
  meaning:
    "the backend to select when none is chosen in code (e.g. 'cpu', 'webgpu', 'cuda'); unset: the best that starts",
});

/** A config file to read instead of looking for one upward from the working directory. */
export const CONFIG_ENV_VAR = declareEnv({
  name: 'LIGER_MHC_CONFIG',
  type: 'path',
  default: null,
  meaning: 'path of the liger-mhc config file to read instead of searching upward from the working directory',
});

/**
 * Threads the CPU backend's heavy kernels (matmul) run on, the calling thread included. Default:
 * every core the runtime reports (os.availableParallelism() in Node, navigator.hardwareConcurrency
 * in browsers). Results are bit-identical for any count. 1 keeps everything on the calling thread;
 * so does any runtime without workers and SharedArrayBuffer (browsers that are not cross-origin
 * isolated). Set per backend with `new CpuBackend({ threads })` or `cpu.setThreads(n)`, or for the
 * process with this environment variable.
 */
export const CPU_THREADS_ENV_VAR = declareEnv({
  name: 'LIGER_MHC_CPU_THREADS',
  type: 'int',
  default: 0,
  min: 1,
  meaning: "threads for the CPU backend's matmul, the calling thread included (unset: every core)",
});
export const CPU_THREADS_ENV = CPU_THREADS_ENV_VAR.name;

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
  const n = CPU_THREADS_ENV_VAR.get();
  return n > 0 ? n : availableCores();
}
