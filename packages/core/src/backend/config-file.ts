import { ArgumentError } from '../errors.js';
import { CONFIG_ENV_VAR } from '../flags.js';
import { hostPlatform } from '../platform/platform.js';
import { nearest } from '../util/options.js';

/**
 * `liger-mhc.config.json`: choose a backend without code changes, per project. The file is looked
 * for in the working directory and then in each parent directory (the nearest one wins, as with
 * .npmrc or tsconfig), or taken from the path in LIGER_MHC_CONFIG. Contents:
 *
 *   { "backend": "webgpu" }
 *
 * Node only: in a browser there is no working directory, so there is no file and this returns
 * null. Files are reached through the host hooks (platform/), so the browser build has no fs code.
 */
export const CONFIG_FILE_NAME = 'liger-mhc.config.json';
export const CONFIG_PATH_ENV = CONFIG_ENV_VAR.name;

export interface LigerMhcConfigFile {
  /** Absolute path of the file that was read. */
  path: string;
  /** The backend it names, or null when it names none. */
  backend: string | null;
}

/** The nearest config file from `startDir` (default: the working directory) upwards, or null. */
export async function findConfigFile(startDir?: string): Promise<string | null> {
  const host = hostPlatform();
  const start = startDir ?? host.cwd();
  return start === null ? null : host.findUp(CONFIG_FILE_NAME, start);
}

/**
 * Read the config file that applies to `startDir`: the one LIGER_MHC_CONFIG names (which must
 * exist), else the nearest one found upwards; null when there is none. A file that is not valid
 * JSON or has a wrong field is an ArgumentError naming the file: the user wrote it to be obeyed.
 */
export async function loadConfigFile(startDir?: string): Promise<LigerMhcConfigFile | null> {
  const host = hostPlatform();
  if (host.name !== 'node') return null;
  const explicit = CONFIG_ENV_VAR.get();
  const path = explicit ? host.resolvePath(explicit) : await findConfigFile(startDir);
  if (path === null) return null;
  let text: string;
  try {
    text = new TextDecoder().decode(await host.readFile(path));
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
  // A misspelt key would otherwise be ignored and the file's intent lost without a word.
  for (const key of Object.keys(parsed))
    if (key !== 'backend' && key !== '$schema') {
      const near = nearest(key, ['backend']);
      throw new ArgumentError(
        `${path}: ${key}`,
        `unknown key${near ? `; did you mean '${near}'?` : ''} (valid: backend)`,
      );
    }
  const backend = (parsed as Record<string, unknown>).backend;
  if (backend !== undefined && backend !== null && (typeof backend !== 'string' || backend.trim() === ''))
    throw new ArgumentError(
      `${path}: backend`,
      `expected a backend name (a string), got ${JSON.stringify(backend)}`,
    );
  return { path, backend: typeof backend === 'string' ? backend.trim() : null };
}
