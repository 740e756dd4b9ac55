/**
 * What a PostgreSQL failure means for the ledger. Three kinds matter:
 * - the database cannot be reached or went away (a restart, a terminated backend, a reset
 *   connection): the operation may be tried again once it is back;
 * - the database refused us for good (authentication, a missing database, missing
 *   permissions): said at once, naming what is missing;
 * - anything else: passed on with PostgreSQL's own words.
 */
import { RingmasterError } from '@ringmaster/core/adapter';

interface PgError extends Error {
  code?: string;
  errno?: number;
}

/** SQLSTATE classes and Node error codes that mean "the connection is gone", not "refused". */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  '57P01', // admin_shutdown (pg_terminate_backend, a fast shutdown)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, shutting down)
  '57P05', // idle session timeout
  '25P03', // idle in transaction session timeout
]);

/** SQLSTATEs that mean "busy for now": the statement may be tried again as it is. */
const BUSY_CODES = new Set([
  '57014', // statement timeout: a lock held by a stalled session, say
  '55P03', // lock not available (lock_timeout)
  '53300', // too many connections (right after a restart)
  '40001', // serialization failure
  '40P01', // deadlock detected
]);

/** True when `error` says the database connection was lost or could not be made. */
export function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as PgError).code;
  if (code && (CONNECTION_CODES.has(code) || code.startsWith('08'))) return true;
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Query read timeout/i.test(
    error.message,
  );
}

/**
 * True when `error` says a connection we had was ended at once — reset, closed, its backend
 * terminated — rather than cut off (a timeout): trying the next connection costs nothing then.
 */
export function isEndedConnection(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as PgError).code ?? '';
  if (['ECONNRESET', 'EPIPE', '57P01', '57P02', '57P05', '25P03'].includes(code)) return true;
  return /Connection terminated/i.test(error.message) && !/timeout/i.test(error.message);
}

/** True when `error` is worth trying again: the connection went away, or the server is busy. */
export function isTransient(error: unknown): boolean {
  return (
    isConnectionError(error) || (error instanceof Error && BUSY_CODES.has((error as PgError).code ?? ''))
  );
}

/**
 * Wraps a PostgreSQL failure in a `LEDGER` error that says what it means and what to do.
 * `where` names the database (`postgres://ringmaster@127.0.0.1:5432/ci`, no password).
 */
export function storeError(error: unknown, doing: string, where: string, schema: string): RingmasterError {
  if (error instanceof RingmasterError) return error;
  const e = error instanceof Error ? (error as PgError) : new Error(String(error));
  const code = (e as PgError).code;
  let advice: string;
  if (isConnectionError(e)) {
    advice = `the database at ${where} cannot be reached (${e.message}); the runner waits and tries again`;
  } else if (isTransient(e)) {
    advice = `the database at ${where} is busy (${e.message}${code ? `, SQLSTATE ${code}` : ''}); the runner waits and tries again`;
  } else if (code === '28P01' || code === '28000') {
    advice = `the database at ${where} refused the login (${e.message}); check the user and password in the connection string`;
  } else if (code === '3D000') {
    advice = `${e.message} at ${where}; create it first (createdb), or name an existing one in the connection string`;
  } else if (code === '42501') {
    advice = `the database user lacks a permission (${e.message}); it needs CREATE on the database the first time (to create schema "${schema}"), then USAGE and CREATE on that schema, and SELECT, INSERT, UPDATE, DELETE on its tables (a schema migration needs the tables' owner)`;
  } else {
    advice = `${e.message}${code ? ` (SQLSTATE ${code})` : ''}`;
  }
  return new RingmasterError('LEDGER', `cannot ${doing}: ${advice}`, {
    scope: 'store-postgres',
    cause: error,
    details: {
      database: where,
      ...(code ? { sqlstate: code } : {}),
      retryable: isTransient(e),
    },
  });
}

/** The connection string without its password, for messages. */
export function describeConnection(connectionString: string | undefined): string {
  if (!connectionString) return 'the given pool';
  try {
    const url = new URL(connectionString);
    url.password = '';
    return url.toString();
  } catch {
    return 'the configured database';
  }
}
