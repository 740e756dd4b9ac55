/**
 * Deploy requests kept in the repository, as the seed made them: a copy of the watched line
 * into `prod/<name>` asks ring `prod` to deploy the copied revision. Reading them is one
 * `svn log` of each request folder plus one `svn info` that maps copied revisions to the line's
 * own revisions; making one is a single server-side `svnmucc cp`, which (unlike `svn copy`)
 * fails rather than copying *into* an existing `prod/<name>`.
 */
import type { DeployRequest, RequestDeployInput } from '@ringmaster/core/adapter';
import { assertMatches, RingmasterError } from '@ringmaster/core/adapter';
import { isPathNotFound, SCOPE, type SvnClient } from './client.js';
import { parseLogOutput } from './log.js';
import type { SkippedDeployRequest } from './options.js';
import { isoTime, revisionNumber } from './revision.js';
import { absolutePath, encodePath, target } from './url.js';
import { type LogEntry, parseInfo } from './xml.js';

/**
 * The names a deploy request may have: the seed's `2011-07-08-10:00`, `2026-11-28-10-00-00`,
 * `v1.2`. No spaces, `;`, `/`, `@`, newlines, and no leading `.` (so never `..`).
 *
 * @example
 * ```ts
 * DEPLOY_REQUEST_NAME.test('2011-07-08-10:00'); // true
 * DEPLOY_REQUEST_NAME.test('x;rm -rf ~'); // false
 * ```
 */
export const DEPLOY_REQUEST_NAME = /^[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}$/;

/** Where the adapter reads and writes requests. */
export interface RequestFolders {
  line: string;
  folders: { folder: string; ring: string }[];
  onSkipped(skipped: SkippedDeployRequest): void;
}

interface Candidate {
  entry: LogEntry;
  /** The request folder, as configured (`prod`, `deploy/to/eng`). */
  folder: string;
  ring: string;
  name: string;
  copiedRev: number;
  /** What orders it within its revision and names it in an id: see `deployRequests`. */
  key: string;
}

/** The repository path of the URL (`''` at the root, `/project` below it), asked once. */
export class RepositoryPrefix {
  private value: Promise<string> | undefined;
  constructor(private readonly client: SvnClient) {}
  get(): Promise<string> {
    this.value ??= this.read();
    this.value.catch(() => {
      this.value = undefined;
    });
    return this.value;
  }
  private async read(): Promise<string> {
    const { stdout } = await this.client.run(`info of ${this.client.url}`, [
      'info',
      '--xml',
      `${this.client.url}@HEAD`,
    ]);
    const [entry] = parseInfo(stdout);
    return (entry?.relativeUrl ?? '^').replace(/^\^/, '').replace(/\/$/, '');
  }
}

/** Where a request id points: requests after it are new. */
interface Cursor {
  rev: number;
  name: string;
}

/** Whether the copy `name` in revision `rev` comes after the cursor (ids order by revision, then name). */
const isAfter = (cursor: Cursor, rev: number, name: string) =>
  rev > cursor.rev || (rev === cursor.rev && cursor.name !== '' && name > cursor.name);

/**
 * Parses a cursor: ids are `<rev>`, or `<rev>/<name>` when one commit made several
 * (`<rev>/<name>/<folder>` when two of them in different folders have the same name).
 */
function parseCursor(since: string | undefined): Cursor {
  if (since === undefined) return { rev: 0, name: '' };
  const match = /^(\d{1,15})(?:\/(.*))?$/s.exec(since);
  if (!match) {
    throw new RingmasterError(
      'SOURCE',
      `deploy requests since ${JSON.stringify(since)}: not a request id from this source`,
      {
        scope: SCOPE,
      },
    );
  }
  return { rev: Number(match[1]), name: match[2] ?? '' };
}

/** The last revision that changed the line at or before each copied revision: one `svn info` call. */
async function lineRevisions(
  client: SvnClient,
  operation: string,
  line: string,
  revs: number[],
): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  const unique = [...new Set(revs)];
  for (let i = 0; i < unique.length; i += 200) {
    const batch = unique.slice(i, i + 200);
    const { stdout } = await client.run(operation, [
      'info',
      '--xml',
      ...batch.map((rev) => target(client.url, line, rev)),
    ]);
    parseInfo(stdout).forEach((entry, j) => {
      out.set(batch[j]!, entry.lastChangedRevision || batch[j]!);
    });
  }
  return out;
}

