/**
 * Installing an artifact on one host: hooks, upload (SFTP, checksum on the host, `dpkg -i`,
 * temp file removed whatever happens) or apt (the `aptSource` written where it differs, then
 * `apt-get install name=version`), then a check that the host runs the version, service
 * restarts and the health check.
 */
import { randomBytes } from 'node:crypto';
import type { Artifact, CommandEnv, InstalledPackage } from '@ringmaster/core/adapter';
import { type AptSourceFiles, aptSourceFiles, writeAptSource } from './apt-source.js';
import { hostError } from './errors.js';
import { checkHealth } from './health.js';
import type { ResolvedSshOptions } from './options.js';
import type { Remote } from './remote.js';

/** `{host}` in a hook argument becomes the host's name. */
export function expandHook(argv: readonly string[], host: string): string[] {
  return argv.map((a) => a.split('{host}').join(host));
}

/** dpkg's package states (`${db:Status-Status}`) and what each means for a deployment. */
const DPKG_STATES: Record<string, 'installed' | 'half-configured' | 'absent'> = {
  installed: 'installed',
  // Installed; a trigger of another package is still to run: the package itself is in place.
  'triggers-awaited': 'installed',
  'triggers-pending': 'installed',
  // Unpacked but not (fully) configured: a failed or interrupted postinst, or a dpkg still running.
  unpacked: 'half-configured',
  'half-configured': 'half-configured',
  'half-installed': 'half-configured',
  'not-installed': 'absent',
  // Removed, its configuration files left behind: not installed.
  'config-files': 'absent',
};

/**
 * What `dpkg-query -f '${db:Status-Status}|${Version}'` printed: the package fully installed
 * or half-configured at a version, or undefined when dpkg has it not installed. Throws on a
 * state it does not know rather than guess.
 */
export function parseInstalled(stdout: string): InstalledPackage | undefined {
  const [state = '', version = ''] = stdout.trim().split('|');
  const meaning = DPKG_STATES[state];
  if (meaning === undefined)
    throw new Error(`dpkg reports an unknown package state ${JSON.stringify(state)}`);
  if (meaning === 'absent' || version === '') return undefined;
  return meaning === 'installed'
    ? { version, status: 'installed' }
    : { version, status: 'half-configured', detail: state };
}

// biome-ignore lint/suspicious/noTemplateCurlyInString: a dpkg-query format, not a JS template
const QUERY_FORMAT = '${db:Status-Status}|${Version}';

/** What the host has of `pkg` (already validated): see {@link parseInstalled}. */
export async function queryInstalled(remote: Remote, pkg: string): Promise<InstalledPackage | undefined> {
  const argv = ['dpkg-query', '-W', '-f', QUERY_FORMAT, '--', pkg];
  const result = await remote.run(argv);
  const failed = (why: string, cause?: unknown) =>
    hostError(why, {
      host: remote.host.name,
      command: remote.commandLine(argv),
      exitCode: result.exitCode,
      stderr: result.stderr,
      ...(cause ? { cause } : {}),
    });
  if (result.exitCode === 0) {
    try {
      return parseInstalled(result.stdout);
    } catch (error) {
      throw failed(`reading the installed version of ${pkg}: ${(error as Error).message}`, error);
    }
  }
  if (/no packages found/i.test(result.stderr)) return undefined;
  throw failed(`reading the installed version of ${pkg} failed (exit ${result.exitCode})`);
}

const NONINTERACTIVE = ['env', 'DEBIAN_FRONTEND=noninteractive'];

/** Exit codes of {@link INSTALL_SCRIPT} that are ours, not dpkg's (which exits 1 or 2). */
const CHECKSUM_FAILED = 90;
const CHECKSUM_MISMATCH = 91;
const MARKER = '@@ringmaster-installed ';

/**
 * What runs on the host after the upload, in one round trip: checksum, `dpkg -i`, read the
 * version back, and remove the upload whatever happens (EXIT trap). The values arrive as
 * positional parameters ($1 sha256, $2 path, $3 package) quoted by `shellJoin`, never spliced
 * into the script text. It runs as a package-manager command (see Remote's PACKAGE_MANAGER):
 * nothing interrupts dpkg once it started.
 */
const INSTALL_SCRIPT = [
  `trap 'rm -f -- "$2"' EXIT`,
  `sum=$(sha256sum -- "$2") || exit ${CHECKSUM_FAILED}`,
  `sum=\${sum%% *}`,
  `if [ "$sum" != "$1" ]; then echo "sha256 of the upload is $sum, expected $1: the transfer was corrupted" >&2; exit ${CHECKSUM_MISMATCH}; fi`,
  'DEBIAN_FRONTEND=noninteractive dpkg -i "$2" || exit $?',
  `printf '\\n${MARKER}%s\\n' "$(dpkg-query -W -f '\${db:Status-Status}|\${Version}' -- "$3")"`,
].join('\n');

