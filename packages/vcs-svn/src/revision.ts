/**
 * Revision numbers and times: what svn calls a revision, checked before it reaches argv, and
 * svn's microsecond dates turned into the ISO 8601 UTC strings of the contract.
 */
import type { Revision } from '@ringmaster/core/adapter';
import { RingmasterError } from '@ringmaster/core/adapter';
import { SCOPE } from './client.js';
import type { LogEntry } from './xml.js';

/** Parses an svn revision id (`"42"`) or throws `SOURCE` naming the operation. */
export function revisionNumber(id: string, operation: string): number {
  if (typeof id !== 'string' || !/^\d{1,15}$/.test(id)) {
    throw new RingmasterError(
      'SOURCE',
      `${operation}: ${JSON.stringify(String(id)).slice(0, 80)} is not an svn revision number; use an id from log() or head()`,
      { scope: SCOPE, details: { operation, revision: id } },
    );
  }
  return Number(id);
}

/** svn's `2026-11-28T05:14:51.532966Z` as `2026-11-28T05:14:51.532Z`; '' when the revision has no date. */
export function isoTime(date: string): string {
  const ms = Date.parse(date);
  return Number.isNaN(ms) ? '' : new Date(ms).toISOString();
}

/** A log entry as the contract's Revision of `line`. */
export function toRevision(entry: LogEntry, line: string): Revision {
  return {
    id: String(entry.revision),
    line,
    author: entry.author,
    message: entry.message,
    time: isoTime(entry.date),
    number: entry.revision,
    paths: entry.paths.map((p) => p.path),
  };
}
