import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { CudaUnavailableError } from './errors.js';
import { ADDON_PATH, readAddonPath } from './flags.js';
import type { Addon } from './native.js';

export const ADDON_FILE = 'liger_mhc_cuda.node';
/** The prebuilt addon for Linux x64 with glibc, an optional dependency of this package. */
export const PLATFORM_PACKAGE = '@liger-mhc/cuda-native-linux-x64-gnu';
export const PACKAGE_NAME = '@liger-mhc/cuda-native';

export type AddonSource = 'prebuilt' | 'source' | 'env';

/** Where the addon came from (or was looked for). */
export interface AddonLocation {
  path: string | null;
  source: AddonSource | null;
  /** The package the addon ships in: the platform package, or this one for a build from source. */
  packageName: string | null;
  /** The version compiled into the addon, once loaded. */
  version: string | null;
}

export type LoadedAddon =
  | { ok: true; addon: Addon; location: AddonLocation }
  | { ok: false; error: Error; location: AddonLocation };

interface Candidate {
  path: string;
  source: AddonSource;
  packageName: string | null;
  /** The version of the package that holds it, where it has its own package.json. */
  packageVersion: string | null;
}

const here = import.meta.url;

/** This package's version, from its package.json (absent where the code is bundled elsewhere). */
export function ownVersion(): string | null {
  try {
    const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../package.json', here)), 'utf8')) as {
      name?: string;
      version?: string;
    };
    return pkg.name === PACKAGE_NAME && typeof pkg.version === 'string' ? pkg.version : null;
  } catch {
    return null;
  }
}

/** Whether this process runs where the prebuilt package installs (linux x64 with glibc). */
export function prebuiltPlatform(): boolean {
  if (process.platform !== 'linux' || process.arch !== 'x64') return false;
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)
    ?.header;
  return typeof header?.glibcVersionRuntime === 'string';
}

function platformCandidate(): Candidate | null {
  const req = createRequire(here);
  let pkgJson: string;
  try {
    pkgJson = req.resolve(`${PLATFORM_PACKAGE}/package.json`);
  } catch {
    return null; // not installed (another platform, or optional dependencies omitted)
  }
  let version: string | null = null;
  try {
    version = (JSON.parse(readFileSync(pkgJson, 'utf8')) as { version?: string }).version ?? null;
  } catch {
    version = null;
  }
  let path: string;
  try {
    path = req.resolve(`${PLATFORM_PACKAGE}/${ADDON_FILE}`);
  } catch {
    return null;
  }
  // In a checkout of the repository the package exists before its binary is built.
  if (!existsSync(path)) return null;
  return { path, source: 'prebuilt', packageName: PLATFORM_PACKAGE, packageVersion: version };
}

function sourceCandidates(): Candidate[] {
  return [
    // A build from source in this package (from src/ or dist/ alike).
    fileURLToPath(new URL(`../build/Release/${ADDON_FILE}`, here)),
    // Beside the module: bundles copy the built .node next to themselves.
    fileURLToPath(new URL(`./${ADDON_FILE}`, here)),
  ]
    .filter((p) => existsSync(p))
    .map((path) => ({ path, source: 'source' as const, packageName: PACKAGE_NAME, packageVersion: null }));
}

/** What to do where no addon was found: install the prebuilt package, or build from source. */
export function installHint(version: string | null): string {
  const pin = version ? `@${version}` : '';
  const prebuilt = prebuiltPlatform()
    ? `install the prebuilt addon (npm install ${PLATFORM_PACKAGE}${pin}; it is an optional dependency, so installs that omit optional dependencies skip it), or build`
    : `prebuilt addons exist for Linux x64 with glibc only (${process.platform}-${process.arch} here): build`;
  return `${prebuilt} it from source: install a CUDA toolkit with nvcc (CUDA 12 or 13), then run npm rebuild ${PACKAGE_NAME}; or set ${ADDON_PATH.env} to the path of a liger_mhc_cuda.node`;
}

function tryLoad(c: Candidate, own: string | null): LoadedAddon {
  const location: AddonLocation = {
    path: c.path,
    source: c.source,
    packageName: c.packageName,
    version: null,
  };
  if (own && c.packageVersion && c.packageVersion !== own)
    return {
      ok: false,
      location: { ...location, version: c.packageVersion },
      error: new CudaUnavailableError(
        'addon-mismatch',
        `${c.packageName}@${c.packageVersion} does not match ${PACKAGE_NAME}@${own}: install the same version of both (npm install ${c.packageName}@${own})`,
      ),
    };
  let addon: Addon;
  try {
    addon = createRequire(here)(c.path) as Addon;
  } catch (e) {
    return {
      ok: false,
      location,
      error: new CudaUnavailableError(
        'no-addon',
        `native addon ${c.path} failed to load: ${e instanceof Error ? e.message : String(e)}; ${installHint(own)}`,
      ),
    };
  }
  const version = typeof addon.version === 'string' ? addon.version : null;
  const loc = { ...location, version };
  if (own && version !== own)
    return {
      ok: false,
      location: loc,
      error: new CudaUnavailableError(
        'addon-mismatch',
        `native addon ${c.path} is version ${version ?? '(none: built before versions were compiled in)'}, ${PACKAGE_NAME} is ${own}: ${
          c.source === 'prebuilt'
            ? `install ${c.packageName}@${own}`
            : c.source === 'env'
              ? `point ${ADDON_PATH.env} at an addon built from ${PACKAGE_NAME}@${own}`
              : `rebuild it (npm rebuild ${PACKAGE_NAME})`
        }`,
      ),
    };
  return { ok: true, addon, location: loc };
}

let cached: LoadedAddon | null = null;

/**
 * Load the addon, or say why it cannot be loaded. Looked for in order: $LIGER_MHC_CUDA_ADDON (then
 * nothing else), the prebuilt platform package, this package's build from source (build/Release,
 * or beside the module in bundles). A candidate of another version is passed over for the next;
 * where none loads, the first failure is the answer. The version compiled into the addon must equal
 * this package's.
 */
export function loadAddon(): LoadedAddon {
  if (cached) return cached;
  const own = ownVersion();
  const none: AddonLocation = { path: null, source: null, packageName: null, version: null };
  let envPath: string | null;
  try {
    envPath = readAddonPath();
  } catch (e) {
    // Not cached: the variable may be corrected in the same process.
    return { ok: false, error: e as Error, location: none };
  }
  if (envPath) {
    if (!existsSync(envPath)) {
      cached = {
        ok: false,
        location: { ...none, path: envPath, source: 'env' },
        error: new CudaUnavailableError(
          'no-addon',
          `native addon not found: ${ADDON_PATH.env} names ${envPath}, which does not exist; unset it to use the installed addon`,
        ),
      };
      return cached;
    }
    cached = tryLoad({ path: envPath, source: 'env', packageName: null, packageVersion: null }, own);
    return cached;
  }
  const candidates = [platformCandidate(), ...sourceCandidates()].filter((c): c is Candidate => c !== null);
  let first: LoadedAddon | null = null;
  for (const c of candidates) {
    const r = tryLoad(c, own);
    if (r.ok) {
      cached = r;
      return r;
    }
    first ??= r;
  }
  cached = first ?? {
    ok: false,
    location: none,
    error: new CudaUnavailableError('no-addon', `native addon not found: ${installHint(own)}`),
  };
  return cached;
}

/** Forget the loaded addon's lookup result (tests change the environment between lookups). */
export function resetAddonLookup(): void {
  cached = null;
}
