import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeRepo, type Repo, sh } from './helpers.js';

describe('head() and log(since)', () => {
  let repo: Repo;
  beforeAll(() => {
    repo = makeRepo();
  });
  afterAll(() => repo.cleanup());

  it('reads new commits oldest first, with author, ISO time, full message and changed paths', async () => {
    const source = repo.source();
    const base = (await source.head()).id;
    const a = repo.commit(
      { 'src/app.js': 'v1\n', 'dir with space/a b.txt': 'x\n' },
      'add app\n\nwith a body\n',
      'Ana Lima',
    );
    sh(repo.work, ['rm', '--quiet', 'README.md']);
    const b = repo.commit({ 'src/app.js': 'v2\n' }, 'drop readme, bump app', 'bob');
    const log = await source.log(base);
    expect(log.map((r) => r.id)).toEqual([a, b]);
    expect(log[0]).toMatchObject({ author: 'Ana Lima', line: 'main', message: 'add app\n\nwith a body\n' });
    expect(log[0]!.paths!.sort()).toEqual(['dir with space/a b.txt', 'src/app.js']);
    expect(log[1]!.paths!.sort()).toEqual(['README.md', 'src/app.js']);
    expect(log[1]!.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
    const committed = sh(repo.work, ['log', '-1', '--format=%ct', b]).trim();
    expect(log[1]!.time).toBe(new Date(Number(committed) * 1000).toISOString());
  });

  it('numbers revisions by their first-parent position, the same from a cold or a warm adapter', async () => {
    const source = repo.source();
    const before = await source.head();
    const c = repo.commit({ 'n.txt': '1\n' }, 'n1');
    const d = repo.commit({ 'n.txt': '2\n' }, 'n2');
    const log = await source.log(before.id);
    const count = Number(sh(repo.work, ['rev-list', '--count', '--first-parent', 'HEAD']).trim());
    expect(log.map((r) => [r.id, r.number])).toEqual([
      [c, count - 1],
      [d, count],
    ]);
    const cold = repo.source();
    expect((await cold.head()).number).toBe(count);
    expect((await cold.log(before.id)).map((r) => r.number)).toEqual([count - 1, count]);
  });

  it('shows a merged branch as one revision on the line, with what the merge changed', async () => {
    const source = repo.source();
    const before = await source.head();
    sh(repo.work, ['checkout', '--quiet', '-b', 'feature']);
    repo.commit({ 'feature/one.txt': '1\n' }, 'feature one');
    repo.commit({ 'feature/two.txt': '2\n' }, 'feature two');
    sh(repo.work, ['checkout', '--quiet', 'main']);
    sh(repo.work, ['reset', '--quiet', '--hard', before.id]);
    sh(repo.work, ['merge', '--quiet', '--no-ff', '-m', 'merge feature', 'feature']);
    sh(repo.work, ['push', '--quiet', 'origin', 'HEAD:refs/heads/main']);
    const log = await source.log(before.id);
    expect(log.map((r) => r.message.trim())).toEqual(['merge feature']);
    expect(log[0]!.paths!.sort()).toEqual(['feature/one.txt', 'feature/two.txt']);
    expect(log[0]!.number).toBe(before.number! + 1);
  });

  it('keeps a 1 MB message, quotes, markup and multibyte text byte for byte', async () => {
    const source = repo.source();
    const base = (await source.head()).id;
    const big = `${'0123456789abcdef'.repeat(65_536)}\n`;
    const odd = `résumé "quoted" 'single' <xml attr="&amp;"/> \`id\` $(rm -rf /) ; | && 漢字 🚀\n\n\tindented\n`;
    repo.commit({ 'big.txt': 'b\n' }, big, 'big');
    repo.commit({ 'odd.txt': 'o\n' }, odd, 'Zoë "Z" O\'Brien $(id)');
    const log = await source.log(base);
    expect(log[0]!.message).toBe(big);
    expect(log[0]!.message.length).toBe(1_048_577);
    expect(log[1]!.message).toBe(odd);
    expect(log[1]!.author).toBe('Zoë "Z" O\'Brien $(id)');
    // The author's address as git records it: where the committer is told about the change.
    expect(log[0]!.email).toBe('big@example.com');
    expect(log[1]!.email).toBe(sh(repo.work, ['log', '-1', '--format=%ae']).trim());
  });

  it('reads a latin-1 commit (declared encoding) as text, and shows undeclared invalid bytes as U+FFFD', async () => {
    const source = repo.source();
    const base = (await source.head()).id;
    sh(repo.work, ['config', 'i18n.commitEncoding', 'ISO-8859-1']);
    repo.commit({ 'l1.txt': '1\n' }, Buffer.from('caf\xe9 cr\xe8me\n', 'latin1'), 'latin');
    sh(repo.work, ['config', '--unset', 'i18n.commitEncoding']);
    // Raw bytes without a declared encoding: write the commit object by hand, as a broken tool would.
    const tree = sh(repo.work, ['write-tree']).trim();
    const parent = sh(repo.work, ['rev-parse', 'HEAD']).trim();
    const raw = Buffer.concat([
      Buffer.from(`tree ${tree}\nparent ${parent}\nauthor raw <raw@example.com> 1700000000 +0000\n`),
      Buffer.from('committer raw <raw@example.com> 1700000000 +0000\n\nbad \xff\xfe bytes\n', 'latin1'),
    ]);
    const id = execGitHashObject(repo.work, raw);
    sh(repo.work, ['update-ref', 'refs/heads/main', id]);
    sh(repo.work, ['push', '--quiet', 'origin', 'HEAD:refs/heads/main']);
    const log = await source.log(base);
    expect(log[0]!.message).toBe('café crème\n');
    expect(log[1]!.id).toBe(id);
    expect(log[1]!.message).toBe('bad \uFFFD\uFFFD bytes\n');
    expect(log[1]!.time).toBe('2023-11-14T22:13:20.000Z');
  });

  it('shares one mirror between adapters and concurrent calls', async () => {
    const cacheDir = repo.cacheDir();
    const [a, b] = [repo.source({ cacheDir }), repo.source({ cacheDir })];
    // Two adapters racing to clone the same cacheDir, and concurrent polls on one adapter.
    const heads = await Promise.all([a.head(), b.head(), a.head(), a.log(), b.log()]);
    const id = heads[0]!.id;
    expect(heads.map((h) => (Array.isArray(h) ? h[0]!.id : h.id))).toEqual([id, id, id, id, id]);
    const next = repo.commit({ 'race.txt': '1\n' }, 'race');
    const logs = await Promise.all([a.log(id), a.log(id), b.log(id)]);
    expect(logs.map((l) => l.map((r) => r.id))).toEqual([[next], [next], [next]]);
  });

  it('polls incrementally through one mirror: cloned once, then fetched', async () => {
    const cacheDir = repo.cacheDir();
    const first = repo.source({ cacheDir });
    const head = await first.head();
    expect(existsSync(join(cacheDir, 'HEAD'))).toBe(true);
    expect(await first.log(head.id)).toEqual([]);
    const e = repo.commit({ 'poll.txt': '1\n' }, 'poll me');
    // A second adapter (a restarted engine) reuses the mirror.
    const second = repo.source({ cacheDir });
    expect((await second.log(head.id)).map((r) => r.id)).toEqual([e]);
    expect((await first.head()).id).toBe(e);
    expect((await first.log()).map((r) => r.id)).toEqual([e]);
    // After housekeeping packs the refs, the head is still read right.
    sh(repo.root, [`--git-dir=${cacheDir}`, 'pack-refs', '--all', '--prune']);
    expect(existsSync(join(cacheDir, 'refs/heads/main'))).toBe(false);
    expect(await second.log(e)).toEqual([]);
    const f = repo.commit({ 'poll.txt': '2\n' }, 'poll me again');
    expect((await second.log(e)).map((r) => r.id)).toEqual([f]);
  });
});

function execGitHashObject(cwd: string, content: Buffer): string {
  return sh(cwd, ['hash-object', '-t', 'commit', '-w', '--stdin', '--literally'], { input: content }).trim();
}
