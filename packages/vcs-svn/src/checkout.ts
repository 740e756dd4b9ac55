/**
 * `checkout(revision, dir)`: the tree of the watched line at a revision, written into `dir`.
 * Two ways, chosen by the `cacheDir` option: a plain `svn export` from the repository, or a
 * cached working copy moved to the revision with `svn switch` (only the difference travels) and
 * copied out without its `.svn` folder. bench/vcs-svn.mjs measures both.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { RingmasterError } from '@ringmaster/core/adapter';
import { SCOPE, type SvnClient } from './client.js';
import { copyTree } from './copy-tree.js';
import { revisionNumber } from './revision.js';
import { localTarget, target } from './url.js';

/** svn errors that say nothing is wrong with the working copy: no such revision or path, no server, no access, locked by another process. */
const KEEP_CACHE_ON = new Set([
  'E160006',
  'E160013',
  'E170000',
  'E170013',
  'E000111',
  'E170001',
  'E215004',
  'E220001',
  'E155004',
]);

/** Creates `dir` (and its parents) and refuses one that already holds files. */
async function prepareDir(dir: string, operation: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const entries = await readdir(dir);
  if (entries.length > 0) {
    throw new RingmasterError(
      'SOURCE',
      `${operation}: ${dir} is not empty; give checkout() an empty or new directory`,
      {
        scope: SCOPE,
        details: { dir },
      },
    );
  }
}

/** `svn export` of `line@rev` straight into `dir`. */
export async function exportRevision(
  client: SvnClient,
  line: string,
  revision: string,
  dir: string,
): Promise<void> {
  const operation = `checkout of ${client.url}/${line} r${revision}`;
  const rev = revisionNumber(revision, operation);
  const out = resolve(dir);
  await prepareDir(out, operation);
  await client.run(operation, ['export', '-q', '--force', target(client.url, line, rev), localTarget(out)]);
}

/**
 * A working copy of the line kept under `cacheDir`, one per repository URL and line. Calls are
 * serialised: one working copy cannot be switched by two checkouts at once.
 */
export class CachedWorkingCopy {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly wc: string;

  constructor(
    private readonly client: SvnClient,
    private readonly line: string,
    cacheDir: string,
  ) {
    const key = createHash('sha256').update(`${client.url}\n${line}`).digest('hex').slice(0, 16);
    this.wc = join(resolve(cacheDir), `svn-${key}`);
  }

  /** Writes `line@revision` into `dir` from the cached working copy. */
  checkout(revision: string, dir: string): Promise<void> {
    const run = this.queue.then(() => this.checkoutNow(revision, dir));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async checkoutNow(revision: string, dir: string): Promise<void> {
    const operation = `checkout of ${this.client.url}/${this.line} r${revision}`;
    const rev = revisionNumber(revision, operation);
    const out = resolve(dir);
    await prepareDir(out, operation);
    await this.moveTo(rev, operation);
    // `.svn` is the working copy's own state; no versioned file can carry that name.
    await copyTree(this.wc, out, '.svn');
  }

  /** Switches the cached working copy to `rev`, starting over once from a fresh checkout if it is unusable. */
  private async moveTo(rev: number, operation: string): Promise<void> {
    const url = target(this.client.url, this.line, rev);
    if (await this.exists()) {
      const switched = await this.client.tryRun([
        'switch',
        '-q',
        '--ignore-ancestry',
        url,
        // switch and checkout read a local path literally (no peg), unlike export
        this.wc,
      ]);
      if (switched.ok) return;
      // A missing revision or an unreachable server is not a broken cache: say so, keep the cache.
      if (switched.codes.some((code) => KEEP_CACHE_ON.has(code)))
        throw this.client.error(operation, switched);
    }
    await rm(this.wc, { recursive: true, force: true });
    await mkdir(join(this.wc, '..'), { recursive: true });
    await this.client.run(operation, ['checkout', '-q', url, this.wc]);
  }

  private async exists(): Promise<boolean> {
    try {
      return (await stat(join(this.wc, '.svn'))).isDirectory();
    } catch {
      return false;
    }
  }
}
