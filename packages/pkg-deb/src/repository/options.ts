/**
 * The options of `aptRepository()`, as a zod schema validated once at the factory.
 */
import { z } from 'zod';
import { DEBIAN_ARCHITECTURE } from '../control.js';

/** A suite, codename or component name: one safe path component (`dists/<name>`). */
export const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

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
export const aptRepositoryOptionsSchema = z
  .strictObject({
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
    /**
     * The suite of each ring, by ring name (`{ prod: 'production' }`); a ring not listed gets a
     * suite of its own name. @default {}
     */
    suites: z.record(z.string(), z.string().regex(NAME, 'must be a plain name such as prod')).default({}),
    /** How many versions of a package a ring's suite keeps at or below the admitted one. @default 3 */
    suiteKeep: z.number().int().min(1).default(3),
  })
  .superRefine((o, ctx) => {
    // A ring's suite is a directory of its own: never the main suite's, never another ring's.
    const seen = new Map<string, string>();
    for (const [ring, suite] of Object.entries(o.suites)) {
      const path = ['suites', ring];
      if (suite === o.suite || suite === o.codename) {
        ctx.addIssue({
          code: 'custom',
          path,
          message: `must differ from the main suite "${suite}" (which lists every published version)`,
        });
      } else if (seen.has(suite)) {
        ctx.addIssue({
          code: 'custom',
          path,
          message: `suite "${suite}" is already the suite of ring "${seen.get(suite)}"; give each ring its own`,
        });
      }
      seen.set(suite, ring);
    }
  });

/** What a user passes to {@link aptRepository}. */
export type AptRepositoryOptions = z.input<typeof aptRepositoryOptionsSchema>;
