/**
 * Turns what a caller names (a full or abbreviated sha, a branch or tag name) into a commit id
 * that exists in the mirror, fetching once when it is not there yet. Anything else is refused
 * before git sees it, so a revision can never be read as an option or a range.
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
  await mirror.ensure();
  const lookup = () =>
    git.run(['rev-parse', '--verify', '--quiet', '--end-of-options', `${revision}^{commit}`], {
      operation: `looking up revision ${revision}`,
      gitDir: mirror.dir,
      allowFailure: true,
    });
  let found = await lookup();
  if (found.exitCode !== 0) {
    // Newer than the mirror's last fetch, perhaps.
    await mirror.sync();
    found = await lookup();
  }
  const sha = found.stdout.trim();
  if (found.exitCode !== 0 || sha === '') {
    throw new RingmasterError(
      'SOURCE',
      `revision ${revision} does not exist in ${git.redact(options.url)} (looked up after a fetch); check the commit id or ref name`,
      { scope: SCOPE, details: { revision, operation: 'resolve revision' } },
    );
  }
  return sha;
}
