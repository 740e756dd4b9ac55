/**
 * Per-ring values and secrets: plain `vars` and `secrets` read from a file, an environment
 * variable or a command (a vault CLI), handed to the ring's gates, hooks and health checks as
 * environment variables. A secret is read only when a rollout or a gate of that ring runs —
 * never when the config loads, never for a ring the release has not reached — and every value
 * read is added to the engine's mask, which the ledger applies to everything it writes.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { RingmasterError } from '../errors.js';
import { runCommand, tail } from '../exec/run.js';
import { type DurationInput, durationSchema } from './duration.js';

/** A variable name a shell can export: upper-case letters, digits and `_`, not starting with a digit. */
export const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;

/** Shortest secret value accepted: anything shorter could not be masked without masking everything. */
export const MIN_SECRET_LENGTH = 4;

/**
 * Where a secret's value comes from: a file (its content), an environment variable of the
 * runner, or an argv command run on the runner (its stdout). A trailing newline is trimmed.
 *
 * @example
 * ```ts
 * const fromVault: SecretSource = { command: ['vault', 'kv', 'get', '-field=password', 'secret/db'], timeout: '10s' };
 * ```
 */
export type SecretSource =
  | { file: string }
  | { env: string }
  | {
      command: string[];
      /** How long the command may take. @default '30s' */
      timeout?: DurationInput;
    };

/** Each kind of source, by the key that names it. */
const sourceSchemas = {
  file: z.object({ file: z.string().min(1) }).strict(),
  env: z.object({ env: z.string().regex(ENV_NAME, 'expected an environment variable name') }).strict(),
  command: z
    .object({
      command: z
        .array(z.string().refine((s) => !s.includes('\0'), 'must not contain NUL bytes'))
        .min(1, 'expected a non-empty argv array'),
      timeout: durationSchema.default(30_000),
    })
    .strict(),
} as const;

/** A secret source after validation (the command's timeout in ms). */
export type ResolvedSecretSource =
  | { file: string }
  | { env: string }
  | { command: string[]; timeout: number };

/** One secret source; a bad one names what was expected rather than zod's "Invalid input". */
export const secretSourceSchema = z
  .custom<SecretSource>(() => true)
  .transform((value, ctx): ResolvedSecretSource => {
    const keys = typeof value === 'object' && value !== null ? Object.keys(value) : [];
    const kind = keys.find((k): k is keyof typeof sourceSchemas => Object.hasOwn(sourceSchemas, k));
    const schema = kind ? sourceSchemas[kind] : undefined;
    if (!schema) {
      ctx.addIssue({
        code: 'custom',
        message: 'expected a secret source: { file: path }, { env: NAME } or { command: [argv…] }',
      });
      return z.NEVER;
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      for (const issue of parsed.error.issues)
        ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
      return z.NEVER;
    }
    return parsed.data;
  });

/**
 * Checks the names of a ring's `vars` and `secrets` (called from the ring schema's refinement):
 * shell-exportable, not one of Ringmaster's own `RINGMASTER_*`, and not both a var and a secret.
 */
export function checkEnvNames(
  vars: Readonly<Record<string, unknown>>,
  secrets: Readonly<Record<string, unknown>>,
  ctx: z.RefinementCtx,
): void {
  for (const [option, names] of [
    ['vars', Object.keys(vars)],
    ['secrets', Object.keys(secrets)],
  ] as const) {
    for (const name of names) {
      const message = !ENV_NAME.test(name)
        ? `"${name}" is not an environment variable name: expected upper-case letters, digits and "_", not starting with a digit`
        : name.startsWith('RINGMASTER_')
          ? `"${name}": names starting with RINGMASTER_ are Ringmaster's own`
          : option === 'secrets' && Object.hasOwn(vars, name)
            ? `"${name}" is both a var and a secret`
            : undefined;
      if (message) ctx.addIssue({ code: 'custom', path: [option, name], message });
    }
  }
}

/** What a ring carries to its commands (the parts of a Ring that secrets.ts reads). */
export interface RingEnvSpec {
  readonly name: string;
  readonly vars: Readonly<Record<string, string>>;
  readonly secrets: Readonly<Record<string, ResolvedSecretSource>>;
}

const failed = (ring: string, name: string, why: string, details: Record<string, unknown> = {}) =>
  new RingmasterError('SECRET', `ring ${ring}: secret ${name} could not be read: ${why}`, {
    scope: 'secrets',
    details: { ring, secret: name, ...details },
  });

/** Drops one trailing newline (`echo secret > file`, a CLI's line of output). */
const trimNewline = (text: string) => text.replace(/\r?\n$/, '');

/**
 * Reads one secret's value. Errors (`SECRET`) name the ring, the secret and its source — the
 * file, the variable, the command and its stderr tail — never the value.
 */
