/**
 * Real test hosts: N OpenSSH `sshd` processes on loopback ports, each in its own mount
 * namespace with its own `/var/lib/dpkg` (a copy of this machine's), `/opt`, `/srv`, `/tmp`,
 * `/etc/ringmaster` and `/var/log/ringmaster`, so `dpkg -i` on one host changes only that host.
 * Needs root, `unshare`, `mount` and OpenSSH's `sshd` and `ssh-keygen` (Debian: openssh-server).
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readlinkSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RingmasterError, shellQuote } from '@ringmaster/core/adapter';
import { sleep } from '../util/sleep.js';
import { alive, freePort, pidsInNamespace, portOpen, run } from './process.js';
import { sshdConfig } from './sshd-config.js';

const SCOPE = 'target-ssh';
const SSHD = '/usr/sbin/sshd';

/** The directories each host gets for itself, bind-mounted over the machine's. */
export const HOST_DIRS = [
  '/var/lib/dpkg',
  '/opt',
  '/srv',
  '/tmp',
  '/etc/ringmaster',
  '/var/log/ringmaster',
  // apt's state and sources, so `apt-get update` on a host reads only the host's sources
  // (none until a test adds one) and never touches the machine's lists.
  '/var/lib/apt',
  '/var/cache/apt',
  '/etc/apt/sources.list.d',
  // The keys those sources are signed by (`ssh({ aptSource })` writes one here).
  '/etc/apt/keyrings',
];

/** One running test host. */
export interface TestHost {
  /** `host-1`, `host-2`, … */
  name: string;
  address: '127.0.0.1';
  port: number;
  /** PID of the host's listening sshd. */
  pid: number;
}

export interface StartTestHostsOptions {
  /** How many hosts. @default 3 */
  count?: number;
  /** Host name prefix. @default 'host' */
  prefix?: string;
  /** Where the fixture keeps its files. @default a new directory under /var/tmp (not /tmp, which each host replaces) */
  baseDir?: string;
  /** Extra sshd_config lines for every host, e.g. `['MaxSessions 64']`. */
  sshdConfig?: string[];
  /** Host key types each host offers, in sshd's order; known_hosts gets a line for each. @default ['ed25519'] */
  hostKeyTypes?: Array<'ed25519' | 'ecdsa' | 'rsa'>;
}

/** What {@link startTestHosts} returns. */
export interface TestHosts {
  hosts: TestHost[];
  /** A known_hosts file with every host's key, as `[127.0.0.1]:port ssh-ed25519 …`. */
  knownHostsFile: string;
  /** The client's private key (ed25519, no passphrase), authorised for root on every host. */
  clientKeyFile: string;
  /** The fixture's own directory. */
  dir: string;
  /**
   * The host's root as seen from outside: `join(rootOf('host-2'), '/opt/foo')` is what
   * host-2 sees as `/opt/foo` (for the directories in {@link HOST_DIRS}). Exception:
   * `/var/lib/dpkg` there holds only what the host changed (the overlay's upper layer).
   */
  rootOf(name: string): string;
  /** The host's public host key line (`ssh-ed25519 AAAA…`). */
  hostKeyOf(name: string, type?: 'ed25519' | 'ecdsa' | 'rsa'): Promise<string>;
  /** PIDs of every process in the host's mount namespace (sshd, sessions, their commands). */
  pidsOf(name: string): Promise<number[]>;
  /** Kills every process of one host (its sshd and all its sessions) and waits for its port to close. */
  kill(name: string): Promise<void>;
  /** Stops every host by PID, waits (bounded) for the ports to close and removes the files. */
  stop(): Promise<void>;
}

