/**
 * One error family for the whole SDK: every failure a user can act on is a `RingmasterError`
 * with a fixed `code`, a scope (which adapter or subsystem said it) and the original `cause`.
 */
import type { z } from 'zod';

/** The fixed set of error codes. Tests and callers branch on these, never on message text. */
export type ErrorCode =
  | 'CONFIG'
  | 'SOURCE'
  | 'CURSOR_LOST'
  | 'BUILD'
  | 'PACKAGE'
  | 'REPOSITORY'
  | 'TARGET'
  | 'HOST_KEY'
  | 'GATE'
  | 'POLICY'
  | 'LOCKED'
  | 'LEDGER'
  | 'CONFLICT'
  | 'NOT_FOUND'
  | 'STATE'
  | 'TIMEOUT'
  | 'COMMAND'
  | 'NOTIFY'
  | 'UNSAFE_INPUT'
  /** A ring's secret could not be read: its file, its environment variable or its command failed. */
  | 'SECRET'
  /** No identity, or one that does not check out (a missing or wrong token, an expired session). */
  | 'UNAUTHENTICATED'
  /** An authenticated user who may not do this (in this ring), or a `by` that is not them. */
  | 'FORBIDDEN';

export interface RingmasterErrorOptions {
  /** The subsystem or adapter that raised it, e.g. `vcs-svn`, `ledger`. Prefixes the message. */
  scope?: string;
  cause?: unknown;
  /** Structured facts for tools (`--json`): the host, the path, the command… */
  details?: Record<string, unknown>;
}

/**
 * The brand every RingmasterError carries, registered globally (`Symbol.for`): the ESM and CJS
 * builds of core, or two copies of it in one process, each have their own class, so `instanceof`
 * cannot tell; the brand can.
 */
const BRAND = Symbol.for('ringmaster.error');

/**
 * The base error of Ringmaster. Its message reads `[ringmaster] [scope] what happened`.
 *
 * @example
 * ```ts
 * try { await engine.tick(); } catch (e) {
 *   if (isRingmasterError(e, 'LOCKED')) console.error(e.message);
 * }
 * ```
 */
export class RingmasterError extends Error {
  readonly code: ErrorCode;
  readonly scope: string | undefined;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: RingmasterErrorOptions = {}) {
    const prefix = options.scope ? `[ringmaster] [${options.scope}] ` : '[ringmaster] ';
    super(prefix + message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RingmasterError';
    this.code = code;
    this.scope = options.scope;
    this.details = options.details ?? {};
    Object.defineProperty(this, BRAND, { value: true });
  }

  /**
   * `instanceof` that holds across copies of core (ESM and CJS): any branded error is a
   * RingmasterError; it is a subclass's (ConfigError's) when it carries that class's name.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (!branded(value)) return false;
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class `instanceof` asks about (a subclass too)
    return this === RingmasterError || (value as Error).name === this.name;
  }
}

/**
 * A message without its `[ringmaster] [scope]` prefixes, for a sentence that already says where
 * it comes from.
 */
export function plainMessage(message: string): string {
  return message.replace(/^(\[[^\]]+\] )+/, '');
}

function branded(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}

/** A bad option. `path` is the option path, e.g. `rings[2].rollout.maxFailures`. */
export class ConfigError extends RingmasterError {
  readonly path: string;
  constructor(path: string, message: string, options: RingmasterErrorOptions = {}) {
    super('CONFIG', path ? `${path}: ${message}` : message, {
      ...options,
      details: { ...options.details, path },
    });
    this.name = 'ConfigError';
    this.path = path;
  }
}

/** True when `error` is a RingmasterError (of `code`, when given). */
export function isRingmasterError(error: unknown, code?: ErrorCode): error is RingmasterError {
  return branded(error) && (code === undefined || (error as RingmasterError).code === code);
}

/** Formats a zod issue path as users write it: `rings[2].rollout.maxFailures`. */
export function formatPath(path: readonly PropertyKey[], base = ''): string {
  let out = base;
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out;
}

/**
 * Validates `input` against a zod schema and returns the parsed value, or throws a
 * `ConfigError` naming the first bad option path and what was expected. Every factory calls
 * this once, so a bad option fails where it was written, not later in a rollout.
 */
export function parseOptions<S extends z.ZodType>(
  schema: S,
  input: unknown,
  scope: string,
  basePath = '',
): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues;
  const first = issues[0];
  const path = first ? formatPath(first.path, basePath) : basePath;
  const more =
    issues.length > 1
      ? ` (and ${issues.length - 1} more: ${issues
          .slice(1, 4)
          .map((i) => formatPath(i.path, basePath) || '(root)')
          .join(', ')})`
      : '';
  throw new ConfigError(path || '(options)', `${first?.message ?? 'invalid'}${more}`, {
    scope,
    details: { issues: issues.map((i) => ({ path: formatPath(i.path, basePath), message: i.message })) },
  });
}

/** Wraps an unknown thrown value into a RingmasterError of `code`, keeping RingmasterErrors as they are. */
export function toRingmasterError(
  error: unknown,
  code: ErrorCode,
  scope: string,
  what: string,
): RingmasterError {
  if (error instanceof RingmasterError) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new RingmasterError(code, `${what}: ${reason}`, { scope, cause: error });
}
