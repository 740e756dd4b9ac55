/**
 * Installing an artifact on one host: hooks, upload (SFTP, checksum on the host, `dpkg -i`,
 * temp file removed whatever happens) or apt (`apt-get install name=version`), then a check
 * that the host runs the version, service restarts and the health check.
 */
import { randomBytes } from 'node:crypto';
import type { Artifact } from '@ringmaster/core/adapter';
import { hostError } from './errors.js';
import { checkHealth } from './health.js';
import type { ResolvedSshOptions } from './options.js';
import type { Remote } from './remote.js';

/** `{host}` in a hook argument becomes the host's name. */
export function expandHook(argv: readonly string[], host: string): string[] {
  return argv.map((a) => a.split('{host}').join(host));
}

/** The installed version from `dpkg-query -f '${db:Status-Abbrev}|${Version}'`, or undefined unless fully installed. */
export function parseInstalled(stdout: string): string | undefined {
  const [status, version] = stdout.trim().split('|');
  // Second letter: current state. i = installed; W/t = installed, triggers pending.
  if (!status || !version || !/^.[iWt]/.test(status)) return undefined;
  return version;
}

// biome-ignore lint/suspicious/noTemplateCurlyInString: a dpkg-query format, not a JS template
const QUERY_FORMAT = '${db:Status-Abbrev}|${Version}';

/** The installed version of `pkg` (already validated) on the host. */
export async function queryInstalled(remote: Remote, pkg: string): Promise<string | undefined> {
  const result = await remote.run(['dpkg-query', '-W', '-f', QUERY_FORMAT, '--', pkg]);
  if (result.exitCode === 0) return parseInstalled(result.stdout);
  if (/no packages found/i.test(result.stderr)) return undefined;
  throw hostError(`reading the installed version of ${pkg} failed (exit ${result.exitCode})`, {
    host: remote.host.name,
    command: remote.commandLine(['dpkg-query', '-W', '-f', QUERY_FORMAT, '--', pkg]),
    exitCode: result.exitCode,
    stderr: result.stderr,
  });
}

const NONINTERACTIVE = ['env', 'DEBIAN_FRONTEND=noninteractive'];

async function uploadAndInstall(
  remote: Remote,
  artifact: Artifact,
  options: ResolvedSshOptions,
): Promise<void> {
  const remotePath = `${options.tmpDir.replace(/\/$/, '')}/ringmaster-${randomBytes(8).toString('hex')}.deb`;
  try {
    await remote.upload(artifact.file, remotePath);
    const sum = await remote.mustRun(['sha256sum', '--', remotePath], 'checksumming the upload');
    const seen = sum.stdout.trim().split(/\s+/)[0]?.toLowerCase();
    if (seen !== artifact.sha256.toLowerCase()) {
      throw hostError(
        `the uploaded file's sha256 is ${seen}, expected ${artifact.sha256}: the transfer was corrupted`,
        {
          host: remote.host.name,
          command: remote.commandLine(['sha256sum', '--', remotePath]),
        },
      );
    }
    await remote.mustRun(
      [...NONINTERACTIVE, 'dpkg', '-i', remotePath],
      `installing ${artifact.name} ${artifact.version}`,
      {
        privileged: true,
      },
    );
  } finally {
    // Also after a failure. If the connection is gone, one reconnect is tried; a host that died
    // keeps the file in its temp directory.
    await remote.run(['rm', '-f', '--', remotePath], { timeoutMs: 10_000 }).catch(() => undefined);
  }
}

async function aptInstall(remote: Remote, artifact: Artifact, options: ResolvedSshOptions): Promise<void> {
  if (options.aptUpdate) {
    await remote.mustRun([...NONINTERACTIVE, 'apt-get', 'update', '-q'], 'apt-get update', {
      privileged: true,
    });
  }
  await remote.mustRun(
    [
      ...NONINTERACTIVE,
      'apt-get',
      'install',
      '-y',
      '-q',
      '--allow-downgrades',
      '-o',
      'Dpkg::Options::=--force-confdef',
      '-o',
      'Dpkg::Options::=--force-confold',
      `${artifact.name}=${artifact.version}`,
    ],
    `installing ${artifact.name} ${artifact.version} with apt`,
    { privileged: true },
  );
}

/** Restarts the configured services (or runs the `restart` argv). */
export async function restartServices(remote: Remote, options: ResolvedSshOptions): Promise<void> {
  if (options.restart) {
    await remote.mustRun(expandHook(options.restart, remote.host.name), 'restarting', { privileged: true });
    return;
  }
  for (const service of options.services) {
    await remote.mustRun(['systemctl', 'restart', '--', service], `restarting ${service}`, {
      privileged: true,
    });
  }
}

/** The whole install sequence on one host (inputs already validated). */
export async function installOnHost(
  remote: Remote,
  artifact: Artifact,
  options: ResolvedSshOptions,
): Promise<void> {
  const host = remote.host.name;
  if (options.hooks.beforeInstall) {
    await remote.mustRun(expandHook(options.hooks.beforeInstall, host), 'the beforeInstall hook');
  }
  if (options.installMode === 'apt') await aptInstall(remote, artifact, options);
  else await uploadAndInstall(remote, artifact, options);
  const now = await queryInstalled(remote, artifact.name);
  if (now !== artifact.version) {
    throw hostError(
      `after installing ${artifact.name} ${artifact.version} the host reports ${now ?? 'it not (fully) installed'}`,
      { host },
    );
  }
  await restartServices(remote, options);
  if (options.healthCheck) await checkHealth(remote, options.healthCheck, options.timeouts.commandMs);
  if (options.hooks.afterInstall) {
    await remote.mustRun(expandHook(options.hooks.afterInstall, host), 'the afterInstall hook');
  }
}
