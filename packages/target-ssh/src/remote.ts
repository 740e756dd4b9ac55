/**
 * Runs argv commands on one host through the pool. This is the one place argv becomes a shell
 * command line (core's `shellJoin`), wrapped in the host's `timeout` so a command that hangs
 * is killed on the host too, not only abandoned by us — except a package manager's (dpkg,
 * apt-get install), which is never killed: a dpkg killed in a slow maintainer script leaves a
 * half-configured package. Those run detached from the session (see {@link PACKAGE_MANAGER}).
 * Environment variables (a ring's vars and secrets) travel on the command's stdin, never on
 * its command line (see {@link WITH_ENV}).
 */
import { type CommandEnv, RingmasterError, shellJoin } from '@ringmaster/core/adapter';
import type { ExecResult } from './connection.js';
import { hostError } from './errors.js';
import type { ResolvedSshOptions, SshHost } from './options.js';
import type { ConnectionPool } from './pool.js';

export interface RemoteRunOptions {
  timeoutMs?: number;
  /** Prefix with `sudo -n` when the target has `sudo: true`. */
  privileged?: boolean;
  /**
   * A package-manager command: never wrapped in `timeout`, never signalled, and shielded from
   * the session's end (its output goes to a file on the host, it ignores SIGHUP and SIGPIPE),
   * so a timeout or a dropped connection only stops us waiting. Its limit is
   * `timeouts.installMs` (none by default).
   */
  packageManager?: boolean;
  /** Variables for the command, sent on its stdin (see {@link WITH_ENV}); not with `packageManager`. */
  env?: CommandEnv;
}

/**
 * Reads `NAME=<base64 of the value>` lines from stdin up to an empty line, exports each, then
 * becomes `"$@"`. The values never appear in an argv on the host (`ps`, audit logs): `printf`
 * and `export` are shell builtins, and `base64 -d` gets the value on a pipe. sshd's `env`
 * requests would need `AcceptEnv` on every host, and a command line is visible to all.
 */
export const WITH_ENV = [
  'while IFS= read -r line; do',
  `  case $line in '') break;; *=*) ;; *) echo "ringmaster: bad line on stdin" >&2; exit 125;; esac`,
  `  name=\${line%%=*}`,
  `  case $name in ''|[0-9]*|*[!A-Za-z0-9_]*) echo "ringmaster: bad variable name on stdin" >&2; exit 125;; esac`,
  `  value=$(printf %s "\${line#*=}" | base64 -d && printf x) || exit 125`,
  `  export "$name=\${value%x}"`,
  'done',
  'exec "$@"',
].join('\n');

/** What {@link WITH_ENV} reads: one line per variable, then an empty line. */
export function envInput(env: CommandEnv): string {
  let out = '';
  for (const [name, value] of Object.entries(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
      throw new RingmasterError(
        'UNSAFE_INPUT',
        `${JSON.stringify(name)} is not an environment variable name`,
        {
          scope: 'target-ssh',
        },
      );
    out += `${name}=${Buffer.from(value, 'utf8').toString('base64')}\n`;
  }
  return `${out}\n`;
}

/**
 * Runs `"$@"` so that it outlives this session: stdin from /dev/null, output to a temp file
 * (shown afterwards on stderr, where error tails are read), SIGHUP and SIGPIPE ignored. A
 * session that ends early leaves dpkg running to its end; the file is removed either way.
 */
export const PACKAGE_MANAGER = [
  'log=$(mktemp) || exit 70',
  `trap 'rm -f -- "$log"' EXIT`,
  `( trap '' HUP PIPE; exec "$@" ) </dev/null >"$log" 2>&1`,
  'rc=$?',
  `cat -- "$log" >&2`,
  'exit $rc',
].join('\n');

/** Commands on one host. */
export class Remote {
  constructor(
    readonly host: SshHost,
    private readonly pool: ConnectionPool,
    private readonly options: ResolvedSshOptions,
  ) {}

  /** The command line sent for `argv`, as shown in errors. */
  commandLine(argv: readonly string[], privileged = false): string {
    return shellJoin(privileged && this.options.sudo ? ['sudo', '-n', '--', ...argv] : argv);
  }

  /**
   * Runs `argv`; resolves whatever the exit code, rejects `TARGET` on connection loss and
   * `TIMEOUT` on timeout.
   */
  async run(argv: readonly string[], runOptions: RemoteRunOptions = {}): Promise<ExecResult> {
    const label = this.commandLine(argv, runOptions.privileged);
    const connection = await this.pool.get(this.host);
    if (runOptions.packageManager) {
      const wire = this.commandLine(
        ['sh', '-c', PACKAGE_MANAGER, 'ringmaster-pm', ...argv],
        runOptions.privileged,
      );
      return connection.exec(wire, this.options.timeouts.installMs, label, false);
    }
    const timeoutMs = runOptions.timeoutMs ?? this.options.timeouts.commandMs;
    // The host-side limit is a little longer than ours: we report the timeout, the host cleans up.
    // (sshd refuses channel signals for root sessions, so for root this is what ends the command.)
    const seconds = Math.ceil(timeoutMs / 1000) + 1;
    const env = runOptions.env && Object.keys(runOptions.env).length > 0 ? runOptions.env : undefined;
    if (!env) return connection.exec(`timeout -k 5 ${seconds} ${label}`, timeoutMs, label);
    const wrapped = this.commandLine(
      ['sh', '-c', WITH_ENV, 'ringmaster-env', ...argv],
      runOptions.privileged,
    );
    return connection.exec(`timeout -k 5 ${seconds} ${wrapped}`, timeoutMs, label, true, envInput(env));
  }

  /** Runs `argv` and rejects `TARGET` (host, command, exit code, stderr tail) unless it exits 0. */
  async mustRun(
    argv: readonly string[],
    what: string,
    runOptions: RemoteRunOptions = {},
  ): Promise<ExecResult> {
    const result = await this.run(argv, runOptions);
    if (result.exitCode !== 0) {
      throw hostError(
        `${what} failed (exit ${result.exitCode})`,
        {
          host: this.host.name,
          command: this.commandLine(argv, runOptions.privileged),
          exitCode: result.exitCode,
          stderr: result.stderr || result.stdout,
        },
        [this.options.passphrase],
      );
    }
    return result;
  }

  /**
   * Runs `argv` with `upload` on its stdin, by the package-manager rules: never wrapped in
   * `timeout`, never signalled. `timeouts.uploadMs` bounds the sending, until the command prints
   * `received` on stderr (or, without it, until the channel took the last byte); only then does
   * `timeouts.installMs` start. The command itself must shield what must not be interrupted
   * (see install.ts).
   */
  async runWithUpload(
    argv: readonly string[],
    upload: Buffer | { file: string; size: number },
    label: string,
    received?: string,
    runOptions: Pick<RemoteRunOptions, 'privileged'> = {},
  ): Promise<ExecResult> {
    const connection = await this.pool.get(this.host);
    return connection.exec(
      this.commandLine(argv, runOptions.privileged),
      this.options.timeouts.installMs,
      label,
      false,
      {
        data: upload,
        timeoutMs: this.options.timeouts.uploadMs,
        inFlightBytes: this.options.uploadInFlightBytes,
        ...(received ? { received } : {}),
      },
    );
  }
}
