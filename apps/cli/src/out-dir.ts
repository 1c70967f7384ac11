import { randomBytes } from 'node:crypto';
import { mkdir, open, stat, unlink } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { CliError } from './cli-error.js';

/** Why a path's stat failed, or null when it does not exist. */
async function kindOf(path: string): Promise<'dir' | 'file' | null> {
  try {
    return (await stat(path)).isDirectory() ? 'dir' : 'file';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ENOTDIR') return 'file';
    throw new CliError(`${path}: ${(err as Error).message.split('\n')[0]}`);
  }
}

/**
 * Make sure an output directory can take the run's files BEFORE the run starts, so a long training
 * does not end in a write error: it is created if missing, and a probe file is created and removed
 * in it. Every problem is a CliError naming the flag and the path.
 */
export async function prepareOutDir(flag: string, path: string): Promise<string> {
  if (path.trim() === '') throw new CliError(`${flag}: expected a directory, got an empty path`);
  const dir = resolve(path);
  const kind = await kindOf(dir);
  if (kind === 'file') {
    // Name the file that is in the way: the path itself or the first ancestor that is not a folder.
    let p = dir;
    while ((await kindOf(dirname(p))) !== 'dir' && dirname(p) !== p) p = dirname(p);
    throw new CliError(
      p === dir ? `${flag} ${dir}: is a file, expected a directory` : `${flag} ${dir}: ${p} is a file`,
    );
  }
  if (kind === null) {
    // One level at a time from the nearest existing folder: a recursive mkdir can spin forever on
    // some special file systems (/proc) instead of failing.
    const missing: string[] = [];
    for (let p = dir; (await kindOf(p)) === null && dirname(p) !== p; p = dirname(p)) missing.unshift(p);
    for (const p of missing) {
      try {
        await mkdir(p);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        if (e.code === 'EEXIST' && (await kindOf(p)) === 'dir') continue;
        throw new CliError(`${flag} ${dir}: cannot create the directory (${e.code ?? e.message})`);
      }
    }
  }
  const probe = resolve(dir, `.liger-mhc-probe-${randomBytes(6).toString('hex')}`);
  try {
    const h = await open(probe, 'wx');
    await h.close();
    await unlink(probe);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new CliError(`${flag} ${dir}: directory is not writable (${e.code ?? e.message})`);
  }
  return dir;
}