async function checkTools(): Promise<void> {
  const missing: string[] = [];
  if (!existsSync(SSHD)) missing.push('openssh-server');
  for (const [tool, pkg] of [
    ['/usr/bin/ssh-keygen', 'openssh-client'],
    ['/usr/bin/unshare', 'util-linux'],
  ] as const) {
    if (!existsSync(tool)) missing.push(pkg);
  }
  if (missing.length > 0) {
    throw new RingmasterError(
      'TARGET',
      `test hosts need ${missing.join(', ')}: install with \`apt-get install -y ${missing.join(' ')}\``,
      { scope: SCOPE },
    );
  }
  if (process.getuid?.() !== 0) {
    throw new RingmasterError('TARGET', 'test hosts need root (mount namespaces and sshd): run as root', {
      scope: SCOPE,
    });
  }
  // sshd refuses to start without its privilege separation directory.
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
}

/**
 * Starts `count` real sshd hosts on loopback, each in its own mount namespace.
 *
 * @example
 * ```ts
 * const lab = await startTestHosts({ count: 3 });
 * const target = ssh({
 *   hosts: lab.hosts.map((h) => ({ name: h.name, address: h.address, port: h.port, user: 'root' })),
 *   privateKey: lab.clientKeyFile,
 *   knownHosts: [lab.knownHostsFile],
 * });
 * // … deploy …
 * await target.close();
 * await lab.stop();
 * ```
 */
