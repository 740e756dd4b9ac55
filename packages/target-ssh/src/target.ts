/**
 * `ssh()`: the Target over SSH. Validates options once, opens nothing until first use, checks
 * every package name, version and host before any connection, and bounds how many hosts are
 * worked on at once.
 */
import { stat } from 'node:fs/promises';
import {
  type Artifact,
  assertArgv,
  assertMatches,
  type CommandResult,
  type HostInfo,
  type InstallOptions,
  PACKAGE_NAME,
  PACKAGE_VERSION,
  parseOptions,
  type RunOptions,
  type Target,
  type TargetCapabilities,
} from '@ringmaster/core/adapter';
import { hostError, SCOPE } from './errors.js';
import { checkHealth } from './health.js';
import { installOnHost, parseInstalled, queryInstalled, restartServices } from './install.js';
import { type ResolvedSshOptions, type SshHost, type SshOptions, sshOptionsSchema } from './options.js';
import { ConnectionPool } from './pool.js';
import { Remote } from './remote.js';
import { type HeldUpload, SharedUploads } from './upload-cache.js';
import { Semaphore } from './util/semaphore.js';

/**
 * The Target `ssh()` returns, with a few SSH-specific extras.
 *
 * @example
 * ```ts
 * const target: SshTarget = ssh(options);
 * await target.restart('web-1');
 * console.log(await target.openConnections());
 * ```
 */
export interface SshTarget extends Target {
  readonly capabilities: TargetCapabilities;
  remove(host: string, pkg: string): Promise<void>;
  inventory(host: string): Promise<Record<string, string>>;
  /** Runs the configured health check once (with its retries); resolves at once when none is configured. */
  healthCheck(host: string, options?: InstallOptions): Promise<void>;
  /** Restarts the configured services (or runs `restart`) on the host. */
  restart(host: string): Promise<void>;
  /** How many SSH connections are open now (hosts and bastion). */
  openConnections(): Promise<number>;
  /** Closes every connection. The target can be used again afterwards (it reconnects). */
  close(): Promise<void>;
}

// biome-ignore lint/suspicious/noTemplateCurlyInString: a dpkg-query format, not a JS template
const INVENTORY_FORMAT = '${db:Status-Status}|${Version}|${Package}\n';

/**
 * Creates a Target that installs .deb artifacts on hosts over SSH.
 *
 * @example
 * ```ts
 * import { ssh } from '@ringmaster/target-ssh';
 *
 * const web = ssh({
 *   hosts: [{ name: 'web-1', address: '10.0.0.11' }, { name: 'web-2', address: '10.0.0.12' }],
 *   privateKey: '~/.ssh/deploy_ed25519',
 *   knownHosts: ['~/.ssh/known_hosts'],
 *   services: ['foostat'],
 *   healthCheck: { url: 'http://127.0.0.1:8080/health', retries: 10, intervalMs: 1000 },
 * });
 * await web.install('web-1', artifact);
 * console.log(await web.installed('web-1', 'foostat'));
 * await web.close();
 * ```
 */
