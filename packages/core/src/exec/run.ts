/**
 * The safe command runner: argv arrays only (never a shell string), a timeout that kills the
 * whole process group, and bounded output capture that keeps the tail (where errors are).
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, join, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { RingmasterError } from '../errors.js';

export interface RunCommandOptions {
  cwd?: string;
  /** Added to (not replacing) the current environment unless `replaceEnv` is set. */
  env?: Record<string, string | undefined>;
  replaceEnv?: boolean;
  /** Kill the command (and its children) after this many ms. Default: no limit. */
  timeoutMs?: number;
  /** Written to the command's stdin, which is then closed. */
  input?: string | Buffer;
  /** Bytes kept of each of stdout and stderr (the tail). @default 1048576 */
  maxOutputBytes?: number;
  signal?: AbortSignal;
  /** Called with each chunk of combined output, for live logs. */
  onOutput?: (chunk: string) => void;
  /**
   * Called with the command's pid — also its process group's id, since every command runs in a
   * group of its own — before the command itself starts: the process waits until the returned
   * promise resolves (so it can be recorded, durably, and found again after a crash). When it
   * rejects, the command never runs and `runCommand` rejects with that error.
   */
  beforeStart?: (pid: number) => Promise<void>;
}

/**
 * What a held command runs first: wait for one line on fd 3, then become the command. If the
 * line never comes (the parent died), `read` fails and the command never starts.
 */
const HELD = 'read -r _ <&3 && exec 3<&- && exec "$@"';

/** Whether `command` can be started (found on PATH, or an executable path). */
async function startable(command: string, env: Record<string, string | undefined>, cwd?: string) {
  const candidates = command.includes('/')
    ? [resolve(cwd ?? '.', command)]
    : (env.PATH ?? '').split(delimiter).map((dir) => join(dir || '.', command));
  for (const file of candidates) {
    if (
      await access(file, constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return true;
  }
  return false;
}

export interface RunCommandResult {
  exitCode: number;
  /** Set when a signal ended the command. */
  signal?: NodeJS.Signals;
  stdout: string;
  stderr: string;
  /** True when stdout or stderr was longer than `maxOutputBytes` and only its tail was kept. */
  truncated: boolean;
  timedOut: boolean;
  durationMs: number;
}

/** Keeps the last `limit` bytes written to it (errors are at the end of a command's output). */
export class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  truncated = false;
  constructor(private readonly limit = 1024 * 1024) {}
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.limit && this.chunks.length > 1) {
      this.size -= this.chunks.shift()!.length;
      this.truncated = true;
    }
  }
  toString(): string {
    let buf = Buffer.concat(this.chunks);
    if (buf.length > this.limit) {
      buf = buf.subarray(buf.length - this.limit);
      this.truncated = true;
    }
    return (this.truncated ? '…' : '') + buf.toString('utf8');
  }
}

/** Throws `UNSAFE_INPUT` unless argv is a non-empty array of strings without NUL bytes. */
export function assertArgv(argv: readonly unknown[], scope = 'exec'): asserts argv is readonly string[] {
  if (!Array.isArray(argv) || argv.length === 0) {
    throw new RingmasterError('UNSAFE_INPUT', 'a command must be a non-empty argv array', { scope });
  }
  for (const [i, arg] of argv.entries()) {
    if (typeof arg !== 'string' || arg.includes('\0')) {
      throw new RingmasterError('UNSAFE_INPUT', `argv[${i}] must be a string without NUL bytes`, { scope });
    }
  }
}

/**
 * Runs `argv` without a shell and resolves with its exit code and output; it never rejects for
 * a non-zero exit (callers decide), only for a command that cannot start (`COMMAND`).
 *
 * @example
 * ```ts
 * const r = await runCommand(['make', 'test'], { cwd: dir, timeoutMs: 60_000 });
 * if (r.exitCode !== 0) throw new Error(r.stderr);
 * ```
 */
export async function runCommand(
  argv: readonly string[],
  options: RunCommandOptions = {},
): Promise<RunCommandResult> {
  assertArgv(argv);
  const started = performance.now();
  const limit = options.maxOutputBytes ?? 1024 * 1024;
  const env = options.replaceEnv ? { ...options.env } : { ...process.env, ...options.env };
  const held = options.beforeStart;
  // A held command starts through `sh` (HELD): say "cannot run" as a direct spawn would.
  if (held && !(await startable(argv[0]!, env, options.cwd))) {
    throw new RingmasterError('COMMAND', `cannot run ${argv[0]}: spawn ${argv[0]} ENOENT`, {
      scope: 'exec',
      details: { command: argv[0] },
    });
  }
  return new Promise((resolve, reject) => {
    const child = held
      ? spawn('/bin/sh', ['-c', HELD, 'ringmaster-step', ...argv], {
          cwd: options.cwd,
          env,
          stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
          detached: true,
        })
      : spawn(argv[0]!, argv.slice(1), {
          cwd: options.cwd,
          env,
          stdio: ['pipe', 'pipe', 'pipe'],
          detached: true,
        });
    const stdout = new TailBuffer(limit);
    const stderr = new TailBuffer(limit);
    let timedOut = false;
    let settled = false;
    const killGroup = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    const timer =
      options.timeoutMs !== undefined
        ? setTimeout(() => {
            timedOut = true;
            killGroup();
          }, options.timeoutMs)
        : undefined;
    const onAbort = () => killGroup();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (c: Buffer) => {
      stdout.push(c);
      options.onOutput?.(c.toString('utf8'));
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr.push(c);
      options.onOutput?.(c.toString('utf8'));
    });
    child.stdin.on('error', () => {
      // The command may exit without reading its input; that is its business.
    });
    child.stdin.end(options.input ?? undefined);
    const finish = () => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    };
    if (held && child.pid !== undefined) {
      const go = child.stdio[3] as Writable;
      go.on('error', () => {
        // the holder died before it was let go: its exit is reported below
      });
      held(child.pid).then(
        () => go.end('\n'),
        (error: unknown) => {
          killGroup();
          if (settled) return;
          settled = true;
          finish();
          reject(error);
        },
      );
    }
    child.on('error', (error) => {
      if (settled) return;
      settled = true;
      finish();
      reject(
        new RingmasterError('COMMAND', `cannot run ${argv[0]}: ${error.message}`, {
          scope: 'exec',
          cause: error,
          details: { command: argv[0] },
        }),
      );
    });
    child.on('close', (code, signal) => {
      if (settled) return;
      settled = true;
      finish();
      resolve({
        exitCode: code ?? (signal ? 128 : 1),
        ...(signal ? { signal } : {}),
        stdout: stdout.toString(),
        stderr: stderr.toString(),
        truncated: stdout.truncated || stderr.truncated,
        timedOut,
        durationMs: performance.now() - started,
      });
    });
  });
}

/** The last `lines` lines of a text, for error messages. */
export function tail(text: string, lines = 20): string {
  const all = text.trimEnd().split('\n');
  return all.slice(-lines).join('\n');
}
