import { randomBytes } from 'node:crypto';
import { access, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setHostPlatform } from './platform.js';

/** The Node implementation of core's host hooks, installed by importing this module. */
setHostPlatform({
  name: 'node',
  env: (name) => process.env[name],
  cwd: () => process.cwd(),
  resolvePath: (...parts) => resolve(...parts),
  async findUp(name, startDir) {
    let dir = resolve(startDir);
    for (;;) {
      const candidate = join(dir, name);
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
  },
  readFile: async (path) => new Uint8Array(await readFile(path)),
  async writeFile(path, data) {
    // Temp file in the same directory (same file system, so the rename is atomic), flushed to disk
    // before it replaces the target.
    const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
    const fh = await open(tmp, 'wx');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } catch (err) {
      await fh.close();
      await rm(tmp, { force: true });
      throw err;
    }
    await fh.close();
    try {
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    await syncDir(dirname(path));
  },
  readDir: (path) => readdir(path),
  async importPackage(specifier) {
    // Resolve from the user's project first (core may be installed beside the backend package, not
    // above it), then from core's own location.
    for (const base of [join(process.cwd(), 'package.json'), import.meta.url]) {
      let resolved: string;
      try {
        resolved = createRequire(base).resolve(specifier);
      } catch {
        continue; // not installed from this base
      }
      await import(pathToFileURL(resolved).href);
      return true;
    }
    return false;
  },
});

/** Flush a directory so a rename in it survives a power loss (skipped where directories can't be opened). */
async function syncDir(dir: string): Promise<void> {
  let dh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    dh = await open(dir, 'r');
    await dh.sync();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EBADF') throw e;
  } finally {
    await dh?.close();
  }
}
