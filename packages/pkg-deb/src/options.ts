/**
 * The options of `deb()`, as a zod schema validated once at the factory: every rule a bad value
 * breaks is named in the ConfigError's message, with the option path.
 */
import type { Revision } from '@ringmaster/core/adapter';
import { z } from 'zod';
import { COMPRESSION_LEVELS } from './archive/compress.js';
import {
  DEBIAN_ARCHITECTURE,
  MAINTAINER,
  packageNameProblem,
  type RelationKind,
  relationProblem,
} from './control.js';
import { type RelationsField, relationEntryProblem } from './relations.js';
import { hasControlCharacter } from './text.js';
import { versionProblem } from './version.js';

/** The field whose binary-package rules an option's entries follow (Recommends as Depends, …). */
const FIELD: Record<RelationKind, RelationsField> = {
  depends: 'Depends',
  conflicts: 'Conflicts',
  provides: 'Provides',
};

const relations = (kind: RelationKind) =>
  z
    .array(
      z.string().superRefine((value, ctx) => {
        // The strict rules too: what dpkg refuses in a binary package (`[amd64]`) is refused here.
        const problem = relationProblem(value, kind) ?? relationEntryProblem(value, FIELD[kind]);
        if (problem) ctx.addIssue({ code: 'custom', message: `malformed relationship: ${problem}` });
      }),
    )
    .default([]);

const installPath = z
  .string()
  .refine((p) => p.startsWith('/'), 'must be an absolute install path such as /etc/app/app.conf')
  .refine((p) => !p.split('/').includes('..'), 'must not contain ".." segments')
  .refine((p) => !hasControlCharacter(p), 'must not contain newlines or control characters');

const script = z
  .string()
  .refine(
    (s) => s.startsWith('#!'),
    'a maintainer script must start with an interpreter line such as #!/bin/sh',
  )
  .optional();

/** The fields of {@link debOptionsSchema}; the rules between fields (a level per compressor) follow it. */
const debOptionsObject = z.strictObject({
  /** Package name (Debian rules: lowercase, digits, `+ - .`). */
  name: z.string().superRefine((value, ctx) => {
    const problem = packageNameProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }),
  /** `Name <email>`. */
  maintainer: z
    .string({ error: 'maintainer is required: "Name <email>"' })
    .regex(MAINTAINER, 'must be "Name <email>" on one line'),
  /** First line: synopsis; further lines: extended description. */
  description: z
    .string({ error: 'description is required: a one-line synopsis, then optional further lines' })
    .refine((d) => d.split('\n')[0]!.trim().length > 0, 'the first line (synopsis) must not be empty')
    .refine((d) => d.split('\n')[0]!.length <= 80, 'the synopsis (first line) must be at most 80 characters'),
  architecture: z
    .string()
    .regex(DEBIAN_ARCHITECTURE, 'must be a Debian architecture such as all, amd64 or arm64')
    .refine(
      (a) => a !== 'any',
      '"any" is for source packages; a binary package needs all or one architecture',
    )
    .default('all'),
  /** A template (`{number}`, `{timestamp}`, `{shortid}`, `{id}`) or a function of the revision. */
  version: z
    .union([
      z
        .string()
        .min(1, 'a version template must not be empty')
        .superRefine((template, ctx) => {
          const problem = versionProblem(template.replace(/\{(number|timestamp|shortid|id)\}/g, '1'));
          if (problem)
            ctx.addIssue({ code: 'custom', message: `version template gives invalid versions: ${problem}` });
        }),
      z.custom<(revision: Revision) => string>(
        (v) => typeof v === 'function',
        'must be a template string or a function (revision) => string',
      ),
    ])
    .optional(),
  section: z
    .string()
    .regex(/^[a-z0-9][a-z0-9+./-]*$/, 'must be a Debian section such as misc, net or contrib/web')
    .default('misc'),
  priority: z.enum(['required', 'important', 'standard', 'optional', 'extra']).default('optional'),
  homepage: z
    .string()
    .regex(/^https?:\/\/[^\s]+$/, 'must be an http(s) URL without spaces')
    .optional(),
  depends: relations('depends'),
  preDepends: relations('depends'),
  recommends: relations('depends'),
  suggests: relations('depends'),
  breaks: relations('conflicts'),
  conflicts: relations('conflicts'),
  replaces: relations('conflicts'),
  provides: relations('provides'),
  /**
   * Where the build tree's root is installed, e.g. `/opt/app`.
   * @default '/'
   */
  prefix: installPath.default('/'),
  /** Extra conffiles (install paths); regular files under /etc are conffiles already. */
  conffiles: z.array(installPath).default([]),
  preinst: script,
  postinst: script,
  prerm: script,
  postrm: script,
  /**
   * The compressor of control.tar and data.tar, as dpkg-deb's `-Z`: `gzip` (default), `xz`,
   * `zstd` (the system `xz` / `zstd`, Debian packages xz-utils / zstd) or `none`.
   */
  compression: z.enum(['gzip', 'xz', 'zstd', 'none']).default('gzip'),
  /**
   * As dpkg-deb's `-z`: gzip 1–9 (default 9), xz 0–9 (default 6), zstd 1–22 (default 3);
   * none takes no level.
   */
  compressionLevel: z.number().int().optional(),
  /** Seconds since the epoch for every timestamp in the package; default `SOURCE_DATE_EPOCH`, else the revision time. */
  sourceDateEpoch: z.number().int().nonnegative().optional(),
  /** Keep the builder's permission bits instead of 0755 (dirs, executables) / 0644. */
  keepModes: z.boolean().default(false),
});

/**
 * Options of {@link deb}.
 *
 * @example
 * ```ts
 * debOptionsSchema.parse({ name: 'app', maintainer: 'Ops <ops@example.com>', description: 'The app' });
 * ```
 */
export const debOptionsSchema = debOptionsObject.superRefine((options, ctx) => {
  const level = options.compressionLevel;
  if (level === undefined) return;
  if (options.compression === 'none') {
    ctx.addIssue({
      code: 'custom',
      path: ['compressionLevel'],
      message: "compression 'none' takes no level: leave compressionLevel out",
    });
    return;
  }
  const { min, max } = COMPRESSION_LEVELS[options.compression];
  if (level < min || level > max) {
    const zero =
      options.compression === 'gzip' && level === 0 ? " (for no compression use compression: 'none')" : '';
    ctx.addIssue({
      code: 'custom',
      path: ['compressionLevel'],
      message: `a ${options.compression} level is ${min}–${max}, not ${level}${zero}`,
    });
  }
});

/** What a user passes to {@link deb}. */
export type DebOptions = z.input<typeof debOptionsSchema>;
/** Options after validation and defaults: `compressionLevel` is the compressor's default when left out (none: 0). */
export type ResolvedDebOptions = Omit<z.output<typeof debOptionsSchema>, 'compressionLevel'> & {
  compressionLevel: number;
};

/** The level a build uses: the one given, else dpkg-deb's default for the compressor (none: 0). */
export function resolvedLevel(options: z.output<typeof debOptionsSchema>): number {
  if (options.compression === 'none') return 0;
  return options.compressionLevel ?? COMPRESSION_LEVELS[options.compression].default;
}

/** A version as an option value (for schemas elsewhere in the package). */
export const debianVersion = z.string().superRefine((value, ctx) => {
  const problem = versionProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: `invalid Debian version: ${problem}` });
});
