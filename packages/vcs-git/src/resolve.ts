/**
 * Turns what a caller names (a full or abbreviated sha, a branch or tag name) into a commit id
 * that exists in the mirror. A name is looked up as a tag, then as a branch, each freshly
 * fetched, so a branch the poll does not watch never resolves to a stale commit. Anything else is
 * refused before git sees it, so a revision can never be read as an option or a range.
 */
import { RingmasterError } from '@ringmaster/core/adapter';
import type { Mirror } from './mirror.js';
import { isSafeRefName, type ResolvedOptions } from './options.js';
import { type GitRunner, SCOPE } from './runner.js';

const HEX = /^[0-9a-fA-F]{4,64}$/;

/** Resolves `revision` to a full commit sha, or throws `SOURCE` saying it does not exist. */
export async function resolveCommit(
  git: GitRunner,
  mirror: Mirror,
  options: ResolvedOptions,
  revision: string,
): Promise<string> {
  if (typeof revision !== 'string' || !(HEX.test(revision) || isSafeRefName(revision))) {
    throw new RingmasterError(
      'SOURCE',
      `revision ${JSON.stringify(revision)} is neither a commit id nor a branch or tag name`,
      { scope: SCOPE, details: { revision } },
    );
  }
  const lookup = async (name: string) => {
    const found = await git.run(
      ['rev-parse', '--verify', '--quiet', '--end-of-options', `${name}^{commit}`],
      {
        operation: `looking up revision ${revision}`,
        gitDir: mirror.dir,
        allowFailure: true,
      },
    );
    return found.exitCode === 0 ? found.stdout.trim() || undefined : undefined;
  };
  let sha: string | undefined;
  if (HEX.test(revision)) {
    await mirror.ensure();
    // Newer than the mirror's last fetch, perhaps: fetch once and look again.
    sha = (await lookup(revision)) ?? (await mirror.sync().then(() => lookup(revision)));
  } else {
    await mirror.sync();
    sha = await lookup(`refs/tags/${revision}`);
    if (!sha && (revision === options.branch || (await mirror.fetchBranch(revision)))) {
      sha = await lookup(`refs/heads/${revision}`);
    }
  }
  if (!sha) {
    throw new RingmasterError(
      'SOURCE',
      `revision ${revision} does not exist in ${git.redact(options.url)} (looked up after a fetch); check the commit id or ref name`,
      { scope: SCOPE, details: { revision, operation: 'resolve revision' } },
    );
  }
  return sha;
}