export async function readSecret(ring: string, name: string, source: ResolvedSecretSource): Promise<string> {
  let value: string;
  if ('file' in source) {
    try {
      value = trimNewline(await readFile(source.file, 'utf8'));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? String(error);
      throw failed(ring, name, `cannot read the file ${source.file} (${code})`, { file: source.file });
    }
  } else if ('env' in source) {
    const found = process.env[source.env];
    if (found === undefined)
      throw failed(ring, name, `the environment variable ${source.env} is not set`, { env: source.env });
    value = trimNewline(found);
  } else {
    const shown = source.command.join(' ');
    const r = await runCommand(source.command, { timeoutMs: source.timeout }).catch((error: unknown) => {
      throw failed(ring, name, `${shown}: ${error instanceof Error ? error.message : String(error)}`, {
        command: shown,
      });
    });
    if (r.timedOut)
      throw failed(ring, name, `${shown} timed out after ${source.timeout} ms`, { command: shown });
    if (r.exitCode !== 0) {
      const said = tail(r.stderr, 5);
      throw failed(ring, name, `${shown} exited ${r.exitCode}${said ? `: ${said}` : ''}`, {
        command: shown,
        exitCode: r.exitCode,
      });
    }
    value = trimNewline(r.stdout);
  }
  if (value.includes('\0')) throw failed(ring, name, 'the value contains a NUL byte');
  if (value.length < MIN_SECRET_LENGTH)
    throw failed(
      ring,
      name,
      value.length === 0
        ? 'the value is empty'
        : `the value is shorter than ${MIN_SECRET_LENGTH} characters, too short to be masked in logs`,
    );
  return value;
}

/**
 * Every secret value this engine has read, and the masking of them: each occurrence is replaced
 * by `***` in what the ledger writes (gate logs, host errors, reasons, notifications) and in the
 * errors the engine emits. Values are kept in memory only, for as long as the engine lives.
 */
export class SecretMask {
  private values: string[] = [];

  /** Masks `value` from now on. */
  add(value: string): void {
    // A multi-line secret (a PEM key, JSON credentials) may reach a log cut to some of its lines.
    const lines = value.includes('\n')
      ? value.split(/\r?\n/).filter((l) => l.trim().length >= MIN_SECRET_LENGTH)
      : [];
    for (const line of lines) this.add(line);
    if (value.length < MIN_SECRET_LENGTH || this.values.includes(value)) return;
    // Longest first: a secret containing another is masked whole.
    this.values = [...this.values, value].sort((a, b) => b.length - a.length);
  }

  get size(): number {
    return this.values.length;
  }

  /** `text` with every known secret replaced by `***`. */
  mask(text: string): string {
    let out = text;
    for (const value of this.values) if (out.includes(value)) out = out.split(value).join('***');
    return out;
  }

  /**
   * A copy of record data with every string masked, except identifiers (see {@link IDENTITY_KEYS}),
   * which the ledger's state is folded on: masking a ring's name would corrupt the state, and
   * an identifier that equals a secret was never secret. Unchanged data is returned as it is.
   */
  maskData<T>(data: T): T {
    if (this.values.length === 0) return data;
    const walk = (value: unknown, key?: string): unknown => {
      if (typeof value === 'string')
        return key !== undefined && IDENTITY_KEYS.has(key) ? value : this.mask(value);
      // An array's items are what its key names: `batches` and `limit` hold host names.
      if (Array.isArray(value)) return value.map((v) => walk(v, key));
      if (typeof value === 'object' && value !== null) {
        const out: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(value)) out[k] = walk(v, k);
        return out;
      }
      return value;
    };
    return walk(data) as T;
  }

  /** Masks an error's message and stack in place (it may be held elsewhere too) and returns it. */
  maskError<E>(error: E): E {
    if (this.values.length === 0 || !(error instanceof Error)) return error;
    error.message = this.mask(error.message);
    if (error.stack) error.stack = this.mask(error.stack);
    return error;
  }
}

/** Keys of record data holding identifiers the ledger's state is built on: never masked. */
export const IDENTITY_KEYS: ReadonlySet<string> = new Set([
  'batches',
  'limit',
  'hosts',
  'step',
  'pipeline',
  'ring',
  'release',
  'rollout',
  'host',
  'gate',
  'id',
  'kind',
  'version',
  'revision',
  'notifier',
  'owner',
  'lease',
  'status',
  'phase',
  'line',
]);

/** A ring's environment, read when first asked and kept only by whoever asked. */
export type RingEnv = () => Promise<Readonly<Record<string, string>>>;

/**
 * The environment of `ring`'s commands: its vars, then its secrets, read on the first call and
 * kept for the caller's unit of work (a ring session: one rollout and its gates) — a failed read
 * is not kept, so the next call tries again. Each value read is added to `mask` before it is
 * returned, so nothing the ring's commands print can reach the ledger unmasked.
 */
export function ringEnv(ring: RingEnvSpec, mask: SecretMask): RingEnv {
  let reading: Promise<Readonly<Record<string, string>>> | undefined;
  const read = async () => {
    const env: Record<string, string> = { ...ring.vars };
    for (const [name, source] of Object.entries(ring.secrets)) {
      const value = await readSecret(ring.name, name, source);
      mask.add(value);
      env[name] = value;
    }
    return env;
  };
  return () => {
    if (!reading) {
      reading = read();
      reading.catch(() => {
        reading = undefined;
      });
    }
    return reading;
  };
}
