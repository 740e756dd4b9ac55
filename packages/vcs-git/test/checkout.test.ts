import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { isRingmasterError } from '@ringmaster/core/adapter';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeRepo, type Repo, sh } from './helpers.js';

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (e: unknown) => e,
  );
}

describe('checkout(revision, dir)', () => {
  let repo: Repo;
  let first: string;
  let second: string;
  beforeAll(() => {
    repo = makeRepo();
    writeFileSync(join(repo.work, 'run.sh'), '#!/bin/sh\necho hi\n');
    chmodSync(join(repo.work, 'run.sh'), 0o755);
    symlinkSync('run.sh', join(repo.work, 'link'));
    first = repo.commit({ 'app/version.txt': 'one\n', 'app/deep/a/b/c.txt': 'deep\n' }, 'first tree');
    second = repo.commit({ 'app/version.txt': 'two\n' }, 'second tree');
    sh(repo.work, ['tag', 'v1', first]);
    sh(repo.work, ['push', '--quiet', 'origin', 'v1']);
  });
  afterAll(() => repo.cleanup());
  const out = (name: string) => join(repo.root, 'out', name);

  it('writes the tree of the revision with modes and symlinks, and no .git', async () => {
    const source = repo.source();
    await source.checkout(first, out('first'));
    expect(readFileSync(join(out('first'), 'app/version.txt'), 'utf8')).toBe('one\n');
    expect(readFileSync(join(out('first'), 'app/deep/a/b/c.txt'), 'utf8')).toBe('deep\n');
    expect(statSync(join(out('first'), 'run.sh')).mode & 0o111).not.toBe(0);
    expect(lstatSync(join(out('first'), 'link')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(out('first'), 'link'))).toBe('run.sh');
    expect(readdirSync(out('first')).sort()).toEqual(['README.md', 'app', 'link', 'run.sh']);
  });

  it('accepts an abbreviated sha, a branch and a tag name', async () => {
    const source = repo.source();
    await source.checkout(second.slice(0, 10), out('short'));
    await source.checkout('main', out('branch'));
    await source.checkout('v1', out('tag'));
    expect(readFileSync(join(out('short'), 'app/version.txt'), 'utf8')).toBe('two\n');
    expect(readFileSync(join(out('branch'), 'app/version.txt'), 'utf8')).toBe('two\n');
    expect(readFileSync(join(out('tag'), 'app/version.txt'), 'utf8')).toBe('one\n');
  });

  it('checks out another branch by name as it is now on the remote, not a stale copy', async () => {
    const source = repo.source();
    sh(repo.work, ['checkout', '--quiet', '-b', 'hotfix']);
    repo.commitLocally({ 'app/version.txt': 'hotfix 1\n' }, 'hotfix 1');
    sh(repo.work, ['push', '--quiet', 'origin', 'hotfix']);
    await source.checkout('hotfix', out('hotfix1'));
    repo.commitLocally({ 'app/version.txt': 'hotfix 2\n' }, 'hotfix 2');
    sh(repo.work, ['push', '--quiet', 'origin', 'hotfix']);
    sh(repo.work, ['checkout', '--quiet', 'main']);
    await source.checkout('hotfix', out('hotfix2'));
    expect(readFileSync(join(out('hotfix1'), 'app/version.txt'), 'utf8')).toBe('hotfix 1\n');
    expect(readFileSync(join(out('hotfix2'), 'app/version.txt'), 'utf8')).toBe('hotfix 2\n');
    const error = await failure(source.checkout('no-such-branch', out('none')));
    expect(isRingmasterError(error, 'SOURCE')).toBe(true);
    expect((error as Error).message).toContain('no-such-branch does not exist');
  });

  it('finds a commit pushed after the mirror was last fetched', async () => {
    const source = repo.source();
    await source.head();
    const later = repo.commit({ 'app/version.txt': 'three\n' }, 'third tree');
    await source.checkout(later, out('later'));
    expect(readFileSync(join(out('later'), 'app/version.txt'), 'utf8')).toBe('three\n');
  });

  it('runs concurrent checkouts from one mirror without mixing them up', async () => {
    const source = repo.source();
    await Promise.all([source.checkout(first, out('c1')), source.checkout(second, out('c2'))]);
    expect(readFileSync(join(out('c1'), 'app/version.txt'), 'utf8')).toBe('one\n');
    expect(readFileSync(join(out('c2'), 'app/version.txt'), 'utf8')).toBe('two\n');
    // The mirror's own HEAD is untouched by checkouts.
    expect(existsSync(join(source.cacheDir, 'index'))).toBe(false);
  });

  it('refuses a directory that is not empty, leaving its files alone', async () => {
    const source = repo.source();
    mkdirSync(out('busy'), { recursive: true });
    writeFileSync(join(out('busy'), 'keep.txt'), 'mine\n');
    const error = await failure(source.checkout(first, out('busy')));
    expect(isRingmasterError(error, 'SOURCE')).toBe(true);
    expect((error as Error).message).toContain(out('busy'));
    expect(readdirSync(out('busy'))).toEqual(['keep.txt']);
    rmSync(out('busy'), { recursive: true });
  });

  it('fails with SOURCE for a missing revision, and refuses option-like or range revisions before git sees them', async () => {
    const source = repo.source();
    const missing = await failure(
      source.checkout('0123456789abcdef0123456789abcdef01234567', out('missing')),
    );
    expect(isRingmasterError(missing, 'SOURCE')).toBe(true);
    expect((missing as Error).message).toContain('0123456789abcdef0123456789abcdef01234567 does not exist');
    for (const hostile of ['--output=/tmp/pwned', 'main..v1', 'HEAD;id', '$(id)', '../x', 'main\nv1']) {
      const error = await failure(source.checkout(hostile, out('hostile')));
      expect(isRingmasterError(error, 'SOURCE')).toBe(true);
      expect((error as Error).message).toContain(JSON.stringify(hostile));
    }
    expect(existsSync('/tmp/pwned')).toBe(false);
  });
});
