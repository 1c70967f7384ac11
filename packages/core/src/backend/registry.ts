import { CpuBackend } from '../cpu/cpu-backend.js';
import { BackendError } from '../errors.js';
import { BACKEND_ENV_VAR } from '../flags.js';
import { hostPlatform } from '../platform/platform.js';
import { loadConfigFile } from './config-file.js';
import type { Backend, BackendFactory, BackendProbe } from './contract.js';

export {
  CONFIG_FILE_NAME,
  CONFIG_PATH_ENV,
  findConfigFile,
  type LigerMhcConfigFile,
  loadConfigFile,
} from './config-file.js';

/**
 * Backends register under a name with a priority. Selection, in order of precedence:
 *   1. an explicit `setBackend(name)`;
 *   2. the `LIGER_MHC_BACKEND` environment variable;
 *   3. the API configuration, `configure({ backend })`;
 *   4. the config file `liger-mhc.config.json`, the nearest one from the working directory upwards
 *      (or the file LIGER_MHC_CONFIG names); read by `ready()`, Node only (see config-file.ts);
 *   5. automatic: the highest-priority registered backend that initialises.
 * The API outranks the file because code that calls configure() is the more specific statement;
 * the environment outranks both so that one run can be redirected without editing anything.
 * `getBackend()` is synchronous and cannot read files: it sees the config file's choice only after
 * `ready()` has read it. The CPU reference is always registered, so installing only
 * @liger-mhc/core works.
 */
interface Entry {
  factory: BackendFactory;
  priority: number;
  probe: BackendProbe | null;
  instance: Backend | null;
  pending: Promise<Backend> | null;
  failure: Error | null;
}

const entries = new Map<string, Entry>();
let current: Backend | null = null;
let configured: string | null = null;
/** The config file's backend, once ready() has read it (undefined: not read yet). */
let fromFile: { backend: string | null; path: string | null; cwd: string } | undefined;

/** Packages that register a backend when imported, tried when a name is asked for but not registered. */
export const BACKEND_PACKAGES: Readonly<Record<string, string>> = {
  webgpu: '@liger-mhc/webgpu-wgsl',
  cuda: '@liger-mhc/cuda-native',
};

export const BACKEND_ENV = BACKEND_ENV_VAR.name;

/** The CPU reference registers with the lowest priority: every GPU backend outranks it. */
export const CPU_PRIORITY = 0;

export function registerBackend(
  name: string,
  factory: BackendFactory,
  priority = 0,
  options: { probe?: BackendProbe } = {},
): void {
  const old = entries.get(name);
  if (old?.instance && old.instance === current) current = null;
  entries.set(name, {
    factory,
    priority,
    probe: options.probe ?? null,
    instance: null,
    pending: null,
    failure: null,
  });
}

export function registeredBackends(): { name: string; priority: number; initialised: boolean }[] {
  return [...entries.entries()]
    .map(([name, e]) => ({ name, priority: e.priority, initialised: e.instance !== null }))
    .sort((a, b) => b.priority - a.priority);
}

/** Set the configured backend name (precedence below the environment variable). */
export function configure(options: { backend?: string | null }): void {
  if (options.backend !== undefined) configured = options.backend;
}

/** Initialise (once) and return the named backend. */
export async function initBackend(name: string): Promise<Backend> {
  let e = entries.get(name);
  if (!e && BACKEND_PACKAGES[name]) {
    await importBackendPackage(name);
    e = entries.get(name);
  }
  if (!e)
    throw new BackendError(
      `unknown backend '${name}'; registered: ${[...entries.keys()].join(', ') || 'none'}${
        BACKEND_PACKAGES[name] ? ` (install ${BACKEND_PACKAGES[name]})` : ''
      }`,
    );
  if (e.instance) return e.instance;
  if (e.failure) throw e.failure;
  if (!e.pending) {
    const entry = e;
    entry.pending = Promise.resolve()
      .then(() => entry.factory())
      .then(
        (b) => {
          entry.instance = b;
          return b;
        },
        (err: unknown) => {
          const msg = err instanceof Error ? err.message : String(err);
          entry.failure =
            err instanceof BackendError ? err : new BackendError(`backend '${name}' unavailable: ${msg}`);
          entry.pending = null;
          throw entry.failure;
        },
      );
  }
  return e.pending!;
}

/** Select a backend explicitly. Rejects with a BackendError that says why it cannot start. */
export async function setBackend(name: string): Promise<Backend> {
  const b = await initBackend(name);
  current = b;
  return b;
}

