/**
 * The reference Target: each host is a directory. A package lives in
 * `<root>/<host>/<package>/releases/<version>/` and `current` is a symlink switched atomically
 * (new link + rename), so a host is always on one whole release, and the installed version is
 * read back from the link. Used by the demo, by engine tests and by the conformance suite.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readlink, rename, rm, stat, symlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { z } from 'zod';
import type { Artifact } from '../contracts/artifact.js';
import type {
  CommandEnv,
  CommandResult,
  HostInfo,
  InstalledPackage,
  RunOptions,
  Target,
} from '../contracts/target.js';
import { parseOptions, RingmasterError } from '../errors.js';
import { assertMatches, PACKAGE_NAME, PACKAGE_VERSION, SAFE_NAME } from '../exec/quote.js';
import { assertArgv, runCommand, tail } from '../exec/run.js';
import { durationSchema } from '../model/duration.js';
import { sha256File } from './tarball.js';

const hostEntry = z.union([
  z.string().regex(SAFE_NAME, 'expected a host name of letters, digits, ".", "_" or "-"'),
  z.object({ name: z.string().regex(SAFE_NAME) }).strict(),
]);

export const localTargetOptionsSchema = z
  .object({
    /** Directory holding one folder per host. */
    root: z.string().min(1),
    hosts: z.array(hostEntry),
    /**
     * Run after each install in the new release's folder (`RINGMASTER_HOST` set, and the ring's
     * vars and secrets); a non-zero exit fails the host. The seed's "check if it works".
     */
    healthCheck: z
      .object({ run: z.array(z.string()).min(1), timeout: durationSchema.default(30_000) })
      .strict()
      .optional(),
  })
  .strict();
export type LocalTargetOptions = z.input<typeof localTargetOptionsSchema>;

/**
 * Hosts as local directories.
 *
 * @example
 * ```ts
 * localTarget({ root: '.ringmaster/hosts/eng', hosts: ['eng-1', 'eng-2'], healthCheck: { run: ['./check.sh'] } })
 * ```
 */
export function localTarget(options: LocalTargetOptions): Target {
  const opts = parseOptions(localTargetOptionsSchema, options, 'local-target', 'localTarget');
  const hosts: HostInfo[] = opts.hosts.map((h) => (typeof h === 'string' ? { name: h } : h));
  const names = new Set(hosts.map((h) => h.name));
  const scope = 'local-target';

  const hostDir = (host: string) => {
    if (!names.has(host)) {
      throw new RingmasterError(
        'TARGET',
        `unknown host ${JSON.stringify(host)}; this target has ${[...names].join(', ')}`,
        {
          scope,
          details: { host },
        },
      );
    }
    return join(opts.root, host);
  };
  const packageDir = (host: string, pkg: string) =>
    join(hostDir(host), assertMatches(pkg, PACKAGE_NAME, 'package name', scope));

  /** The version the `current` link points at (the link is switched atomically: never half there). */
  const installed = async (host: string, pkg: string): Promise<InstalledPackage | undefined> => {
    try {
      return {
        version: basename(await readlink(join(packageDir(host, pkg), 'current'))),
        status: 'installed',
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  };

  const run = async (
    host: string,
    argv: readonly string[],
    options: RunOptions = {},
    cwd = hostDir(host),
  ): Promise<CommandResult> => {
    assertArgv(argv, scope);
    await mkdir(cwd, { recursive: true });
    const r = await runCommand(argv, {
      cwd,
      // A child's environment, not its argv: the values stay out of `ps`.
      env: { ...options.env, RINGMASTER_HOST: host, RINGMASTER_HOST_ROOT: hostDir(host) },
      timeoutMs: options.timeoutMs,
    });
    return { exitCode: r.timedOut ? 124 : r.exitCode, stdout: r.stdout, stderr: r.stderr };
  };

  /** The configured health check, run in a release's folder; throws TARGET unless it passes. */
  const checkHealth = async (host: string, releaseDir: string, env?: CommandEnv) => {
    if (!opts.healthCheck) return;
    const r = await run(
      host,
      opts.healthCheck.run,
      { timeoutMs: opts.healthCheck.timeout, ...(env ? { env } : {}) },
      releaseDir,
    );
    if (r.exitCode !== 0) {
      throw new RingmasterError(
        'TARGET',
        `[${host}] health check ${opts.healthCheck.run.join(' ')} failed (exit ${r.exitCode}): ${tail(r.stderr || r.stdout, 5)}`,
        { scope, details: { host, exitCode: r.exitCode } },
      );
    }
  };

  const extract = async (artifact: Artifact, into: string) => {
    const argv =
      artifact.format === 'deb'
        ? ['dpkg-deb', '-x', artifact.file, into]
        : artifact.format === 'tar'
          ? ['tar', '-xzf', artifact.file, '-C', into, '--no-same-owner']
          : undefined;
    if (!argv) throw new RingmasterError('TARGET', `cannot install ${artifact.format} packages`, { scope });
    const r = await runCommand(argv, { timeoutMs: 600_000 });
    if (r.exitCode !== 0)
      throw new RingmasterError('TARGET', `${argv[0]} failed: ${tail(r.stderr, 5)}`, { scope });
  };

  return {
    name: 'local',
    hosts,
    capabilities: { remove: true, inventory: true, healthCheck: opts.healthCheck !== undefined, env: true },
    installed,
    run: (host, argv, options) => run(host, argv, options),
    async install(host, artifact, installOptions = {}) {
      const version = assertMatches(artifact.version, PACKAGE_VERSION, 'version', scope);
      const dir = packageDir(host, artifact.name);
      if ((await sha256File(artifact.file)) !== artifact.sha256) {
        throw new RingmasterError(
          'TARGET',
          `[${host}] ${artifact.file} does not match its sha256; refusing to install`,
          {
            scope,
            details: { host },
          },
        );
      }
      const release = join(dir, 'releases', version);
      const exists = await stat(release).then(
        () => true,
        () => false,
      );
      if (!exists) {
        const staging = join(dir, 'releases', `.${version}.${randomUUID()}`);
        await mkdir(staging, { recursive: true });
        try {
          await extract(artifact, staging);
          await rename(staging, release);
        } catch (error) {
          await rm(staging, { recursive: true, force: true });
          throw error;
        }
      }
      const link = join(dir, `.current.${randomUUID()}`);
      await symlink(join('releases', version), link);
      await rename(link, join(dir, 'current'));
      await checkHealth(host, release, installOptions.env);
    },
    ...(opts.healthCheck
      ? {
          /** Runs the check in the current release of every package on the host. */
          async healthCheck(host: string, checkOptions: { env?: CommandEnv } = {}) {
            const entries = await readdir(hostDir(host)).catch(() => [] as string[]);
            for (const pkg of entries) {
              if (!PACKAGE_NAME.test(pkg) || !(await installed(host, pkg))) continue;
              await checkHealth(host, join(packageDir(host, pkg), 'current'), checkOptions.env);
            }
          },
        }
      : {}),
    async remove(host, pkg) {
      await rm(join(packageDir(host, pkg), 'current'), { force: true });
    },
    async inventory(host) {
      const out: Record<string, string> = {};
      const entries = await readdir(hostDir(host)).catch(() => [] as string[]);
      for (const pkg of entries) {
        if (!PACKAGE_NAME.test(pkg)) continue;
        const found = await installed(host, pkg);
        if (found) out[pkg] = found.version;
      }
      return out;
    },
  };
}
