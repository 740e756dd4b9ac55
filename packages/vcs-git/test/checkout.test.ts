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

/** Every path of `commit`'s tree with its mode and object: `git ls-tree -r`. */
function treeOf(bare: string, commit: string): { mode: string; sha: string; path: string }[] {
  return sh(bare, ['ls-tree', '-r', '-z', '--full-tree', commit])
    .split('\0')
    .filter(Boolean)
    .map((line) => {
      const [meta, path] = line.split('\t') as [string, string];
      const [mode, , sha] = meta.split(' ') as [string, string, string];
      return { mode, sha, path };
    });
}

/** Every file and symlink under `dir`, relative to it. */
function written(dir: string, prefix = ''): string[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((e) => {
    const path = prefix ? `${prefix}/${e.name}` : e.name;
    return e.isDirectory() ? written(dir, path) : [path];
  });
}

describe('checkout of large and hostile trees', () => {
  let repo: Repo;
  beforeAll(() => {
    repo = makeRepo();
  });
  afterAll(() => repo.cleanup());
  const out = (name: string) => join(repo.root, 'out', name);

  it('writes a tree of hundreds of files (several processes write it) exactly: contents, modes, symlinks', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 400; i++)
      files[`src/d${i % 13}/sub${i % 3}/f${i}.txt`] = `file ${i}\n${'x'.repeat(i * 7)}\n`;
    repo.commitLocally(files, 'many files');
    mkdirSync(join(repo.work, 'bin'));
    for (let i = 0; i < 12; i++) {
      writeFileSync(join(repo.work, `bin/tool${i}`), `#!/bin/sh\necho ${i}\n`);
      chmodSync(join(repo.work, `bin/tool${i}`), 0o755);
      symlinkSync(`../src/d${i}/sub0/f${i * 3}.txt`, join(repo.work, `bin/link${i}`));
    }
    const commit = repo.commit({ 'bin/.keep': '' }, 'tools and links');
    const source = repo.source();
    await source.checkout(commit, out('large'));

    const tree = treeOf(repo.bare, commit);
    expect(tree.length).toBeGreaterThan(400);
    expect(written(out('large')).sort()).toEqual(tree.map((e) => e.path).sort());
    for (const { mode, sha, path } of tree) {
      const file = join(out('large'), path);
      if (mode === '120000') {
        expect(lstatSync(file).isSymbolicLink()).toBe(true);
        expect(readlinkSync(file)).toBe(sh(repo.bare, ['cat-file', 'blob', sha]));
      } else {
        expect(readFileSync(file, 'utf8')).toBe(sh(repo.bare, ['cat-file', 'blob', sha]));
        expect((statSync(file).mode & 0o111) !== 0).toBe(mode === '100755');
      }
    }
  });

  /**
   * Commits a tree made as is (git would never make it: `hash-object --literally`) of
   * `entries` and `padding` ordinary files, tagged `tag` on the remote.
   */
  function hostile(tag: string, entries: [mode: string, name: string, sha: string][], padding: number): void {
    const blob = sh(repo.bare, ['hash-object', '-w', '--stdin'], { input: 'pwned\n' }).trim();
    const all: [string, string, string][] = [
      ...entries,
      ...Array.from({ length: padding }, (_, i): [string, string, string] => ['100644', `pad${i}.txt`, blob]),
    ];
    // Trees are sorted by name, a directory's as if it ended in "/".
    const key = ([mode, name]: [string, string, string]) => (mode === '40000' ? `${name}/` : name);
    all.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
    const bytes = Buffer.concat(
      all.map(([mode, name, sha]) =>
        Buffer.concat([Buffer.from(`${mode} ${name}\0`), Buffer.from(sha, 'hex')]),
      ),
    );
    const tree = sh(repo.bare, ['hash-object', '-t', 'tree', '-w', '--literally', '--stdin'], {
      input: bytes,
    }).trim();
    const commit = sh(repo.bare, ['commit-tree', '-m', tag, tree], {
      env: {
        GIT_AUTHOR_NAME: 'm',
        GIT_AUTHOR_EMAIL: 'm@x',
        GIT_COMMITTER_NAME: 'm',
        GIT_COMMITTER_EMAIL: 'm@x',
      },
    }).trim();
    sh(repo.bare, ['update-ref', `refs/tags/${tag}`, commit]);
  }

  for (const padding of [3, 200]) {
    it(`never writes outside the directory for a tree with "..", ".git" or a path through a symlink (${padding} other files)`, async () => {
      const outside = join(repo.root, `outside-${padding}`);
      mkdirSync(outside, { recursive: true });
      const blob = sh(repo.bare, ['hash-object', '-w', '--stdin'], { input: 'pwned\n' }).trim();
      const link = sh(repo.bare, ['hash-object', '-w', '--stdin'], { input: outside }).trim();
      const inner = sh(repo.bare, ['mktree'], { input: `100644 blob ${blob}\tpwned.txt\n` }).trim();
      hostile(`dotdot-${padding}`, [['100644', '..', blob]], padding);
      hostile(`dotgit-${padding}`, [['40000', '.git', inner]], padding);
      // A symlink to a directory outside, and a directory of the same name beside it.
      hostile(
        `through-${padding}`,
        [
          ['120000', 'link', link],
          ['40000', 'link', inner],
        ],
        padding,
      );
      const source = repo.source();
      for (const tag of [`dotdot-${padding}`, `dotgit-${padding}`]) {
        const error = await source.checkout(tag, out(tag)).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(isRingmasterError(error, 'SOURCE')).toBe(true);
        expect((error as Error).message).toContain('invalid path');
        expect(existsSync(join(out(tag), '.git'))).toBe(false);
      }
      await source.checkout(`through-${padding}`, out(`through-${padding}`)).catch(() => undefined);
      expect(readdirSync(outside)).toEqual([]);
      expect(existsSync(join(repo.root, 'out', 'pwned.txt'))).toBe(false);
    });
  }
});