/** LIGER_MHC_BACKEND, trimmed; null where unset, empty, or there is no process (browsers). */
function envBackend(): string | null {
  return BACKEND_ENV_VAR.get();
}

/** Which name the environment or configuration asks for, if any. */
export function requestedBackend(): string | null {
  const env = envBackend();
  if (env) return env;
  return configured ?? fromFile?.backend ?? null;
}

/** Read the config file (once per working directory) when neither environment nor API decides. */
async function readConfigFile(): Promise<void> {
  const cwd = hostPlatform().cwd() ?? '';
  if (fromFile && fromFile.cwd === cwd) return;
  const file = await loadConfigFile();
  fromFile = { backend: file?.backend ?? null, path: file?.path ?? null, cwd };
}

/**
 * Select by environment, configuration, or automatically (best that initialises), and return the
 * backend. A backend named by the environment or configuration that fails is an error, not a silent
 * fallback: the user asked for it.
 */
export async function ready(): Promise<Backend> {
  if (current) return current;
  const env = envBackend();
  if (!env && configured === null) await readConfigFile();
  const asked = requestedBackend();
  if (asked) {
    const viaFile = !env && configured === null ? fromFile?.path : null;
    if (!viaFile) return setBackend(asked);
    // Say where the name came from: a stale config file is otherwise hard to find.
    return setBackend(asked).catch((err: unknown) => {
      throw new BackendError(`${(err as Error).message} (selected by ${viaFile})`);
    });
  }
  await Promise.all(
    Object.keys(BACKEND_PACKAGES).map((n) => (entries.has(n) ? null : importBackendPackage(n))),
  );
  const names = registeredBackends().map((r) => r.name);
  let emulated: Backend | null = null;
  const softwareOnly: string[] = [];
  for (const name of names) {
    const e = entries.get(name);
    if (e?.probe && !e.instance) {
      const seen = await e.probe().catch(() => 'unknown' as const);
      if (seen === 'none') continue;
      // Only an emulated GPU here: slower than the CPU reference, tried last (below).
      if (seen === 'software') {
        softwareOnly.push(name);
        continue;
      }
    }
    let b: Backend;
    try {
      b = await initBackend(name);
    } catch {
      continue; // automatic selection skips backends that cannot start
    }
    // A software GPU (lavapipe, SwiftShader) is slower than the CPU reference: pass over it.
    if (b.capabilities.software) {
      emulated ??= b;
      continue;
    }
    current = b;
    return b;
  }
  for (const name of softwareOnly) {
    if (emulated) break;
    emulated = await initBackend(name).catch(() => null);
  }
  if (emulated) {
    current = emulated;
    return emulated;
  }
  throw new BackendError('no backend could be initialised');
}

/**
 * The current backend, or a named one that is already initialised. Without a selection this is the
 * CPU reference unless the environment or configuration names another (then `await ready()` first).
 */
export function getBackend(name?: string): Backend {
  if (name !== undefined) {
    const e = entries.get(name);
    if (e?.instance) return e.instance;
    if (e?.failure) throw e.failure;
    if (!e)
      throw new BackendError(`unknown backend '${name}'; registered: ${[...entries.keys()].join(', ')}`);
    const b = e.factory();
    if (b instanceof Promise)
      throw new BackendError(
        `backend '${name}' initialises asynchronously: await setBackend('${name}') first`,
      );
    e.instance = b;
    return b;
  }
  if (current) return current;
  const asked = requestedBackend();
  if (asked && asked !== 'cpu') {
    const e = entries.get(asked);
    if (e?.instance) {
      current = e.instance;
      return current;
    }
    throw new BackendError(
      `backend '${asked}' was requested (${BACKEND_ENV} or configuration): await ready() first`,
    );
  }
  current = getBackend('cpu');
  return current;
}

/** Forget the selection (tests). Initialised instances stay cached. */
export function resetBackendSelection(): void {
  current = null;
  configured = null;
  fromFile = undefined;
}

/** Dispose and forget an initialised backend instance. */
export function disposeBackend(name: string): void {
  const e = entries.get(name);
  if (!e?.instance) return;
  if (current === e.instance) current = null;
  e.instance.dispose();
  e.instance = null;
  e.failure = null;
}

async function importBackendPackage(name: string): Promise<void> {
  await hostPlatform().importPackage(BACKEND_PACKAGES[name]!);
}

registerBackend('cpu', () => new CpuBackend(), CPU_PRIORITY);