/** The repository's youngest revision: every folder of one poll is read up to it. */
async function youngest(client: SvnClient): Promise<number> {
  const { stdout } = await client.run(`info of ${client.url}`, ['info', '--xml', `${client.url}@HEAD`]);
  const [entry] = parseInfo(stdout);
  if (!entry?.revision) {
    throw new RingmasterError('SOURCE', `svn info of ${client.url} gave no revision`, { scope: SCOPE });
  }
  return entry.revision;
}

/**
 * Reads the copies in one request folder from the cursor's revision to `upTo` and keeps the valid
 * ones; a copy in a later revision than the cursor's that is not a request is told to `onSkipped`
 * (one in the cursor's revision or before it was told when it was new).
 */
async function readFolder(
  client: SvnClient,
  setup: RequestFolders,
  prefix: string,
  folder: string,
  ring: string,
  cursor: Cursor,
  upTo: number,
): Promise<Candidate[]> {
  const operation = `deploy requests in ${client.url}/${folder}`;
  if (cursor.rev > upTo) {
    throw new RingmasterError(
      'SOURCE',
      `${operation}: r${cursor.rev} is newer than the repository's youngest revision r${upTo}; the repository was replaced or reloaded`,
      { scope: SCOPE },
    );
  }
  const outcome = await client.tryRun([
    'log',
    '--xml',
    '-v',
    '-r',
    `${cursor.rev}:${upTo}`,
    target(client.url, folder, upTo),
  ]);
  if (!outcome.ok) {
    // No request folder yet: nobody has asked for a deploy.
    if (isPathNotFound(outcome)) return [];
    throw client.error(operation, outcome);
  }
  const folderPath = absolutePath(prefix, folder);
  const linePath = absolutePath(prefix, setup.line);
  const found: Candidate[] = [];
  for (const entry of parseLogOutput(operation, outcome.result.stdout)) {
    for (const changed of entry.paths) {
      if (!changed.path.startsWith(`${folderPath}/`) || !(changed.action === 'A' || changed.action === 'R'))
        continue;
      const name = changed.path.slice(folderPath.length + 1);
      // Skipped copies of the cursor's own revision were told with the rest of that revision,
      // by the poll that first read it (a commit's copies appear together).
      const skip = (reason: string) => {
        if (entry.revision > cursor.rev)
          setup.onSkipped({ revision: String(entry.revision), path: changed.path, reason });
      };
      if (name.includes('/')) continue; // a change inside an existing request, not a request
      if (!DEPLOY_REQUEST_NAME.test(name)) {
        skip(`name ${JSON.stringify(name)} is not allowed (must match ${DEPLOY_REQUEST_NAME.source})`);
      } else if (changed.copyFromPath === undefined || changed.copyFromRev === undefined) {
        skip(`not a copy of ${linePath}: it was created without history`);
      } else if (changed.copyFromPath !== linePath) {
        skip(`copied from ${changed.copyFromPath}, not from the watched line ${linePath}`);
      } else {
        found.push({ entry, folder, ring, name, copiedRev: changed.copyFromRev, key: name });
      }
    }
  }
  return found;
}

/** Deploy requests made after `since` (exclusive), oldest first. */
export async function deployRequests(
  client: SvnClient,
  prefix: RepositoryPrefix,
  setup: RequestFolders,
  since?: string,
): Promise<DeployRequest[]> {
  const cursor = parseCursor(since);
  const root = await prefix.get();
  // One snapshot for every folder: a folder read at a later HEAD than another could move the
  // cursor past a request committed into the other one between the two reads.
  const upTo = await youngest(client);
  const candidates: Candidate[] = [];
  for (const { folder, ring } of setup.folders) {
    candidates.push(...(await readFolder(client, setup, root, folder, ring, cursor, upTo)));
  }
  // Within a revision a request is known by its name, or, where another folder got a copy of the
  // same name in that commit (prod/today and sandbox/today), by its name and folder: each id, and
  // the cursor's place between them, must be one request's alone.
  const sameName = new Map<string, number>();
  const nameIn = (c: Candidate) => `${c.entry.revision}\0${c.name}`;
  for (const c of candidates) sameName.set(nameIn(c), (sameName.get(nameIn(c)) ?? 0) + 1);
  for (const c of candidates) if (sameName.get(nameIn(c))! > 1) c.key = `${c.name}/${c.folder}`;
  candidates.sort(
    (a, b) => a.entry.revision - b.entry.revision || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0),
  );
  const perRevision = new Map<number, number>();
  for (const c of candidates) perRevision.set(c.entry.revision, (perRevision.get(c.entry.revision) ?? 0) + 1);
  const idOf = (c: Candidate) =>
    perRevision.get(c.entry.revision)! > 1 ? `${c.entry.revision}/${c.key}` : String(c.entry.revision);
  const after = candidates.filter((c) => isAfter(cursor, c.entry.revision, c.key));
  if (after.length === 0) return [];
  const revisions = await lineRevisions(
    client,
    `deploy requests: revisions of ${client.url}/${setup.line}`,
    setup.line,
    after.map((c) => c.copiedRev),
  );
  return after.map((c) => ({
    id: idOf(c),
    ring: c.ring,
    revision: String(revisions.get(c.copiedRev) ?? c.copiedRev),
    author: c.entry.author,
    time: isoTime(c.entry.date),
    message: c.entry.message,
    name: c.name,
  }));
}

