/**
 * Runs argv commands on one host through the pool. This is the one place argv becomes a shell
 * command line (core's `shellJoin`), wrapped in the host's `timeout` so a command that hangs
 * is killed on the host too, not only abandoned by us — except a package manager's (dpkg,
 * apt-get install), which is never killed: a dpkg killed in a slow maintainer script leaves a
 * half-configured package. Those run detached from the session (see {@link PACKAGE_MANAGER}).
 */
import { shellJoin } from '@ringmaster/core/adapter';
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
    const wire = `timeout -k 5 ${seconds} ${label}`;
    return connection.exec(wire, timeoutMs, label);
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

  /** Uploads a local file over SFTP. */
  async upload(localPath: string, remotePath: string): Promise<void> {
    const connection = await this.pool.get(this.host);
    await connection.upload(localPath, remotePath, this.options.timeouts.uploadMs);
  }
}
