/**
 * Deploy requests as annotated tags: `deploy/prod/2026-11-28-10-00` asks to deploy the tagged
 * commit to ring `prod`, and the tag carries who asked, when and why. Tags under the prefix that
 * are not valid requests are skipped with a reason; they never stop a poll.
 */
import { randomBytes } from 'node:crypto';
import { type DeployRequest, RingmasterError, SAFE_NAME } from '@ringmaster/core/adapter';
import type { Mirror } from './mirror.js';
import type { ResolvedOptions } from './options.js';
import { type GitRunner, SCOPE } from './runner.js';

/** A request's name (the `*` of the pattern): a timestamp or a label, nothing a shell reads. */
export const REQUEST_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;

const FIELDS = [
  '%(refname)',
  '%(objecttype)',
  '%(*objecttype)',
  '%(*objectname)',
  '%(taggername)',
  '%(creatordate:unix)',
  '%(contents)',
];

/** The pattern compiled: where to list, how to read a tag name, how to make one. */
export interface TagPattern {
  /** The `for-each-ref` prefix to list (`refs/tags/deploy`). */
  listPrefix: string;
  /** Ring and name of a tag name, or undefined when it does not fit the pattern. */
  parse(tag: string): { ring: string; name: string } | undefined;
  /** The tag name for a ring and a name. */
  format(ring: string, name: string): string;
}

/** Compiles `deploy/{ring}/*` (validated by the options schema). */
export function compilePattern(pattern: string): TagPattern {
  const quote = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const ringAt = pattern.indexOf('{ring}');
  const starAt = pattern.indexOf('*');
  const literal = pattern.slice(0, Math.min(ringAt, starAt));
  const source = pattern
    .split('{ring}')
    .map((part) => part.split('*').map(quote).join('(?<name>.+)'))
    .join('(?<ring>.+?)');
  const regex = new RegExp(`^${source}$`, 's');
  const dir = literal.includes('/') ? literal.slice(0, literal.lastIndexOf('/')) : '';
  return {
    listPrefix: dir ? `refs/tags/${dir}` : 'refs/tags',
    parse(tag) {
      const groups = regex.exec(tag)?.groups;
      return groups?.ring !== undefined && groups.name !== undefined
        ? { ring: groups.ring, name: groups.name }
        : undefined;
    },
    format: (ring, name) => pattern.replace('{ring}', ring).replace('*', name),
  };
}

/** A tag under the prefix, read from the mirror, valid or not. */
interface TagRecord {
  tag: string;
  /** Seconds since the epoch: the tagger date (the commit date for a lightweight tag). */
  seconds: number;
  request?: DeployRequest;
  reason?: string;
}

/** Reads every tag under the pattern's prefix, sorted by tagger date then name. */
export async function readTags(
  git: GitRunner,
  mirror: Mirror,
  options: ResolvedOptions,
): Promise<TagRecord[]> {
  const pattern = compilePattern(options.deployTags);
  // A per-call marker opens each record, so even a crafted tag message cannot shift the fields.
  const marker = `rm-${randomBytes(12).toString('hex')}`;
  const result = await git.run(
    ['for-each-ref', `--format=${marker}%00${FIELDS.join('%00')}%00`, '--end-of-options', pattern.listPrefix],
    {
      operation: 'listing deploy-request tags',
      gitDir: mirror.dir,
      maxOutputBytes: 256 * 1024 * 1024,
    },
  );
  const tokens = result.stdout.split('\0');
  const records: TagRecord[] = [];
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i] !== marker && tokens[i] !== `\n${marker}`) continue;
    const [ref = '', type, peeledType, peeled = '', tagger = '', seconds = '', contents = ''] = tokens.slice(
      i + 1,
      i + 1 + FIELDS.length,
    );
    if (!ref.startsWith('refs/tags/')) continue;
    records.push(
      toRecord(pattern, ref.slice('refs/tags/'.length), {
        type,
        peeledType,
        peeled,
        tagger,
        seconds: Number(seconds) || 0,
        contents,
      }),
    );
  }
  return records.sort((a, b) => a.seconds - b.seconds || (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0));
}

function toRecord(
  pattern: TagPattern,
  tag: string,
  raw: {
    type?: string;
    peeledType?: string;
    peeled: string;
    tagger: string;
    seconds: number;
    contents: string;
  },
): TagRecord {
  const skip = (reason: string): TagRecord => ({ tag, seconds: raw.seconds, reason });
  const parts = pattern.parse(tag);
  if (!parts) return skip('its name does not fit the deployTags pattern');
  if (!SAFE_NAME.test(parts.ring)) return skip(`ring ${JSON.stringify(parts.ring)} is not a valid ring name`);
  if (!REQUEST_NAME.test(parts.name)) {
    return skip(`request name ${JSON.stringify(parts.name)} may only use letters, digits and . _ + -`);
  }
  if (raw.type !== 'tag')
    return skip('it is a lightweight tag; deploy requests are annotated tags (git tag -a)');
  if (raw.peeledType !== 'commit')
    return skip(`it points at a ${raw.peeledType || 'non-commit'}, not a commit`);
  return {
    tag,
    seconds: raw.seconds,
    request: {
      id: tag,
      ring: parts.ring,
      revision: raw.peeled,
      author: raw.tagger,
      time: new Date(raw.seconds * 1000).toISOString(),
      message: raw.contents,
      name: parts.name,
    },
  };
}

/**
 * Deploy requests after the one with id `since` (exclusive), oldest first. Skipped tags after
 * the cursor are reported to `onSkip`.
 */
export async function deployRequests(
  git: GitRunner,
  mirror: Mirror,
  options: ResolvedOptions,
  since?: string,
): Promise<DeployRequest[]> {
  await mirror.sync();
  const records = await readTags(git, mirror, options);
  let start = 0;
  if (since !== undefined) {
    const at = records.findIndex((r) => r.request && r.tag === since);
    if (at === -1) {
      const latest = records.filter((r) => r.request).at(-1)?.tag ?? '(none)';
      throw new RingmasterError(
        'CURSOR_LOST',
        `deploy request ${JSON.stringify(since)} no longer exists (tag deleted?); the newest request is ${latest}. The engine reads the requests again from the start, leaving out those it has taken.`,
        { scope: SCOPE, details: { since, latest } },
      );
    }
    start = at + 1;
  }
  const out: DeployRequest[] = [];
  for (const record of records.slice(start)) {
    if (record.request) out.push(record.request);
    else options.onSkip?.({ tag: record.tag, reason: record.reason ?? 'not a deploy request' });
  }
  return out;
}
