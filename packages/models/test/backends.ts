import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BACKEND_PACKAGES, type Backend, initBackend } from '@liger-mhc/core';

/** Workspace folders of the backend packages (this package does not depend on them). */
const FOLDERS: Record<string, string> = { webgpu: 'webgpu-wgsl', cuda: 'cuda-native' };

/**
 * Every backend this test run can use: the CPU always; a GPU backend when its package is
 * installed or built in the workspace and it initialises here. What is skipped, and why, is
 * printed, so a green run says which backends it covered.
 */
export async function availableBackends(): Promise<Backend[]> {
  const out: Backend[] = [await initBackend('cpu')];
  const here = dirname(fileURLToPath(import.meta.url));
  for (const name of Object.keys(BACKEND_PACKAGES)) {
    try {
      const dist = resolve(here, '..', '..', FOLDERS[name] ?? name, 'dist', 'index.js');
      if (existsSync(dist)) await import(pathToFileURL(dist).href);
      out.push(await initBackend(name));
    } catch (err) {
      console.info(`[models tests] backend '${name}' skipped: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  console.info(
    `[models tests] backends: ${out.map((b) => `${b.name} (${b.capabilities.device})`).join(', ')}`,
  );
  return out;
}
