/**
 * A fault fixture: a TCP server on loopback that misbehaves the way dying or broken SSH hosts
 * do — accepts and never speaks, sends a banner and resets, sends garbage, closes in the middle
 * of the key exchange. Seeded where it is random, bounded, and closed by the test.
 */
import { createServer, type Server, type Socket } from 'node:net';

/**
 * - `silent`: accepts the connection and never sends a banner (a hung sshd, a firewall that
 *   accepts and drops).
 * - `banner-then-reset`: sends an SSH banner, then resets the connection.
 * - `garbage`: sends seeded random bytes instead of a banner, then keeps the connection open.
 * - `close-mid-kex`: sends a banner, waits for the client's key exchange, then closes.
 * - `reset-on-accept`: resets the connection as soon as it is accepted.
 */
export type Misbehaviour = 'silent' | 'banner-then-reset' | 'garbage' | 'close-mid-kex' | 'reset-on-accept';

export interface MisbehavingServer {
  port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  close(): Promise<void>;
}

/** mulberry32: small and seeded, so a failing case can be replayed byte for byte. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const BANNER = 'SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n';

/**
 * Starts a misbehaving server on 127.0.0.1 (a free port unless `port` is given).
 *
 * @example
 * ```ts
 * const server = await startMisbehavingServer('silent');
 * const target = ssh({ hosts: [{ name: 'hung', address: '127.0.0.1', port: server.port }], … });
 * await target.installed('hung', 'foo'); // rejects with TARGET after timeouts.connectMs
 * await server.close();
 * ```
 */
export async function startMisbehavingServer(
  mode: Misbehaviour,
  options: { seed?: number; port?: number } = {},
): Promise<MisbehavingServer> {
  const random = prng(options.seed ?? 1);
  const sockets = new Set<Socket>();
  let connections = 0;
  const server: Server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {
      // the client going away is the point of these tests
    });
    switch (mode) {
      case 'silent':
        return;
      case 'reset-on-accept':
        socket.resetAndDestroy();
        return;
      case 'banner-then-reset':
        socket.write(BANNER, () => setTimeout(() => socket.resetAndDestroy(), 20));
        return;
      case 'garbage': {
        const bytes = Buffer.alloc(64 + Math.floor(random() * 512));
        for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(random() * 256);
        socket.write(bytes);
        return;
      }
      case 'close-mid-kex':
        socket.write(BANNER);
        // The client's banner arrives first, then its KEXINIT: close once we have seen both.
        socket.on('data', (chunk) => {
          if (chunk.includes(0x14) || chunk.length > 64) socket.end();
        });
        return;
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    get connections() {
      return connections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
