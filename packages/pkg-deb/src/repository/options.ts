/**
 * The options of `aptRepository()`, as a zod schema validated once at the factory.
 */
import { z } from 'zod';
import { DEBIAN_ARCHITECTURE } from '../control.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Versions that retention must never remove: `name=version` strings or a callback. */
export type ProtectOption = string[] | ((name: string) => string[] | Promise<string[]>);

/**
 * Options of {@link aptRepository}.
 *
 * @example
 * ```ts
 * aptRepositoryOptionsSchema.parse({ dir: '/srv/apt', signingKey: { homedir: '/root/.gnupg' } });
 * ```
 */
export const aptRepositoryOptionsSchema = z.strictObject({
  /** Repository root on disk (created on first publish). */
  dir: z.string().min(1, 'must be a directory path'),
  /** @default 'stable' */
  suite: z.string().regex(NAME, 'must be a plain name such as stable').default('stable'),
  /** @default the suite */
  codename: z.string().regex(NAME, 'must be a plain name such as bookworm').optional(),
  /** @default 'main' */
  component: z.string().regex(NAME, 'must be a plain name such as main').default('main'),
  /** Architectures indexed; `all` packages appear in each. @default ['amd64'] */
  architectures: z
    .array(
      z
        .string()
        .regex(DEBIAN_ARCHITECTURE, 'must be a Debian architecture such as amd64')
        .refine((a) => a !== 'all' && a !== 'any', 'list real architectures; "all" packages go into each'),
    )
    .min(1, 'needs at least one architecture')
    .default(['amd64']),
  origin: z
    .string()
    .regex(/^[^\n\r]+$/, 'must be one line')
    .default('Ringmaster'),
  label: z
    .string()
    .regex(/^[^\n\r]+$/, 'must be one line')
    .default('Ringmaster'),
  /** Signs InRelease and Release.gpg; without it the repository is unsigned. */
  signingKey: z
    .strictObject({
      homedir: z.string().min(1).optional(),
      keyId: z
        .string()
        .regex(/^[A-Za-z0-9@._<> +-]+$/, 'must be a key id, fingerprint or e-mail')
        .optional(),
      keyFile: z.string().min(1).optional(),
      passphrase: z.string().optional(),
    })
    .refine((k) => !(k.homedir && k.keyFile), 'give either homedir or keyFile, not both')
    .optional(),
  /** Keep the newest K versions of each package (after each publish). */
  keep: z.number().int().min(1).optional(),
  /** Versions retention never removes (the ones rings run). */
  protect: z
    .union([
      z.array(z.string().regex(/^[a-z0-9][a-z0-9+.-]+=[^\s=]+$/, 'must be "name=version"')),
      z.custom<(name: string) => string[] | Promise<string[]>>((v) => typeof v === 'function'),
    ])
    .optional(),
  /** How long a publisher waits for another one. @default 30000 */
  lockTimeoutMs: z.number().int().nonnegative().default(30_000),
});

/** What a user passes to {@link aptRepository}. */
export type AptRepositoryOptions = z.input<typeof aptRepositoryOptionsSchema>;