/**
 * The default request name: the UTC time as `YYYY-MM-DD-HH-MM-SS`, without `:`.
 *
 * @example
 * ```ts
 * timestampName(new Date('2026-11-28T10:00:00Z')); // '2026-11-28-10-00-00'
 * ```
 */
export function timestampName(now: Date = new Date()): string {
  return now.toISOString().slice(0, 19).replace(/[T:]/g, '-');
}

/** Longest message `requestDeploy` passes (it travels in argv). */
const MAX_MESSAGE = 64 * 1024;

/** The seed's step 1: a server-side copy of the line at `revision` into `<folder>/<name>`. */
export async function requestDeploy(
  client: SvnClient,
  prefix: RepositoryPrefix,
  setup: RequestFolders,
  input: RequestDeployInput,
): Promise<DeployRequest> {
  const mapping = setup.folders.find((f) => f.ring === input.ring);
  if (!mapping) {
    throw new RingmasterError(
      'CONFIG',
      `requestDeploy: no deploy-request folder maps to ring ${JSON.stringify(input.ring)}; add one to the deployRequests option (folder → ring)`,
      { scope: SCOPE, details: { ring: input.ring } },
    );
  }
  const name = assertMatches(
    input.name ?? timestampName(),
    DEPLOY_REQUEST_NAME,
    'deploy request name',
    SCOPE,
  );
  const message = (input.message ?? `deploying to ${input.ring}`).replace(/\r\n?/g, '\n');
  if (Buffer.byteLength(message) > MAX_MESSAGE || message.includes('\0')) {
    throw new RingmasterError(
      'UNSAFE_INPUT',
      `requestDeploy: the message must be under 64 KiB, without NUL bytes`,
      {
        scope: SCOPE,
      },
    );
  }
  const operation = `deploy request ${mapping.folder}/${name} for r${input.revision}`;
  const rev = revisionNumber(input.revision, operation);
  // Copy the line at its own last change, so the request names a revision log() lists.
  const [lineRev] = [...(await lineRevisions(client, operation, setup.line, [rev])).values()];
  const from = `${client.url}/${encodePath(setup.line)}`;
  const to = `${client.url}/${encodePath(`${mapping.folder}/${name}`)}`;
  const copy = ['-m', message, 'cp', String(lineRev), from, to];
  let made = await client.tryRun(copy, 'svnmucc');
  // The request folder (or its parents) does not exist yet: create the missing levels in the same
  // commit, trying one more level each time (bounded by the folder's depth).
  const segments = mapping.folder.split('/');
  for (let depth = 1; !made.ok && made.codes.includes('E160016') && depth <= segments.length; depth++) {
    const mkdirs = segments
      .slice(0, depth)
      .map((_, i) => segments.slice(0, segments.length - depth + i + 1).join('/'))
      .flatMap((path) => ['mkdir', `${client.url}/${encodePath(path)}`]);
    made = await client.tryRun(['-m', message, ...mkdirs, ...copy.slice(2)], 'svnmucc');
  }
  if (!made.ok) throw client.error(operation, made);
  const committed = /^r(\d+) committed/m.exec(made.result.stdout);
  if (!committed) {
    throw new RingmasterError('SOURCE', `${operation}: svnmucc did not report the new revision`, {
      scope: SCOPE,
    });
  }
  const id = committed[1]!;
  const request = (await deployRequests(client, prefix, setup, String(Number(id) - 1))).find(
    (r) => r.id === id || r.id === `${id}/${name}`,
  );
  if (!request) {
    throw new RingmasterError(
      'SOURCE',
      `${operation}: r${id} was committed but cannot be read back as a request`,
      {
        scope: SCOPE,
      },
    );
  }
  return request;
}
