import { ArgumentError } from '../errors.js';
import { CONFIG_ENV_VAR } from '../flags.js';

/**
 * `liger-mhc.config.json`: choose a backend without code changes, per project. The file is looked
 * for in the working directory and then in each parent directory (the nearest one wins, as with
 * .npmrc or tsconfig), or taken from the path in LIGER_MHC_CONFIG. Contents:
 *
 *   { "backend": "webgpu" }
 *
 * Node only: in a browser there is no working directory, so there is no file and this returns
 * null. node:fs is imported dynamically so that core still loads in a browser bundle.
 */
export const CONFIG_FILE_NAME = 'liger-mhc.config.json';
export const CONFIG_PATH_ENV = CONFIG_ENV_VAR.name;

export interface LigerMhcConfigFile {
  /** Absolute path of the file that was read. */
  path: string;
  /** The backend it names, or null when it names none. */
  backend: string | null;
}

function isNode(): boolean {
  return typeof process !== 'undefined' && Boolean(process.versions?.node);
}

/** The nearest config file from `startDir` (default: the working directory) upwards, or null. */
export async function findConfigFile(startDir?: string): Promise<string | null> {
  if (!isNode()) return null;
  const { access } = await import('node:fs/promises');
  const { dirname, join, resolve } = await import('node:path');
  let dir = resolve(startDir ?? process.cwd());
  for (;;) {
    const candidate = join(dir, CONFIG_FILE_NAME);
    try {
      await access(candidate);
      return candidate;
    } catch {
      // not here: try the parent
    }
    const parent = dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

/**
 * Read the config file that applies to `startDir`: the one LIGER_MHC_CONFIG names (which must
 * exist), else the nearest one found upwards; null when there is none. A file that is not valid
 * JSON or has a wrong field is an ArgumentError naming the file: the user wrote it to be obeyed.
 */
export async function loadConfigFile(startDir?: string): Promise<LigerMhcConfigFile | null> {
  if (!isNode()) return null;
  const { readFile } = await import('node:fs/promises');
  const { resolve } = await import('node:path');
  const explicit = CONFIG_ENV_VAR.get();
  const path = explicit ? resolve(explicit) : await findConfigFile(startDir);
  if (path === null) return null;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ArgumentError(
      explicit ? CONFIG_PATH_ENV : path,
      `cannot read the config file ${path}: ${(err as Error).message}`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ArgumentError(path, `not valid JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new ArgumentError(path, 'expected a JSON object such as { "backend": "cpu" }');
  const backend = (parsed as Record<string, unknown>).backend;
  if (backend !== undefined && backend !== null && (typeof backend !== 'string' || backend.trim() === ''))
    throw new ArgumentError(
      `${path}: backend`,
      `expected a backend name (a string), got ${JSON.stringify(backend)}`,
    );
  return { path, backend: typeof backend === 'string' ? backend.trim() : null };
}
