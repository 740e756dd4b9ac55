/**
 * checkout(revision, dir) on a real repository, by `svn export` and by a cached working copy:
 * the tree of that revision and nothing else (no `.svn`, no files of other revisions).
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isRingmasterError } from '@ringmaster/core/adapter';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { svn } from '../src/index.js';
import { createRepo, type Repo, sh, tempDir, type WorkingCopy } from './helpers.js';

let repo: Repo;
let wc: WorkingCopy;
let scratch: string;
let v1: string;
let v2: string;
let v3: string;
let withScript: string;

/** Every file under `dir` with its content, `.svn` included if it is there. */
async function tree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isDirectory()) continue;
    const full = join(entry.parentPath, entry.name);
    const rel = full.slice(dir.length + 1);
    out[rel] = entry.isSymbolicLink() ? `-> ${await readlink(full)}` : await readFile(full, 'utf8');
  }
  return out;
}

let n = 0;
const outDir = () => join(scratch, `out-${++n}`, 'tree');

beforeAll(async () => {
  repo = await createRepo();
  scratch = await tempDir();
  wc = await repo.workingCopy('trunk');
  v1 = await wc.commit({ 'app.txt': 'v1\n', 'old.txt': 'goes away\n', 'src/a.js': 'a1\n' }, 'v1');
  await wc.svn(['rm', '-q', 'old.txt']);
  await wc.commit({ 'app.txt': 'v2\n', 'src/b.js': 'b2\n' }, 'v2: old.txt removed');
  v2 = (await svn({ url: repo.fileUrl }).head()).id;
  await sh(['ln', '-s', 'app.txt', join(wc.dir, 'link')]);
  v3 = await wc.commit({ 'app.txt': 'v3\n' }, 'v3 with a symlink');
  await writeFile(join(wc.dir, 'build.sh'), '#!/bin/sh\necho built\n');
  await wc.svn(['add', '-q', 'build.sh']);
  await wc.svn(['propset', '-q', 'svn:executable', 'on', 'build.sh']);
  withScript = await wc.commitStaged('an executable script');
});

afterAll(async () => {
  await repo.cleanup();
  await rm(scratch, { recursive: true, force: true });
});

describe.each([
  ['svn export', () => ({})],
  ['a cached working copy', () => ({ cacheDir: join(scratch, 'cache') })],
])('checkout by %s', (_how, extra) => {
  it('writes exactly the tree of each revision, in any order, without .svn', async () => {
    const source = svn({ url: repo.fileUrl, ...extra() });
    const expected: Record<string, Record<string, string>> = {
      [v1]: { 'app.txt': 'v1\n', 'old.txt': 'goes away\n', 'src/a.js': 'a1\n' },
      [v2]: { 'app.txt': 'v2\n', 'src/a.js': 'a1\n', 'src/b.js': 'b2\n' },
      [v3]: { 'app.txt': 'v3\n', 'src/a.js': 'a1\n', 'src/b.js': 'b2\n', link: '-> app.txt' },
    };
    for (const rev of [v3, v1, v2, v3, v1]) {
      const dir = outDir();
      await source.checkout(rev, dir);
      expect(await tree(dir)).toEqual(expected[rev]);
    }
  });

  it('keeps the executable bit of files marked svn:executable', async () => {
    const dir = outDir();
    await svn({ url: repo.fileUrl, ...extra() }).checkout(withScript, dir);
    expect((await stat(join(dir, 'build.sh'))).mode & 0o111).not.toBe(0);
    expect((await stat(join(dir, 'app.txt'))).mode & 0o111).toBe(0);
  });

  it('fails with SOURCE naming the revision when it does not exist', async () => {
    const error = await svn({ url: repo.fileUrl, ...extra() })
      .checkout('4242', outDir())
      .catch((e: unknown) => e);
    expect(isRingmasterError(error, 'SOURCE')).toBe(true);
    expect((error as Error).message).toContain('r4242');
    expect((error as Error).message).toContain('No such revision 4242');
  });

  it('refuses a directory that already holds files', async () => {
    const dir = outDir();
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'keep.txt'), 'mine');
    const error = await svn({ url: repo.fileUrl, ...extra() })
      .checkout(v1, dir)
      .catch((e: unknown) => e);
    expect(isRingmasterError(error, 'SOURCE')).toBe(true);
    expect((error as Error).message).toContain('not empty');
    expect(await readFile(join(dir, 'keep.txt'), 'utf8')).toBe('mine');
  });

  it('writes into a directory whose name has spaces, an @ and shell metacharacters', async () => {
    const dir = join(scratch, `odd ${n++} @x $(id);`, 'tree');
    await svn({ url: repo.fileUrl, ...extra() }).checkout(v2, dir);
    expect(await readFile(join(dir, 'app.txt'), 'utf8')).toBe('v2\n');
    expect(existsSync(join(scratch, 'x'))).toBe(false);
  });
});

describe('the working-copy cache', () => {
  it('is one working copy, reused across checkouts and recovered when broken', async () => {
    const cacheDir = join(scratch, 'cache-reuse');
    const source = svn({ url: repo.fileUrl, cacheDir });
    await source.checkout(v1, outDir());
    const [wcName] = await readdir(cacheDir);
    expect(existsSync(join(cacheDir, wcName!, '.svn'))).toBe(true);
    await source.checkout(v3, outDir());
    expect(await readdir(cacheDir)).toEqual([wcName]);
    // Someone broke the cache: the next checkout starts it over instead of failing.
    await rm(join(cacheDir, wcName!, '.svn', 'wc.db'));
    const dir = outDir();
    await source.checkout(v2, dir);
    expect(await readFile(join(dir, 'app.txt'), 'utf8')).toBe('v2\n');
  });

  it('serves concurrent checkouts one at a time, each with its own revision', async () => {
    const source = svn({ url: repo.fileUrl, cacheDir: join(scratch, 'cache-concurrent') });
    const dirs = [outDir(), outDir(), outDir()];
    await Promise.all([
      source.checkout(v1, dirs[0]!),
      source.checkout(v3, dirs[1]!),
      source.checkout(v2, dirs[2]!),
    ]);
    const apps = await Promise.all(dirs.map((d) => readFile(join(d, 'app.txt'), 'utf8')));
    expect(apps).toEqual(['v1\n', 'v3\n', 'v2\n']);
  });
});