/** Uploads, checks, installs; returns what the host now reports of the package. */
async function uploadAndInstall(
  remote: Remote,
  artifact: Artifact,
  options: ResolvedSshOptions,
): Promise<InstalledPackage | undefined> {
  const remotePath = `${options.tmpDir.replace(/\/$/, '')}/ringmaster-${randomBytes(8).toString('hex')}.deb`;
  const argv = [
    'sh',
    '-c',
    INSTALL_SCRIPT,
    'ringmaster-install',
    artifact.sha256.toLowerCase(),
    remotePath,
    artifact.name,
  ];
  // What errors show: the steps, not the script text.
  const shown = `sha256sum + dpkg -i ${remotePath}`;
  let scriptRan = false;
  try {
    await remote.upload(artifact.file, remotePath);
    scriptRan = true; // from here on the script's trap removes the upload, even if we stop waiting
    const result = await remote.run(argv, { privileged: true, packageManager: true });
    if (result.exitCode !== 0) {
      const what =
        result.exitCode === CHECKSUM_MISMATCH || result.exitCode === CHECKSUM_FAILED
          ? 'checking the sha256 of the upload'
          : `installing ${artifact.name} ${artifact.version} (dpkg -i)`;
      throw hostError(`${what} failed (exit ${result.exitCode})`, {
        host: remote.host.name,
        command: shown,
        exitCode: result.exitCode,
        stderr: result.stderr || result.stdout,
      });
    }
    // The script's output arrives on stderr (the package-manager wrapper keeps it in a file).
    const line = result.stderr.split('\n').find((l) => l.startsWith(MARKER));
    if (line === undefined) {
      // Nothing was read: saying "not installed" here would be a guess.
      throw hostError(`dpkg -i exited 0 but the script's read-back of ${artifact.name} is missing`, {
        host: remote.host.name,
        command: shown,
        stderr: result.stderr || result.stdout,
      });
    }
    return parseInstalled(line.slice(MARKER.length));
  } finally {
    // The script's trap removed the upload; when it never ran (upload failed, connection lost,
    // timeout), remove it here — one reconnect is tried. A host that died keeps it in tmpDir.
    if (!scriptRan)
      await remote.run(['rm', '-f', '--', remotePath], { timeoutMs: 10_000 }).catch(() => undefined);
  }
}

async function aptInstall(
  remote: Remote,
  artifact: Artifact,
  options: ResolvedSshOptions,
  source: AptSourceFiles | undefined,
): Promise<void> {
  // A source that just changed has no lists on the host yet: update whatever aptUpdate says.
  const sourceChanged = source ? await writeAptSource(remote, source) : false;
  if (options.aptUpdate || sourceChanged) {
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
    { privileged: true, packageManager: true },
  );
}

/** Restarts the configured services (or runs the `restart` argv, with `env`). */
export async function restartServices(
  remote: Remote,
  options: ResolvedSshOptions,
  env?: CommandEnv,
): Promise<void> {
  if (options.restart) {
    await remote.mustRun(expandHook(options.restart, remote.host.name), 'restarting', {
      privileged: true,
      ...(env ? { env } : {}),
    });
    return;
  }
  for (const service of options.services) {
    await remote.mustRun(['systemctl', 'restart', '--', service], `restarting ${service}`, {
      privileged: true,
    });
  }
}

/**
 * The whole install sequence on one host (inputs already validated). `env` (the ring's vars and
 * secrets) goes to the user's commands — hooks, a custom restart, the health check — and never
 * to the package manager, whose maintainer scripts are the package's, not the ring's.
 */
export async function installOnHost(
  remote: Remote,
  artifact: Artifact,
  options: ResolvedSshOptions,
  env?: CommandEnv,
): Promise<void> {
  const host = remote.host.name;
  const withEnv = env ? { env } : {};
  // The key file is read (and checked) before anything runs on the host.
  const source =
    options.installMode === 'apt' && options.aptSource ? await aptSourceFiles(options.aptSource) : undefined;
  if (options.hooks.beforeInstall) {
    await remote.mustRun(expandHook(options.hooks.beforeInstall, host), 'the beforeInstall hook', withEnv);
  }
  let now: InstalledPackage | undefined;
  if (options.installMode === 'apt') {
    await aptInstall(remote, artifact, options, source);
    now = await queryInstalled(remote, artifact.name);
  } else {
    now = await uploadAndInstall(remote, artifact, options);
  }
  if (now?.status !== 'installed' || now.version !== artifact.version) {
    const has = now
      ? `${now.version}${now.status === 'installed' ? '' : ` (${now.detail ?? now.status})`}`
      : 'it not installed';
    throw hostError(`after installing ${artifact.name} ${artifact.version} the host reports ${has}`, {
      host,
    });
  }
  await restartServices(remote, options, env);
  if (options.healthCheck) await checkHealth(remote, options.healthCheck, options.timeouts.commandMs, env);
  if (options.hooks.afterInstall) {
    await remote.mustRun(expandHook(options.hooks.afterInstall, host), 'the afterInstall hook', withEnv);
  }
}
