/**
 * Serves a repository directory over HTTP on loopback, statically, with node:http: enough for
 * `apt-get` on the same machine or through an SSH tunnel. Never serves outside the directory or
 * the repository's private `.ringmaster` state.
 */
import { open } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream';
import { RingmasterError } from '@ringmaster/core/adapter';

/** A running server. */
export interface RepositoryServer {
  /** `http://127.0.0.1:<port>/` */
  url: string;
  port: number;
  close(): Promise<void>;
}

export interface ServeOptions {
  /** 0 picks a free port. @default 0 */
  port?: number;
  /** @default '127.0.0.1' */
  host?: string;
}

function safePath(url: string): string | undefined {
  let path: string;
  try {
    path = decodeURIComponent(new URL(url, 'http://x').pathname);
  } catch {
    return undefined;
  }
  const parts = path.split('/').filter((p) => p !== '');
  if (parts.some((p) => p === '..' || p === '.' || p.startsWith('.') || p.includes('\0'))) return undefined;
  return parts.join('/');
}

/** Errors of open() that mean "no such file here". */
const MISSING = new Set(['ENOENT', 'ENOTDIR', 'ELOOP', 'ENAMETOOLONG']);

async function respond(dir: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const rel = safePath(req.url ?? '/');
  if (rel === undefined || (req.method !== 'GET' && req.method !== 'HEAD')) {
    res.writeHead(rel === undefined ? 404 : 405).end();
    return;
  }
  // One open file for the length and the bytes: a publish renames a new index over the old
  // one, and a length read from one version with bytes from the next is a torn response.
  const handle = await open(join(dir, rel), 'r').catch((error: NodeJS.ErrnoException) => {
    if (MISSING.has(error.code ?? '')) return undefined;
    throw error;
  });
  if (!handle) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    return;
  }
  let streaming = false;
  try {
    const info = await handle.stat();
    if (!info.isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    res.writeHead(200, {
      'content-length': info.size,
      'content-type': 'application/octet-stream',
      'last-modified': info.mtime.toUTCString(),
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    // Never more than the length said; the stream closes the handle when it ends, fails or the
    // client goes away (pipeline destroys both sides).
    streaming = true;
    pipeline(handle.createReadStream({ start: 0, end: Math.max(0, info.size - 1) }), res, () => {});
  } finally {
    if (!streaming) await handle.close();
  }
}

/** Starts a static server for `dir`. */
export async function serveDirectory(dir: string, options: ServeOptions = {}): Promise<RepositoryServer> {
  const server = createServer((req, res) => {
    respond(dir, req, res).catch((error: NodeJS.ErrnoException) => {
      // Not a missing file (that is a 404): say so, without paths, and never leave the client waiting.
      if (!res.headersSent) {
        res
          .writeHead(500, { 'content-type': 'text/plain' })
          .end(`cannot read it: ${error.code ?? 'error'}\n`);
      } else res.destroy();
    });
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) =>
      reject(
        new RingmasterError('REPOSITORY', `cannot serve on ${host}:${options.port ?? 0}: ${error.message}`, {
          scope: 'pkg-deb',
        }),
      ),
    );
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://${host}:${port}/`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
