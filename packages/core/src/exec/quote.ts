/**
 * Quoting and validation for the one place a shell is unavoidable: the remote side of SSH.
 * Everything that came from a commit, a tag, a package or a user is validated first, then
 * single-quoted here.
 */
import { RingmasterError } from '../errors.js';

/** POSIX single-quotes one argument: `it's` → `'it'\''s'`. */
export function shellQuote(arg: string): string {
  if (arg.includes('\0')) {
    throw new RingmasterError('UNSAFE_INPUT', 'an argument contains a NUL byte', { scope: 'exec' });
  }
  if (/^[A-Za-z0-9_\-./=:,@+%]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** Joins an argv array into one shell command line, each argument quoted. */
export function shellJoin(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}

/** Debian-style package names: lowercase letters, digits, `+ - .`, starting alphanumeric. */
export const PACKAGE_NAME = /^[a-z0-9][a-z0-9+.-]+$/;
/**
 * A version as dpkg accepts it: `[epoch:]upstream[-revision]`, where the upstream part may hold
 * `:` only after an epoch and `-` only before a revision. Every character is shell-safe.
 */
export const PACKAGE_VERSION =
  /^(?:[0-9][A-Za-z0-9.+~]*|[0-9][A-Za-z0-9.+~-]*-[A-Za-z0-9.+~]+|[0-9]+:[0-9][A-Za-z0-9.+~:]*|[0-9]+:[0-9][A-Za-z0-9.+~:-]*-[A-Za-z0-9.+~]+)$/;
/** Ring, pipeline and host names. */
export const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/**
 * Throws `UNSAFE_INPUT` unless `value` matches `pattern`, naming what it is and the rule. Use it
 * before a value reaches a remote shell, a path or a ledger key.
 */
export function assertMatches(value: unknown, pattern: RegExp, what: string, scope = 'exec'): string {
  if (typeof value !== 'string' || !pattern.test(value)) {
    throw new RingmasterError(
      'UNSAFE_INPUT',
      `${what} ${JSON.stringify(value)} is not allowed (must match ${pattern.source})`,
      { scope, details: { value, rule: pattern.source } },
    );
  }
  return value;
}
