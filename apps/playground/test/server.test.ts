import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs helper without types
import { startServer } from '../scripts/server.mjs';

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
let server: { url: string; close(): Promise<void> };
let port: number;
beforeAll(async () => {
  server = await startServer(0);
  port = Number(new URL(server.url).port);
});
afterAll(() => server?.close());

/** Send raw bytes, return the status line's code (or null when the connection closed without one). */
function raw(request: string): Promise<number | null> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let data = '';
    s.on('data', (d) => {
      data += d.toString('latin1');
    });
    s.on('error', () => {});
    s.on('close', () => resolve(Number(/^HTTP\/1\.[01] (\d{3})/.exec(data)?.[1]) || null));
    s.write(request);
    // Requests without `connection: close` (the garbage ones) are closed by the server after its 400.
    setTimeout(() => s.end(), 2000);
  });
}

const get = (path: string) => raw(`GET ${path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`);

describe('the playground server survives garbage', () => {
  it('malformed percent-encodings are 400, and the server still answers', async () => {
    for (const p of ['/%E0%A4%A', '/%', '/%zz', '/a%00b', '/%C0%AF', '/%ED%A0%80'])
      expect(await get(p), p).toBe(400);
    expect(await get('/index.html')).toBe(existsSync(join(dist, 'index.html')) ? 200 : 404);
  });

  it('paths that climb out of dist/ never leave it', async () => {
    for (const p of ['/../package.json', '/..%2Fpackage.json', '/%2E%2E/%2E%2E/package.json', '/..\\..\\x'])
      expect([400, 404], p).toContain(await get(p));
  });

  it('unparseable requests and odd methods get an answer, not a crash', async () => {
    expect(await raw('BLAH\r\n\r\n')).toBe(400);
    expect(await raw('GET / HTTP/1.1\r\nbad header line\r\n\r\n')).toBe(400);
    expect(await raw(`GET /${'a'.repeat(100_000)} HTTP/1.1\r\nhost: x\r\n\r\n`)).toBe(400);
    expect(await raw('POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n')).toBe(
      405,
    );
    expect(await raw('\x00\x01\x02garbage')).toBe(400);
    expect(await get('/index.html')).toBe(existsSync(join(dist, 'index.html')) ? 200 : 404);
  });
});
