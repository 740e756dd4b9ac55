/**
 * Reads `git log -z` output without guessing: every record starts with a per-call random marker,
 * fields are separated by NUL (which no message, name or path can contain), so messages with
 * newlines, quotes, markup and megabytes of text come back exactly as committed.
 */
import { randomBytes } from 'node:crypto';
import { type Revision, RingmasterError } from '@ringmaster/core/adapter';
import { SCOPE } from './runner.js';

/** One commit as `git log` printed it, before numbering. */
export interface LoggedCommit {
  id: string;
  parents: string[];
  author: string;
  /** The author's address, as git records it. */
  email: string;
  time: string;
  message: string;
  paths: string[];
}

/** The `git log` arguments that print what {@link parseLog} reads, with a fresh marker. */
export function logFormat(): { marker: string; args: string[] } {
  const marker = `rm-${randomBytes(12).toString('hex')}`;
  return {
    marker,
    args: [
      '-z',
      '--no-color',
      '--encoding=UTF-8',
      '--name-only',
      '--no-renames',
      // A merge on the line lists what it changed relative to the line, not a combined diff.
      '--diff-merges=first-parent',
      `--format=format:${marker}%x00%H%x00%P%x00%an%x00%ae%x00%ct%x00%B%x00`,
    ],
  };
}

/** Parses the output of `git log` run with {@link logFormat}'s arguments. */
export function parseLog(output: string, marker: string): LoggedCommit[] {
  if (output.trim() === '') return [];
  const tokens = output.split('\0');
  if (tokens[0] !== marker) {
    throw new RingmasterError(
      'SOURCE',
      'git log printed output this adapter cannot read (truncated or unexpected); poll more often so each log is smaller',
      { scope: SCOPE },
    );
  }
  const commits: LoggedCommit[] = [];
  let i = 0;
  while (i < tokens.length) {
    const head = tokens[i];
    if (head !== marker && head !== `\n${marker}`) {
      i++;
      continue;
    }
    const [id = '', parents = '', author = '', email = '', seconds = '0', body = ''] = tokens.slice(
      i + 1,
      i + 7,
    );
    i += 7;
    const paths: string[] = [];
    // The path list follows the message, opened by a newline, one NUL-terminated path each.
    while (i < tokens.length && tokens[i] !== marker && tokens[i] !== `\n${marker}`) {
      const token = tokens[i]!;
      const path = paths.length === 0 && token.startsWith('\n') ? token.slice(1) : token;
      if (path !== '') paths.push(path);
      i++;
    }
    commits.push({
      id,
      parents: parents === '' ? [] : parents.split(' '),
      author,
      email,
      time: new Date(Number(seconds) * 1000).toISOString(),
      message: body,
      paths,
    });
  }
  return commits;
}

/** A logged commit as the Source contract's `Revision`. */
export function toRevision(commit: LoggedCommit, line: string, number: number | undefined): Revision {
  return {
    id: commit.id,
    line,
    author: commit.author,
    ...(commit.email ? { email: commit.email } : {}),
    message: commit.message,
    time: commit.time,
    ...(number !== undefined ? { number } : {}),
    paths: commit.paths,
  };
}
