/**
 * The options of `svn()`: one zod schema, validated once at the factory, so a bad option is a
 * `ConfigError` naming its path before anything touches the repository.
 */
import { SAFE_NAME } from '@ringmaster/core/adapter';
import { z } from 'zod';

/**
 * A deploy request the adapter saw in the repository but refused to read as one, given to the
 * `onSkippedRequest` option.
 *
 * @example
 * ```ts
 * svn({ url, onSkippedRequest: (s) => console.warn(`r${s.revision} ${s.path}: ${s.reason}`) });
 * ```
 */
export interface SkippedDeployRequest {
  /** The revision of the commit that made it. */
  revision: string;
  /** The repository path of the copy, e.g. `/prod/bad name`. */
  path: string;
  /** Why it is not a request, e.g. `name "a;b" is not allowed (…)`. */
  reason: string;
}

// Control characters never belong in a repository path or a user name; `.`/`..` segments would
// let a path escape the folder it names.
function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

/** A path inside the repository such as `trunk` or `branches/eng`: no `..`, no empty segment. */
const repoPath = z
  .string()
  .min(1, 'must not be empty')
  .refine((p) => !hasControl(p), 'must not contain control characters or newlines')
  .transform((p) => p.replace(/^\/+|\/+$/g, ''))
  .refine(
    (p) => p.length > 0 && p.split('/').every((s) => s !== '' && s !== '.' && s !== '..'),
    'must be a path inside the repository such as "trunk" or "branches/eng" (no "..", "." or empty segments)',
  );

/**
 * The zod schema of {@link svn}'s options, exported so tools can validate a config before
 * building anything (`svn()` itself validates with it and throws a `ConfigError`).
 *
 * @example
 * ```ts
 * const checked = svnOptionsSchema.safeParse({ url: 'svn://svn.example.com/shop', line: 'branches/eng' });
 * if (!checked.success) console.error(checked.error.issues);
 * ```
 */
export const svnOptionsSchema = z
  .object({
    /** Repository root URL (`file://`, `svn://`, `svn+ssh://`, `http(s)://`), without credentials. */
    url: z
      .string()
      .regex(
        /^(?:file|svn|svn\+ssh|https?):\/\/[^\s]*$/,
        'must be a file://, svn://, svn+ssh:// or http(s):// URL',
      )
      .refine((u) => !/^[a-z+]+:\/\/[^/@]*:[^/@]*@/.test(u), {
        message: 'must not carry a password; pass username and password as options',
      })
      .transform((u) => u.replace(/\/+$/, '')),
    /** The watched line: any path, e.g. `trunk` or the environment branch `branches/eng`. */
    line: repoPath.default('trunk'),
    /** Deploy-request folder → ring: a copy of the line into `<folder>/<name>` asks `ring` to deploy it. */
    deployRequests: z
      .record(z.string(), z.string().regex(SAFE_NAME, 'must be a ring name (letters, digits, . _ -)'))
      .default({ prod: 'prod' })
      .superRefine((map, ctx) => {
        for (const folder of Object.keys(map)) {
          const parsed = repoPath.safeParse(folder);
          if (!parsed.success) {
            ctx.addIssue({
              code: 'custom',
              path: [folder],
              message: `folder ${JSON.stringify(folder)} ${parsed.error.issues[0]?.message ?? 'is not a path'}`,
            });
          }
        }
      })
      .transform((map) =>
        Object.entries(map).map(([folder, ring]) => ({ folder: repoPath.parse(folder), ring })),
      ),
    /** User name for the server; also the author of the commits the adapter makes. */
    username: z
      .string()
      .min(1)
      .refine((u) => !hasControl(u), 'must not contain control characters or newlines')
      .optional(),
    /** Password, sent on stdin (`--password-from-stdin`): never in argv, a message or a log. */
    password: z
      .string()
      .refine(
        (p) => !p.includes('\n') && !p.includes('\r') && !p.includes('\0'),
        'must not contain newlines or NUL bytes',
      )
      .optional(),
    /**
     * A directory for a cached working copy. When set, `checkout()` updates that working copy to
     * the revision (`svn switch`) and copies it out instead of exporting from the server.
     */
    cacheDir: z.string().min(1).optional(),
    /** Time limit of every svn call, in ms. */
    timeoutMs: z.number().int().positive().default(120_000),
    /** The svn client binary. `svnmucc` is looked up beside it. */
    svnPath: z.string().min(1).default('svn'),
    /**
     * Called once for each copy in a deploy-request folder that is not a valid request: later
     * polls by the same source do not call it again (a new source, as after a restart or in each
     * `watch --once`, does). Default: a process warning.
     */
    onSkippedRequest: z
      .custom<(skipped: SkippedDeployRequest) => void>((v) => typeof v === 'function', 'must be a function')
      .optional(),
  })
  .strict();

/**
 * What a user passes to {@link svn}.
 *
 * @example
 * ```ts
 * const options: SvnOptions = { url: 'svn://svn.example.com/shop', deployRequests: { prod: 'prod', sb: 'sandbox' } };
 * ```
 */
export type SvnOptions = z.input<typeof svnOptionsSchema>;
/**
 * Options after validation and defaults (`line: 'trunk'`, request folders as a list).
 *
 * @example
 * ```ts
 * const resolved: ResolvedSvnOptions = svnOptionsSchema.parse({ url: 'file:///srv/svn/shop' });
 * resolved.deployRequests; // [{ folder: 'prod', ring: 'prod' }]
 * ```
 */
export type ResolvedSvnOptions = z.output<typeof svnOptionsSchema>;
