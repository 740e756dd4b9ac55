/**
 * Writes one revision's tree into a directory straight from the mirror: `git read-tree -u`
 * with a throw-away index, so there is no clone per build, no `.git` in the output and the
 * mirror's own HEAD and refs are never touched (concurrent checkouts are safe).
 */
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { RingmasterError } from '@ringmaster/core/adapter';
import type { Mirror } from './mirror.js';
import type { ResolvedOptions } from './options.js';
import { resolveCommit } from './resolve.js';
import { type GitRunner, SCOPE } from './runner.js';

/** Checks `revision` out into `dir` (created if missing; must be empty). */
export async function checkout(
  git: GitRunner,
  mirror: Mirror,
  options: ResolvedOptions,
  revision: string,
  dir: string,
): Promise<void> {
  const sha = await resolveCommit(git, mirror, options, revision);
  const target = resolve(dir);
  await mkdir(target, { recursive: true });
  if ((await readdir(target)).length > 0) {
    throw new RingmasterError(
      'SOURCE',
      `checkout directory ${target} is not empty; give an empty or missing directory`,
      { scope: SCOPE, details: { dir: target } },
    );
  }
  const scratch = await mkdtemp(join(tmpdir(), 'rm-git-index-'));
  try {
    await git.run([`--work-tree=${target}`, 'read-tree', '--reset', '-u', sha], {
      operation: `checkout of ${sha} into ${target}`,
      gitDir: mirror.dir,
      env: { GIT_INDEX_FILE: join(scratch, 'index') },
    });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
