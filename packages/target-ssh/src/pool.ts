/**
 * The connection pool: at most one open connection per host, reused by every command and
 * upload of a rollout, reopened when it dropped, at most `connectConcurrency` handshakes at once; hosts behind a bastion are reached through
 * one shared bastion connection (`forwardOut`).
 */
import { readFile } from 'node:fs/promises';
import { type ConnectContext, type HostConnection, openConnection } from './connection.js';
import { hostError } from './errors.js';
import { expandHome, type KnownHostEntry, loadKnownHosts } from './known-hosts.js';
import type { ResolvedSshOptions, SshHost } from './options.js';
import { Semaphore } from './util/semaphore.js';

export class ConnectionPool {
  private readonly connections = new Map<string, Promise<HostConnection>>();
  private bastion: Promise<HostConnection> | undefined;
  private keyBytes: Promise<Buffer | undefined> | undefined;
  private known: Promise<KnownHostEntry[]> | undefined;
  /** Handshakes in flight at once (`connectConcurrency`). */
  private readonly handshakes: Semaphore;
  readonly context: ConnectContext;

  constructor(private readonly options: ResolvedSshOptions) {
    this.handshakes = new Semaphore(options.connectConcurrency);
    this.context = {
      options,
      secrets: [options.passphrase],
      privateKey: () => {
        const path = options.privateKey;
        if (!path) return Promise.resolve(undefined);
        this.keyBytes ??= readFile(expandHome(path)).catch((error: NodeJS.ErrnoException) => {
          this.keyBytes = undefined;
          throw new Error(`cannot read the private key ${path}: ${error.code ?? error.message}`);
        });
        return this.keyBytes;
      },
      knownHosts: () => {
        this.known ??= loadKnownHosts(options.knownHosts).catch((error: unknown) => {
          this.known = undefined;
          throw error;
        });
        return this.known;
      },
      knownHostsChanged: () => {
        this.known = undefined;
      },
    };
  }

  /** The open connection to `host`, opening it when there is none (or it dropped). */
  get(host: SshHost): Promise<HostConnection> {
    const current = this.connections.get(host.name);
    if (current) {
      return current.then(
        (c) => (c.closed ? this.reopen(host, current) : c),
        () => this.reopen(host, current),
      );
    }
    return this.open(host);
  }

  /** Replaces a dead connection once, however many callers noticed it at the same time. */
  private reopen(host: SshHost, stale: Promise<HostConnection>): Promise<HostConnection> {
    const now = this.connections.get(host.name);
    if (now && now !== stale) return now;
    return this.open(host);
  }

  private open(host: SshHost): Promise<HostConnection> {
    const pending = this.connect(host);
    this.connections.set(host.name, pending);
    pending.catch(() => {
      if (this.connections.get(host.name) === pending) this.connections.delete(host.name);
    });
    return pending;
  }

  private connect(host: SshHost): Promise<HostConnection> {
    return this.handshakes.use(() => this.handshake(host));
  }

  private async handshake(host: SshHost): Promise<HostConnection> {
    const jump = this.options.jumpHost;
    if (!jump) return openConnection(host, this.context);
    const bastion = await this.bastionConnection(jump);
    const address = host.address ?? host.name;
    const stream = await new Promise<import('node:stream').Duplex>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            hostError(`the bastion ${jump.name} did not open a tunnel to ${address}:${host.port} in time`, {
              host: host.name,
            }),
          ),
        this.options.timeouts.connectMs,
      );
      try {
        bastion.client.forwardOut('127.0.0.1', 0, address, host.port, (error, channel) => {
          clearTimeout(timer);
          if (error) {
            reject(
              hostError(
                `the bastion ${jump.name} could not reach ${address}:${host.port}: ${error.message} (does it allow TCP forwarding?)`,
                { host: host.name, cause: error },
              ),
            );
          } else resolve(channel);
        });
      } catch (error) {
        clearTimeout(timer);
        reject(
          hostError(`the bastion ${jump.name} connection is unusable`, { host: host.name, cause: error }),
        );
      }
    });
    return openConnection(host, this.context, stream);
  }

  private bastionConnection(jump: SshHost): Promise<HostConnection> {
    const current = this.bastion;
    if (current) {
      const reopen = () => (this.bastion && this.bastion !== current ? this.bastion : this.openBastion(jump));
      return current.then((c) => (c.closed ? reopen() : c), reopen);
    }
    return this.openBastion(jump);
  }

  private openBastion(jump: SshHost): Promise<HostConnection> {
    const pending = openConnection(jump, this.context);
    this.bastion = pending;
    pending.catch(() => {
      if (this.bastion === pending) this.bastion = undefined;
    });
    return pending;
  }

  /** How many connections (hosts and bastion) are open now. */
  async openCount(): Promise<number> {
    const all = [...this.connections.values(), ...(this.bastion ? [this.bastion] : [])];
    const settled = await Promise.allSettled(all);
    return settled.filter((s) => s.status === 'fulfilled' && !s.value.closed).length;
  }

  /** Closes every connection, bastion last. */
  async closeAll(): Promise<void> {
    const hosts = [...this.connections.values()];
    this.connections.clear();
    await Promise.allSettled(hosts.map((p) => p.then((c) => c.close())));
    const bastion = this.bastion;
    this.bastion = undefined;
    if (bastion) await Promise.allSettled([bastion.then((c) => c.close())]);
  }
}