export async function startTestHosts(options: StartTestHostsOptions = {}): Promise<TestHosts> {
  const count = options.count ?? 3;
  const prefix = options.prefix ?? 'host';
  const keyTypes = options.hostKeyTypes?.length ? options.hostKeyTypes : (['ed25519'] as const);
  if (!Number.isInteger(count) || count < 1 || count > 200) {
    throw new RingmasterError('CONFIG', `count must be an integer from 1 to 200, got ${count}`, {
      scope: SCOPE,
    });
  }
  await checkTools();
  const base = options.baseDir ?? (existsSync('/var/tmp') ? '/var/tmp' : tmpdir());
  const dir = await mkdtemp(join(base, 'ringmaster-hosts-'));
  const hosts: TestHost[] = [];
  /**
   * Each host's mount namespace, by name, and an open file of it. A namespace is known by its
   * inode number, and the kernel gives that number to a new namespace once the last process of
   * this one is gone: without the open file, stopping a host that had died (or been killed)
   * could kill the processes of a host started since, in another lab.
   */
  const namespaces = new Map<string, string>();
  const heldNamespaces: number[] = [];
  const hostDir = (name: string) => join(dir, 'hosts', name);
  let stopped = false;
  const stopAll = async () => {
    // Once only: after it, the namespaces' numbers may be another's.
    if (stopped) return;
    stopped = true;
    try {
      await Promise.all(hosts.filter(Boolean).map((h) => killHost(h)));
    } finally {
      for (const fd of heldNamespaces.splice(0)) closeSync(fd);
    }
    await rm(dir, { recursive: true, force: true });
  };
  const killHost = async (host: TestHost) => {
    const ns = namespaces.get(host.name);
    // Not known: the host died before it was ready, and its PID may be another's by now.
    const pids = ns ? await pidsInNamespace(ns) : [];
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (let i = 0; i < 100 && pids.some(alive); i++) await sleep(50);
    for (let i = 0; i < 100 && (await portOpen(host.port)); i++) await sleep(50);
  };

  try {
    const clientKeyFile = join(dir, 'client_key');
    await run('/usr/bin/ssh-keygen', [
      '-q',
      '-t',
      'ed25519',
      '-N',
      '',
      '-C',
      'ringmaster-test',
      '-f',
      clientKeyFile,
    ]);
    const authorizedKeys = join(dir, 'authorized_keys');
    await writeFile(authorizedKeys, await readFile(`${clientKeyFile}.pub`, 'utf8'));
    await chmod(authorizedKeys, 0o600);
    const knownLines: string[] = [];

    const startOne = async (i: number): Promise<void> => {
      const name = `${prefix}-${i}`;
      const root = hostDir(name);
      await mkdir(join(root, 'ssh'), { recursive: true });
      for (const d of HOST_DIRS) await mkdir(join(root, d), { recursive: true });
      await chmod(join(root, '/tmp'), 0o1777);
      await mkdir(join(root, 'ssh', 'dpkg-work'), { recursive: true });
      await mkdir(join(root, '/var/lib/apt/lists/partial'), { recursive: true });
      await mkdir(join(root, '/var/cache/apt/archives/partial'), { recursive: true });
      await writeFile(join(root, 'ssh', 'sources.list'), '');
      await writeFile(join(root, 'ssh', 'bashrc'), '# ~/.bashrc of a ringmaster test host\n');
      const hostKeys: string[] = [];
      const pubs: string[] = [];
      for (const type of keyTypes) {
        const hostKey = join(root, 'ssh', `ssh_host_${type}_key`);
        await run('/usr/bin/ssh-keygen', ['-q', '-t', type, '-N', '', '-C', name, '-f', hostKey]);
        hostKeys.push(hostKey);
        pubs.push((await readFile(`${hostKey}.pub`, 'utf8')).trim().split(/\s+/).slice(0, 2).join(' '));
      }

      let started: TestHost | undefined;
      let lastError = '';
      // A free port can be taken between probing and binding: retry a few times.
      for (let attempt = 0; attempt < 5 && !started; attempt++) {
        const port = await freePort();
        const pidFile = join(root, 'ssh', 'sshd.pid');
        const logFile = join(root, 'ssh', 'sshd.log');
        const config = join(root, 'ssh', 'sshd_config');
        await writeFile(
          config,
          sshdConfig({ port, hostKeys, pidFile, authorizedKeys, extra: options.sshdConfig ?? [] }),
        );
        if (i === 1 && attempt === 0) {
          try {
            await run(SSHD, ['-t', '-f', config]);
          } catch (error) {
            const stderr = (error as { stderr?: string }).stderr ?? String(error);
            throw new RingmasterError('TARGET', `sshd -t rejects the test configuration: ${stderr.trim()}`, {
              scope: SCOPE,
            });
          }
        }
        // /var/lib/dpkg: an overlay on the machine's (instant, and the machine's stays untouched);
        // where overlayfs is not allowed, a full copy.
        const upper = shellQuote(join(root, '/var/lib/dpkg'));
        const work = shellQuote(join(root, 'ssh', 'dpkg-work'));
        const dpkgMount =
          `{ mount -t overlay overlay -o lowerdir=/var/lib/dpkg,upperdir=${upper},workdir=${work} /var/lib/dpkg 2>/dev/null` +
          ` || { cp -a /var/lib/dpkg/. ${upper}/ && mount --bind ${upper} /var/lib/dpkg; }; }`;
        // A fresh host's root has Debian's quiet default ~/.bashrc; this machine's (pyenv, cargo…)
        // would cost every command a quarter of a second, since sshd's bash reads it.
        const bashrc = `[ ! -e /root/.bashrc ] || mount --bind ${shellQuote(join(root, 'ssh', 'bashrc'))} /root/.bashrc`;
        const sources = `[ ! -e /etc/apt/sources.list ] || mount --bind ${shellQuote(join(root, 'ssh', 'sources.list'))} /etc/apt/sources.list`;
        const mounts = [
          dpkgMount,
          bashrc,
          sources,
          ...HOST_DIRS.filter((d) => d !== '/var/lib/dpkg').map(
            (d) => `mount --bind ${shellQuote(join(root, d))} ${shellQuote(d)}`,
          ),
        ];
        // The mount points must exist on the machine; /etc/ringmaster and /var/log/ringmaster may not.
        const mkdirs = `mkdir -p ${HOST_DIRS.map((d) => shellQuote(d)).join(' ')}`;
        const script = `set -e; ${mkdirs}; ${mounts.join('; ')}; exec ${SSHD} -D -e -E ${shellQuote(logFile)} -f ${shellQuote(config)}`;
        // unshare execs sh, which execs sshd: the child's PID is sshd's.
        const child = spawn(
          '/usr/bin/unshare',
          ['--mount', '--propagation', 'private', '/bin/sh', '-c', script],
          {
            stdio: ['ignore', 'ignore', 'pipe'],
            detached: true,
          },
        );
        let stderr = '';
        child.stderr?.on('data', (c: Buffer) => {
          stderr = (stderr + c.toString('utf8')).slice(-4000);
        });
        let exited = false;
        child.once('exit', () => {
          exited = true;
        });
        child.unref();
        const pid = child.pid ?? 0;
        // Ready when sshd itself says it listens on the port: an open port alone could belong to
        // another process that took the port first (then this sshd fails to bind and exits).
        const listening = `Server listening on 127.0.0.1 port ${port}`;
        let ready = false;
        for (let w = 0; w < 400 && !exited && !ready; w++) {
          ready =
            (await portOpen(port)) &&
            existsSync(logFile) &&
            (await readFile(logFile, 'utf8')).includes(listening);
          if (!ready) await sleep(25);
        }
        // A host is started once its namespace is held: one that cannot be stopped safely is not.
        const held = ready && !exited ? holdNamespace(pid) : undefined;
        if (typeof held === 'number') {
          (child.stderr as { unref?: () => void } | null)?.unref?.();
          started = { name, address: '127.0.0.1', port, pid };
          heldNamespaces.push(held);
          namespaces.set(name, readlinkSync(`/proc/self/fd/${held}`));
        } else {
          lastError =
            ready && !exited
              ? held === 'ENOENT'
                ? 'it exited before its mount namespace could be opened (ENOENT)'
                : `its mount namespace could not be opened (${held}): this process may not open it`
              : stderr || (existsSync(logFile) ? await readFile(logFile, 'utf8') : '');
          if (!exited && pid) {
            try {
              process.kill(pid, 'SIGKILL');
            } catch {
              // gone
            }
          }
          if (!/address already in use|bind to port/i.test(lastError)) break;
        }
      }
      if (!started) {
        throw new RingmasterError(
          'TARGET',
          `sshd for ${name} did not start: ${lastError.trim().slice(-1000)}`,
          {
            scope: SCOPE,
          },
        );
      }
      hosts[i - 1] = started;
      knownLines[i - 1] = pubs.map((pub) => `[127.0.0.1]:${started!.port} ${pub}`).join('\n');
    };
    // Start a few at a time: each start forks ssh-keygen and sshd.
    let next = 1;
    const failures: unknown[] = [];
    await Promise.all(
      Array.from({ length: Math.min(8, count) }, async () => {
        while (next <= count && failures.length === 0) {
          const i = next++;
          await startOne(i).catch((e: unknown) => failures.push(e));
        }
      }),
    );
    if (failures.length > 0) throw failures[0];
    const knownHostsFile = join(dir, 'known_hosts');
    await writeFile(knownHostsFile, knownLines.join('\n') + '\n');

    const find = (name: string) => {
      const host = hosts.find((h) => h.name === name);
      if (!host) throw new RingmasterError('TARGET', `no test host named ${name}`, { scope: SCOPE });
      return host;
    };
    return {
      hosts,
      knownHostsFile,
      clientKeyFile,
      dir,
      rootOf: (name) => hostDir(find(name).name),
      hostKeyOf: async (name, type = keyTypes[0]) =>
        (await readFile(join(hostDir(find(name).name), 'ssh', `ssh_host_${type}_key.pub`), 'utf8'))
          .trim()
          .split(/\s+/)
          .slice(0, 2)
          .join(' '),
      pidsOf: async (name) => {
        const ns = namespaces.get(find(name).name);
        return ns && !stopped ? pidsInNamespace(ns) : [];
      },
      kill: async (name) => {
        if (!stopped) await killHost(find(name));
      },
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** An open file of `pid`'s mount namespace (which keeps the namespace, and its number, alive), or why not (an errno code). */
function holdNamespace(pid: number): number | string {
  try {
    return openSync(`/proc/${pid}/ns/mnt`, 'r');
  } catch (error) {
    // ENOENT: the process is gone; anything else (EACCES…) is said as it is.
    return (error as NodeJS.ErrnoException).code ?? String(error);
  }
}
