/**
 * The options of `git()`: one zod schema, validated once at the factory, and the resolved form
 * the rest of the package reads (defaults applied, relative paths made absolute, cache keyed).
 */
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { onceEach } from '@ringmaster/core/adapter';
import { z } from 'zod';

/** A pattern placeholder for the ring (`deploy/{ring}/*`). */
const RING = '{ring}';

// What git accepts in a ref name, narrowed to what is safe to hand to argv and paths.
const REF_CHARS = /^[A-Za-z0-9._/+@-]+$/;

/** True for a branch or tag name git accepts that cannot be read as an option or a range. */
export function isSafeRefName(name: string): boolean {
  return (
    REF_CHARS.test(name) &&
    !name.startsWith('-') &&
    !name.startsWith('/') &&
    !name.endsWith('/') &&
    !name.endsWith('.') &&
    !name.endsWith('.lock') &&
    !name.includes('..') &&
    !name.includes('//') &&
    !name.includes('@{') &&
    !name.split('/').some((part) => part.startsWith('.'))
  );
}

function isValidPattern(pattern: string): boolean {
  const parts = pattern.split(RING);
  if (parts.length !== 2) return false;
  const stars = pattern.split('*').length - 1;
  if (stars !== 1) return false;
  const literal = pattern.replace(RING, 'ring').replace('*', 'name');
  return isSafeRefName(literal);
}

/**
 * Options of {@link git}. Validated once when the adapter is built; a bad value is a
 * `ConfigError` naming the option.
 *
 * @example
 * ```ts
 * const options = gitOptionsSchema.parse({ url: '/srv/git/shop.git' });
 * options.branch; // 'main'
 * ```
 */
export const gitOptionsSchema = z
  .object({
    /** Remote URL (`https://…`, `ssh://…`, `git@host:repo.git`) or a local path to a repository. */
    url: z
      .string()
      .min(1, 'give the repository URL or path')
      .refine((v) => !/[\0\r\n]/.test(v), 'must not contain NUL or newline characters')
      .refine((v) => !v.startsWith('-'), 'must not start with "-"'),
    /** The watched branch. @default 'main' */
    branch: z
      .string()
      .default('main')
      .refine(isSafeRefName, 'must be a plain branch name such as "main" or "release/1.x"'),
    /**
     * Tags read as deploy requests: `{ring}` is the ring, `*` the request's name.
     * @default 'deploy/{ring}/*'
     */
    deployTags: z
      .string()
      .default('deploy/{ring}/*')
      .refine(isValidPattern, 'must contain "{ring}" once and "*" once, e.g. "deploy/{ring}/*"'),
    /** Where the bare mirror lives. @default `<os.tmpdir()>/ringmaster-git/<hash of url>` */
    cacheDir: z.string().min(1).optional(),
    /** Limit for each git command; network operations included. @default 120000 */
    timeoutMs: z.number().int().positive().default(120_000),
    /** Identity of the tagger when `requestDeploy()` makes a tag. @default Ringmaster <ringmaster@localhost> */
    author: z
      .object({
        name: z
          .string()
          .min(1)
          .refine((v) => !/[<>\0\n]/.test(v), 'must not contain <, > or newlines'),
        email: z
          .string()
          .min(1)
          .refine((v) => !/[<>\0\n\s]/.test(v), 'must be a plain address without <, > or spaces'),
      })
      .strict()
      .default({ name: 'Ringmaster', email: 'ringmaster@localhost' }),
    /**
     * Called once for each tag under the deploy prefix that is not a valid request, with the
     * reason: later polls by the same source do not call it again for that tag.
     */
    onSkip: z
      .custom<(skipped: SkippedTag) => void>((v) => typeof v === 'function', 'must be a function')
      .optional(),
  })
  .strict();

/**
 * Options accepted by {@link git}.
 *
 * @example
 * ```ts
 * const options: GitOptions = { url: 'git@git.example.com:shop.git', branch: 'release' };
 * ```
 */
export type GitOptions = z.input<typeof gitOptionsSchema>;

/**
 * A tag that looks like a deploy request but is not one, and why; given to `onSkip`.
 *
 * @example
 * ```ts
 * git({ url, onSkip: (s: SkippedTag) => log.warn(`${s.tag}: ${s.reason}`) });
 * ```
 */
export interface SkippedTag {
  /** The tag name, e.g. `deploy/prod/x;rm -rf`. */
  tag: string;
  reason: string;
}

/** Options after defaults, as the adapter's parts read them. */
export interface ResolvedOptions {
  /** The URL as given (for redaction). */
  url: string;
  /** The URL git is given: without a `user:password@` part. */
  remoteUrl: string;
  /** Credentials taken out of the URL, handed to git through a credential helper. */
  credentials: { username: string; password: string } | undefined;
  branch: string;
  deployTags: string;
  cacheDir: string;
  timeoutMs: number;
  author: { name: string; email: string };
  onSkip: ((skipped: SkippedTag) => void) | undefined;
}

/** True when git would read `url` as a path on this machine rather than a remote. */
export function isLocalPath(url: string): boolean {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return false;
  // scp-like syntax: a colon before the first slash (`git@host:repo.git`).
  const colon = url.indexOf(':');
  const slash = url.indexOf('/');
  return !(colon > 0 && (slash === -1 || colon < slash));
}

/** Applies defaults that depend on other options. Pure: touches no file. */
export function resolveOptions(parsed: z.output<typeof gitOptionsSchema>): ResolvedOptions {
  const url = isLocalPath(parsed.url) ? resolve(parsed.url) : parsed.url;
  const { remoteUrl, credentials } = splitCredentials(url);
  // Keyed without the credentials: a rotated token keeps its mirror.
  const key = createHash('sha256').update(remoteUrl).digest('hex').slice(0, 16);
  return {
    url,
    remoteUrl,
    credentials,
    branch: parsed.branch,
    deployTags: parsed.deployTags,
    cacheDir: resolve(parsed.cacheDir ?? join(tmpdir(), 'ringmaster-git', `${key}.git`)),
    timeoutMs: parsed.timeoutMs,
    author: parsed.author,
    // Once for each skipped tag (and reason), for the life of the source: a poll reads every tag
    // after the cursor again until a valid request moves it.
    onSkip: parsed.onSkip && onceEach((s) => `${s.tag}\0${s.reason}`, parsed.onSkip),
  };
}

/**
 * Takes `user:password@` out of a URL. Only a user *and* a password are taken out: a lone user
 * (`ssh://git@host/…`) is a login name, not a secret.
 */
export function splitCredentials(url: string): Pick<ResolvedOptions, 'remoteUrl' | 'credentials'> {
  const match = /^([a-z][a-z0-9+.-]*:\/\/)([^/@\s:]*):([^/@\s]*)@(.*)$/is.exec(url);
  if (!match) return { remoteUrl: url, credentials: undefined };
  const [, scheme = '', user = '', password = '', rest = ''] = match;
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  };
  return {
    remoteUrl: `${scheme}${user ? `${user}@` : ''}${rest}`,
    credentials: { username: decode(user), password: decode(password) },
  };
}
