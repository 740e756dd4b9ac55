/** Output for people (lines, colour on a terminal) and for tools (`--json`). */
import { isatty } from 'node:tty';
import { OutputStream } from './stream.js';

export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** Writes without a newline: the progress line on a terminal. */
  write(text: string): void;
  isTTY: boolean;
}

const stdout = new OutputStream(1);
const stderr = new OutputStream(2);

/**
 * The process's own output: written off the event loop, so a slow or vanished reader never
 * stops what the command is doing (see OutputStream).
 */
export const processIo: Io = {
  out: (text) => stdout.write(`${text}\n`),
  err: (text) => stderr.write(`${text}\n`),
  write: (text) => stdout.write(text),
  isTTY: isatty(1),
};

/** Waits (at most `ms`) for the output still queued, before the process exits. */
export async function flushOutput(ms = 2000): Promise<void> {
  await Promise.all([stdout.flush(ms), stderr.flush(ms)]);
}

/** Why the process's output was lost (a full disk, not a reader that went away), if it was. */
export function outputFailure(): string | undefined {
  const failed = stdout.failure ?? stderr.failure;
  return failed && `output lost: ${failed.code ?? 'error'}: ${failed.message}`;
}

/** Exit codes, documented in the README. */
export const EXIT = {
  OK: 0,
  /** A deployment or gate failed, or an operation was refused. */
  FAILED: 1,
  /** Bad usage or an invalid config. */
  USAGE: 2,
  /** A lock (ledger, ring) is held by someone else. */
  LOCKED: 3,
  /** Something named does not exist (pipeline, ring, release). */
  NOT_FOUND: 4,
  /** Not signed in (no or a wrong RINGMASTER_TOKEN), or not allowed to do this in that ring. */
  DENIED: 5,
  /** The rollout stopped at a pause step, as its strategy says: it waits for `resume` or its time. */
  PAUSED: 6,
} as const;

export function paint(io: Io, code: string, text: string): string {
  return io.isTTY ? `\x1b[${code}m${text}\x1b[0m` : text;
}
