/**
 * Fault fixtures: a TCP server on loopback that misbehaves the way dying or broken SSH hosts
 * do — accepts and never speaks, sends a banner and resets, sends garbage, closes in the middle
 * of the key exchange — and a proxy in front of a real test host that can be switched to any of
 * those and back. Seeded where random, bounded, and closed by the test.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { seededRandom } from '@ringmaster/core/adapter';

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

const BANNER = 'SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n';

/** Serves one accepted connection the misbehaving way. */
function misbehave(socket: Socket, mode: Misbehaviour, random: () => number): void {
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
}

/** A loopback server whose connection handler the caller supplies; tracks sockets to close them. */
async function listen(
  port: number,
  onSocket: (socket: Socket, track: (s: Socket) => void) => void,
): Promise<{ port: number; sockets: Set<Socket>; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {
      // the other side going away is the point of these fixtures
    });
  };
  const server: Server = createServer((socket) => {
    track(socket);
    onSocket(socket, track);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * Starts a misbehaving server on 127.0.0.1 (a free port unless `port` is given).
 *
 * @example
 * ```ts
 * const server = await startMisbehavingServer('silent');
 * const target = ssh({ hosts: [{ name: 'hung', address: '127.0.0.1', port: server.port }], … });
 * await target.installed('hung', 'foo'); // rejects with TIMEOUT after timeouts.connectMs
 * await server.close();
 * ```
 */
export async function startMisbehavingServer(
  mode: Misbehaviour,
  options: { seed?: number; port?: number } = {},
): Promise<MisbehavingServer> {
  const random = seededRandom(options.seed ?? 1);
  let connections = 0;
  const server = await listen(options.port ?? 0, (socket) => {
    connections++;
    misbehave(socket, mode, random);
  });
  return {
    port: server.port,
    get connections() {
      return connections;
    },
    close: server.close,
  };
}

/** A loopback TCP proxy in front of a real host, that can be switched to misbehave. */
export interface FaultProxy {
  port: number;
  /** How new connections are served now. */
  readonly mode: 'forward' | Misbehaviour;
  /**
   * Switches how new connections are served: `forward` to the real host, or a misbehaviour.
   * With `drop`, open connections are cut too (the host vanishes mid-session); with
   * `connections`, only that many new connections misbehave, then it forwards again (a blip).
   */
  set(mode: 'forward' | Misbehaviour, options?: { drop?: boolean; connections?: number }): void;
  close(): Promise<void>;
}

/**
 * Starts a proxy on 127.0.0.1 that forwards to `port` (a real sshd) until told to misbehave:
 * the way to make a healthy test host vanish, hang or reset and come back, while its real state
 * stays readable directly.
 *
 * @example
 * ```ts
 * const proxy = await startFaultProxy(lab.hosts[1].port);
 * // the target reaches host-2 through proxy.port
 * proxy.set('silent', { drop: true }); // host-2 stops answering
 * proxy.set('forward');                // and is back
 * ```
 */
export async function startFaultProxy(port: number, options: { seed?: number } = {}): Promise<FaultProxy> {
  const random = seededRandom(options.seed ?? 1);
  let mode: 'forward' | Misbehaviour = 'forward';
  let left = Number.POSITIVE_INFINITY;
  const server = await listen(0, (socket, track) => {
    if (mode !== 'forward') {
      misbehave(socket, mode, random);
      if (--left <= 0) mode = 'forward';
      return;
    }
    const upstream = connect({ host: '127.0.0.1', port });
    track(upstream);
    socket.pipe(upstream).pipe(socket);
    const cut = () => {
      socket.destroy();
      upstream.destroy();
    };
    socket.on('close', cut);
    upstream.on('close', cut);
  });
  return {
    port: server.port,
    get mode() {
      return mode;
    },
    set(next, opts = {}) {
      mode = next;
      left = opts.connections ?? Number.POSITIVE_INFINITY;
      if (opts.drop) for (const s of server.sockets) s.destroy();
    },
    close: server.close,
  };
}
