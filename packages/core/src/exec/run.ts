/**
 * The safe command runner: argv arrays only (never a shell string), a timeout that kills the
 * whole process group, and bounded output capture that keeps the tail (where errors are).
 */
import { spawn } from 'node:child_process';
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
export function runCommand(
  argv: readonly string[],
  options: RunCommandOptions = {},
): Promise<RunCommandResult> {
  assertArgv(argv);
  const started = performance.now();
  const limit = options.maxOutputBytes ?? 1024 * 1024;
  const env = options.replaceEnv ? { ...options.env } : { ...process.env, ...options.env };
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
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
