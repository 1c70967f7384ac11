// A minimal static file server for dist/, bound to 127.0.0.1.
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = join(dirname(dirname(fileURLToPath(import.meta.url))), 'dist');
const TYPES = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.json': 'application/json',
  '.map': 'application/json',
};

/** The file under dist/ a request path names, or null when the path is malformed. */
function fileFor(url) {
  let path;
  try {
    path = decodeURIComponent(new URL(url ?? '/', 'http://x').pathname);
  } catch {
    // A malformed percent-encoding (/%E0%A4%A) or URL: the client's mistake, answered with 400.
    return null;
  }
  if (path.includes('\0')) return null;
  const clean = normalize(path).replace(/^([/\\]*\.\.[/\\])+/, '/');
  const file = join(dist, clean === '/' ? 'index.html' : clean);
  // Never outside dist/, whatever the path's dots and slashes.
  return file === dist || file.startsWith(dist + sep) ? file : null;
}

function reply(res, status, text) {
  if (res.headersSent) return res.destroy();
  res.writeHead(status, { 'content-type': 'text/plain' });
  res.end(text);
}

export function startServer(port = 0) {
  const server = createServer(async (req, res) => {
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, 'method not allowed');
      const file = fileFor(req.url);
      if (file === null) return reply(res, 400, 'bad request');
      let body;
      try {
        body = await readFile(file);
      } catch {
        return reply(res, 404, 'not found');
      }
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch {
      // Whatever one request does, the server keeps serving the others.
      reply(res, 500, 'internal error');
    }
  });
  // Unparseable HTTP is answered 400 by Node once this handler exists; without it the socket just dies.
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    else socket.destroy();
  });
  return new Promise((resolve) => {
    server.listen(port, '127.0.0.1', () => {
      const { port: p } = server.address();
      resolve({ url: `http://localhost:${p}/`, close: () => new Promise((r) => server.close(r)) });
    });
  });
}
