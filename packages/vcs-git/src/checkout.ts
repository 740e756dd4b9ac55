/**
 * Writes one revision's tree into a directory straight from the mirror: `git read-tree -u`
 * with a throw-away index, so there is no clone per build, no `.git` in the output and the
 * mirror's own HEAD and refs are never touched (concurrent checkouts are safe). git itself
 * refuses paths that leave the directory (`..`, absolute, `.git`) and never writes through a
 * symlink, which is why the tree is not unpacked by anything else.
 */
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { RingmasterError } from '@ringmaster/core/adapter';
import type { Mirror } from './mirror.js';
import type { ResolvedOptions } from './options.js';
import { resolveCommit } from './resolve.js';
import { type GitRunner, SCOPE } from './runner.js';

/**
 * Processes that write a large tree's files (git's parallel checkout, 2.32 and newer; older
 * versions ignore the setting). Writing thousands of files is bound by the kernel's file
 * creation, one at a time in a single process; several processes overlap those waits, as
 * `git archive | tar` overlaps its two. Small trees (under 100 files) are written by git alone.
 */
const CHECKOUT_WORKERS = Math.min(8, Math.max(2, availableParallelism()));

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
    await git.run(
      [
        '-c',
        `checkout.workers=${CHECKOUT_WORKERS}`,
        `--work-tree=${target}`,
        'read-tree',
        '--reset',
        '-u',
        sha,
      ],
      {
        operation: `checkout of ${sha} into ${target}`,
        gitDir: mirror.dir,
        env: { GIT_INDEX_FILE: join(scratch, 'index') },
      },
    );
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
