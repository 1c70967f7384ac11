import { ArgumentError } from '../errors.js';

/**
 * Write a file so that a reader (or a crash) sees either the old contents or the new, never a
 * mix: the bytes go to a temporary file in the same directory (rename is only atomic within one
 * filesystem), are flushed to disk, and the temporary file is renamed over the target; the
 * directory is then flushed so the rename itself survives a power loss. Node only.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  if (typeof path !== 'string' || path.length === 0)
    throw new ArgumentError('path', 'expected a non-empty file path');
  if (!(data instanceof Uint8Array) && typeof data !== 'string')
    throw new ArgumentError('data', 'expected a Uint8Array or a string');
  const fs = await import('node:fs/promises');
  const { dirname, basename, join } = await import('node:path');
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Math.random().toString(36).slice(2, 10)}.tmp`);
  const fh = await fs.open(tmp, 'wx', 0o644);
  try {
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, path);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
  await syncDir(dir);
}

/** Flush a directory entry (a no-op where the platform cannot open directories, e.g. Windows). */
async function syncDir(dir: string): Promise<void> {
  const fs = await import('node:fs/promises');
  let dh: Awaited<ReturnType<typeof fs.open>> | undefined;
  try {
    dh = await fs.open(dir, 'r');
    await dh.sync();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EBADF') throw e;
  } finally {
    await dh?.close();
  }
}

/** SHA-256 of bytes as lowercase hex (WebCrypto: Node and browsers). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(
    await globalThis.crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>),
  );
  let s = '';
  for (const b of digest) s += b.toString(16).padStart(2, '0');
  return s;
}
