import { BACKEND_ENV_VAR, BACKEND_PACKAGES, type Backend, ready, setBackend } from '@liger-mhc/core';

/**
 * Import a backend's package from the CLI's own location (it depends on all of them; core, which
 * resolves from the working directory and its own folder, may not see them). Resolves to null, or
 * to why the package could not be loaded.
 */
export async function loadBackendPackage(name: string): Promise<string | null> {
  const pkg = BACKEND_PACKAGES[name];
  if (!pkg) return null;
  try {
    await import(pkg);
    return null;
  } catch (err) {
    return `${pkg} could not be loaded: ${(err as Error).message.split('\n')[0]}`;
  }
}

/** Select by --backend, else LIGER_MHC_BACKEND, else automatically (the best that initialises). */
export async function chooseBackend(name: string | undefined): Promise<Backend> {
  const wanted = name ?? BACKEND_ENV_VAR.get();
  if (wanted) {
    await loadBackendPackage(wanted);
    return setBackend(wanted);
  }
  await Promise.all(Object.keys(BACKEND_PACKAGES).map(loadBackendPackage));
  return ready();
}
