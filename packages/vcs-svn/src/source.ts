/**
 * The `svn()` factory: a Source on the real Subversion client. Building one only validates the
 * options; the first svn process starts at the first call.
 */
import type { DeployRequest, RequestDeployInput, Revision, Source } from '@ringmaster/core/adapter';
import { onceEach, parseOptions } from '@ringmaster/core/adapter';
import { CachedWorkingCopy, exportRevision } from './checkout.js';
import { SCOPE, SvnClient } from './client.js';
import { deployRequests, RepositoryPrefix, type RequestFolders, requestDeploy } from './deploy-requests.js';
import { head, log } from './log.js';
import { type SkippedDeployRequest, type SvnOptions, svnOptionsSchema } from './options.js';

/**
 * A Source on Subversion, with deploy requests read from and made in the repository: what
 * {@link svn} returns.
 *
 * @example
 * ```ts
 * const source: SvnSource = svn({ url: 'file:///srv/svn/shop' });
 * const asked = await source.deployRequests();
 * ```
 */
export interface SvnSource extends Source {
  readonly name: string;
  readonly capabilities: { deployRequests: true; createDeployRequest: true; authenticatedAuthors?: true };
  deployRequests(since?: string): Promise<DeployRequest[]>;
  requestDeploy(input: RequestDeployInput): Promise<DeployRequest>;
}

function warnSkipped(skipped: SkippedDeployRequest): void {
  process.emitWarning(
    `[ringmaster] [${SCOPE}] r${skipped.revision} ${skipped.path} is not a deploy request: ${skipped.reason}`,
    {
      code: 'RINGMASTER_SKIPPED_DEPLOY_REQUEST',
    },
  );
}

/**
 * Creates a Source that watches one line of a Subversion repository with the real `svn` client.
 *
 * - `head()`/`log(since)`: one `svn log --xml -v` on the line per call;
 * - `checkout(rev, dir)`: `svn export`, or a cached working copy when `cacheDir` is set;
 * - `deployRequests(since)`: copies of the line into a request folder (`prod/<name>` → ring `prod`);
 * - `requestDeploy()`: the seed's step 1, a server-side copy.
 *
 * @throws ConfigError when an option is invalid (the message names the option).
 * @example
 * ```ts
 * import { svn } from '@ringmaster/vcs-svn';
 *
 * const source = svn({ url: 'svn://svn.example.com/shop', username: 'ci', password: process.env.SVN_PASSWORD });
 * const head = await source.head();
 * await source.checkout(head.id, '/tmp/build');
 * await source.requestDeploy({ ring: 'prod', revision: head.id });
 * ```
 */
export function svn(options: SvnOptions): SvnSource {
  const resolved = parseOptions(svnOptionsSchema, options, SCOPE);
  const client = new SvnClient(resolved);
  const prefix = new RepositoryPrefix(client);
  const line = resolved.line;
  const folders: RequestFolders = {
    line,
    folders: resolved.deployRequests,
    // Once for each skipped copy, for the life of this source: a watch reads the same revisions
    // poll after poll until a valid request moves its cursor past them. (A new source — a restart,
    // each `watch --once` — tells it again.)
    onSkipped: onceEach((s) => `${s.revision}\0${s.path}`, resolved.onSkippedRequest ?? warnSkipped),
  };
  const cache =
    resolved.cacheDir === undefined ? undefined : new CachedWorkingCopy(client, line, resolved.cacheDir);
  return {
    name: `svn ${resolved.url}/${line}`,
    // Over a server, svn sets the author from the server's own sign-in; a file:// repository
    // takes whatever name the client has.
    capabilities: {
      deployRequests: true,
      createDeployRequest: true,
      ...(/^file:/i.test(resolved.url) ? {} : { authenticatedAuthors: true as const }),
    },
    head: (): Promise<Revision> => head(client, line),
    log: (since?: string): Promise<Revision[]> => log(client, line, since),
    checkout: (revision: string, dir: string): Promise<void> =>
      cache ? cache.checkout(revision, dir) : exportRevision(client, line, revision, dir),
    deployRequests: (since?: string) => deployRequests(client, prefix, folders, since),
    requestDeploy: (input: RequestDeployInput) => requestDeploy(client, prefix, folders, input),
  };
}