export function ssh(options: SshOptions): SshTarget {
  const resolved: ResolvedSshOptions = parseOptions(sshOptionsSchema, options, SCOPE);
  const byName = new Map<string, SshHost>(resolved.hosts.map((h) => [h.name, h]));
  const hosts: HostInfo[] = resolved.hosts.map((h) => ({ name: h.name, address: h.address ?? h.name }));
  const slots = new Semaphore(resolved.concurrency);
  const uploads = new SharedUploads(resolved.uploadCacheBytes);
  let pool: ConnectionPool | undefined;

  const remoteFor = (name: string): Remote => {
    const host = byName.get(name);
    if (!host) {
      throw hostError(`no such host in this target (hosts: ${[...byName.keys()].join(', ')})`, {
        host: String(name),
      });
    }
    pool ??= new ConnectionPool(resolved);
    return new Remote(host, pool, resolved);
  };
  const pkgName = (pkg: string) => assertMatches(pkg, PACKAGE_NAME, 'package name', SCOPE);

  return {
    name: 'ssh',
    hosts,
    capabilities: {
      remove: true,
      inventory: true,
      healthCheck: resolved.healthCheck !== undefined,
      env: true,
    },

    async installed(host, pkg) {
      const remote = remoteFor(host);
      pkgName(pkg);
      return slots.use(() => queryInstalled(remote, pkg));
    },

    async install(host, artifact: Artifact, installOptions: InstallOptions = {}) {
      const remote = remoteFor(host);
      pkgName(artifact.name);
      assertMatches(artifact.version, PACKAGE_VERSION, 'package version', SCOPE);
      if (artifact.format !== 'deb') {
        throw hostError(
          `cannot install a ${JSON.stringify(artifact.format)} artifact: only deb is supported`,
          {
            host,
          },
        );
      }
      let held: HeldUpload | undefined;
      if (resolved.installMode === 'upload') {
        assertMatches(artifact.sha256, /^[0-9a-fA-F]{64}$/, 'artifact sha256', SCOPE);
        const file = await stat(artifact.file).catch(() => undefined);
        if (!file?.isFile()) {
          throw hostError(`the artifact file ${artifact.file} does not exist here: build or fetch it first`, {
            host,
          });
        }
        if (file.size !== artifact.size) {
          throw hostError(
            `the artifact file ${artifact.file} has ${file.size} bytes, the artifact says ${artifact.size}: it changed after it was built`,
            { host },
          );
        }
        held = await uploads.acquire(artifact.file, file, artifact.sha256).catch((error: Error) => {
          throw hostError(error.message, { host, cause: error });
        });
      }
      try {
        await slots.use(() => installOnHost(remote, artifact, resolved, installOptions.env, held?.bytes));
      } finally {
        held?.release();
      }
    },

    async run(host, argv, runOptions: RunOptions = {}): Promise<CommandResult> {
      const remote = remoteFor(host);
      assertArgv(argv, SCOPE);
      const result = await slots.use(() =>
        remote.run(argv, {
          ...(runOptions.timeoutMs === undefined ? {} : { timeoutMs: runOptions.timeoutMs }),
          // On the command's stdin, never its command line (see Remote's WITH_ENV).
          ...(runOptions.env ? { env: runOptions.env } : {}),
        }),
      );
      return { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr };
    },

    async remove(host, pkg) {
      const remote = remoteFor(host);
      pkgName(pkg);
      await slots.use(() =>
        remote.mustRun(
          ['env', 'DEBIAN_FRONTEND=noninteractive', 'dpkg', '-r', '--', pkg],
          `removing ${pkg}`,
          { privileged: true, packageManager: true },
        ),
      );
    },

    async inventory(host) {
      const remote = remoteFor(host);
      const result = await slots.use(() =>
        remote.mustRun(['dpkg-query', '-W', '-f', INVENTORY_FORMAT], 'listing installed packages'),
      );
      const out: Record<string, string> = {};
      for (const line of result.stdout.split('\n')) {
        const bar = line.lastIndexOf('|');
        if (bar === -1) continue;
        const found = parseInstalled(line.slice(0, bar));
        if (found?.status === 'installed') out[line.slice(bar + 1)] = found.version;
      }
      return out;
    },

    async healthCheck(host, checkOptions: InstallOptions = {}) {
      const remote = remoteFor(host);
      const check = resolved.healthCheck;
      if (!check) return;
      await slots.use(() => checkHealth(remote, check, resolved.timeouts.commandMs, checkOptions.env));
    },

    async restart(host) {
      const remote = remoteFor(host);
      await slots.use(() => restartServices(remote, resolved));
    },

    async openConnections() {
      return pool ? pool.openCount() : 0;
    },

    async close() {
      uploads.clear();
      await pool?.closeAll();
    },
  };
}
