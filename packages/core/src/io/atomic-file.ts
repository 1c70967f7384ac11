import { ArgumentError } from '../errors.js';
import { hostPlatform } from '../platform/platform.js';

/**
 * Write a file so that a reader (or a crash) sees either the old contents or the new, never a
 * mix: the host's writer puts the bytes in a temporary file in the same directory, flushes it and
 * renames it over the target (see HostPlatform.writeFile). Needs a file system (Node).
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  if (typeof path !== 'string' || path.length === 0)
    throw new ArgumentError('path', 'expected a non-empty file path');
  if (!(data instanceof Uint8Array) && typeof data !== 'string')
    throw new ArgumentError('data', 'expected a Uint8Array or a string');
  await hostPlatform().writeFile(path, typeof data === 'string' ? new TextEncoder().encode(data) : data);
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
