/**
 * Installing an artifact on one host: hooks, upload (one command: the package on its stdin,
 * checksum on the host, `dpkg -i`, temp file removed whatever happens) or apt (the `aptSource` written where it differs, then
 * `apt-get install name=version`), then a check that the host runs the version, service
 * restarts and the health check.
 */
import type { Artifact, CommandEnv, InstalledPackage } from '@ringmaster/core/adapter';
import { type AptSourceFiles, aptSourceFiles, writeAptSource } from './apt-source.js';
import { UPLOAD_GO } from './connection.js';
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
const UPLOAD_FAILED = 92;
/** The script's exits by its HUP and TERM traps, before dpkg started. */
const INTERRUPTED = [129, 143];
const MARKER = '@@ringmaster-installed ';
/** The script's line on stderr once every byte arrived: the upload's time ends, the install's begins. */
const RECEIVED = '@@ringmaster-received';

/**
 * The whole upload install in one command, the package on its stdin: receive exactly $4 bytes
 * (then wait for the controller's go: see `UploadInput`) into a directory of its own under $2 (made by the host with `mktemp -d`, mode 0700: its name is
 * in no command line before it exists, so no other user can put a file there first), check their
 * sha256 ($1), `dpkg -i`, read the version of $3 back, and remove the directory whatever happens
 * (EXIT trap). The values arrive as positional parameters quoted by `shellJoin`, never spliced
 * into the script text.
 *
 * - The hash is OpenSSL's where it runs (it uses the CPU's SHA instructions: a quarter of
 *   `sha256sum`'s time here), else coreutils' `sha256sum`. Either way the sum is compared.
 * - Until dpkg starts, HUP and TERM end the script through its EXIT trap (a shell killed by a
 *   signal skips it), and a closed channel is a failed write, not a death by SIGPIPE. A session
 *   that ends during the upload ends `dd` early: the size check fails, and the partial file goes.
 * - From `dpkg -i` on, the script ignores HUP and PIPE and outlives a TERM (it notes it and waits),
 *   and dpkg's output goes to a file shown afterwards on stderr: a session that ends early leaves
 *   dpkg running to its end, and the upload is removed only after dpkg is done with it.
 */
const INSTALL_SCRIPT = [
  'd=',
  `trap 'rm -rf -- \${d:+"$d"}' EXIT`,
  `trap 'exit 129' HUP; trap 'exit 143' TERM; trap '' PIPE`,
  `d=$(umask 077 && mktemp -d -- "$2/ringmaster-XXXXXXXXXX") || exit ${UPLOAD_FAILED}`,
  'f=$d/upload.deb',
  // GNU dd in 1 MiB blocks: a tenth of the system calls (and half the CPU) of head -c's 8 KiB.
  `dd bs=1M iflag=fullblock,count_bytes count="$4" status=none >"$f" || exit ${UPLOAD_FAILED}`,
  `got=$(wc -c <"$f") || exit ${UPLOAD_FAILED}`,
  `if [ "$got" -ne "$4" ]; then echo "the upload was cut short: $got of $4 bytes arrived" >&2; exit ${UPLOAD_FAILED}; fi`,
  // Every byte is here: say so, and go on only when the controller says go. One that gave up on
  // the upload (its uploadMs passed) closed the channel instead: end-of-file, nothing installed.
  `echo '${RECEIVED}' >&2`,
  'IFS= read -r go || go=',
  `if [ "$go" != '${UPLOAD_GO.trim()}' ]; then echo "the controller abandoned the upload" >&2; exit ${UPLOAD_FAILED}; fi`,
  `sum=$(openssl dgst -sha256 -r <"$f" 2>/dev/null) || sum=$(sha256sum <"$f") || exit ${CHECKSUM_FAILED}`,
  `sum=\${sum%% *}`,
  `if [ "$sum" != "$1" ]; then echo "sha256 of the upload is $sum, expected $1: the transfer was corrupted" >&2; exit ${CHECKSUM_MISMATCH}; fi`,
  `trap '' HUP; trap 'term=1' TERM`,
  'log=$d/dpkg.log',
  'DEBIAN_FRONTEND=noninteractive dpkg -i "$f" </dev/null >"$log" 2>&1',
  'rc=$?',
  `[ "$rc" -ne 0 ] || printf '\\n${MARKER}%s\\n' "$(dpkg-query -W -f '\${db:Status-Status}|\${Version}' -- "$3")" >>"$log"`,
  `cat -- "$log" >&2`,
  'exit $rc',
].join('\n');

/** Uploads (on the install command's stdin), checks, installs; returns what the host now reports of the package. */
async function uploadAndInstall(
  remote: Remote,
  artifact: Artifact,
  options: ResolvedSshOptions,
  bytes: Buffer | undefined,
): Promise<InstalledPackage | undefined> {
  const tmpDir = options.tmpDir.replace(/(.)\/$/, '$1');
  const argv = [
    'sh',
    '-c',
    INSTALL_SCRIPT,
    'ringmaster-install',
    artifact.sha256.toLowerCase(),
    tmpDir,
    artifact.name,
    String(artifact.size),
  ];
  // What errors show: the steps, not the script text.
  const shown = `upload to ${tmpDir} + sha256 + dpkg -i`;
  const result = await remote.runWithUpload(
    argv,
    bytes ?? { file: artifact.file, size: artifact.size },
    shown,
    RECEIVED,
    { privileged: true },
  );
  const stderr = result.stderr.replace(`${RECEIVED}\n`, '');
  if (result.exitCode !== 0) {
    const what =
      result.exitCode === UPLOAD_FAILED || INTERRUPTED.includes(result.exitCode)
        ? `uploading ${artifact.name} ${artifact.version} to ${tmpDir}`
        : result.exitCode === CHECKSUM_MISMATCH || result.exitCode === CHECKSUM_FAILED
          ? 'checking the sha256 of the upload'
          : `installing ${artifact.name} ${artifact.version} (dpkg -i)`;
    throw hostError(`${what} failed (exit ${result.exitCode})`, {
      host: remote.host.name,
      command: shown,
      exitCode: result.exitCode,
      stderr: stderr || result.stdout,
    });
  }
  const line = stderr.split('\n').find((l) => l.startsWith(MARKER));
  if (line === undefined) {
    // Nothing was read: saying "not installed" here would be a guess.
    throw hostError(`dpkg -i exited 0 but the script's read-back of ${artifact.name} is missing`, {
      host: remote.host.name,
      command: shown,
      stderr: stderr || result.stdout,
    });
  }
  return parseInstalled(line.slice(MARKER.length));
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
    // 'source', or a full update not asked for: only our source's lists are fetched (another
    // repository's mirror that is slow or down does not hold up or fail the deploy), and the
    // other lists stay as they were.
    const only =
      source && options.aptUpdate !== true
        ? [
            '-o',
            `Dir::Etc::SourceList=${source.listPath}`,
            '-o',
            'Dir::Etc::SourceParts=-',
            '-o',
            'APT::Get::List-Cleanup=0',
          ]
        : [];
    await remote.mustRun([...NONINTERACTIVE, 'apt-get', 'update', '-q', ...only], 'apt-get update', {
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
  bytes?: Buffer,
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
    now = await uploadAndInstall(remote, artifact, options, bytes);
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
