import { BACKEND_PACKAGES, type Backend, ready, setBackend } from '@liger-mhc/core';

/**
 * Make the backend packages importable from the CLI (it depends on all of them), then select by
 * --backend, else LIGER_MHC_BACKEND, else automatically (the best that initialises).
 */
export async function chooseBackend(name: string | undefined): Promise<Backend> {
  const wanted = name ?? process.env.LIGER_MHC_BACKEND;
  const load = async (n: string) => {
    const pkg = BACKEND_PACKAGES[n];
    if (pkg) await import(pkg).catch(() => undefined);
  };
  if (wanted) {
    await load(wanted);
    return setBackend(wanted);
  }
  await Promise.all(Object.keys(BACKEND_PACKAGES).map(load));
  return ready();
}
