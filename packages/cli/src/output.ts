/** Output for people (lines, colour on a terminal) and for tools (`--json`). */

export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** Writes without a newline: the progress line on a terminal. */
  write(text: string): void;
  isTTY: boolean;
}

export const processIo: Io = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  write: (text) => process.stdout.write(text),
  isTTY: Boolean(process.stdout.isTTY),
};

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
} as const;

export function paint(io: Io, code: string, text: string): string {
  return io.isTTY ? `\x1b[${code}m${text}\x1b[0m` : text;
}
