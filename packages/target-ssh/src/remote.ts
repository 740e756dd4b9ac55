/**
 * Runs argv commands on one host through the pool. This is the one place argv becomes a shell
 * command line (core's `shellJoin`), wrapped in the host's `timeout` so a command that hangs
 * is killed on the host too, not only abandoned by us.
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
}

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

  /** Runs `argv`; resolves whatever the exit code, rejects `TARGET` on connection loss or timeout. */
  async run(argv: readonly string[], runOptions: RemoteRunOptions = {}): Promise<ExecResult> {
    const timeoutMs = runOptions.timeoutMs ?? this.options.timeouts.commandMs;
    const label = this.commandLine(argv, runOptions.privileged);
    // The host-side limit is a little longer than ours: we report the timeout, the host cleans up.
    // (sshd refuses channel signals for root sessions, so for root this is what ends the command.)
    const seconds = Math.ceil(timeoutMs / 1000) + 1;
    const wire = `timeout -k 5 ${seconds} ${label}`;
    const connection = await this.pool.get(this.host);
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
