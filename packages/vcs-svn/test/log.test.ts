/**
 * head() and log(since) on a real repository: what a person committed is what the adapter reads,
 * for the watched line only, oldest first, including an environment branch as the line.
 */
import { isRingmasterError } from '@ringmaster/core/adapter';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { svn } from '../src/index.js';
import { createRepo, type Repo, sh, type WorkingCopy } from './helpers.js';

let repo: Repo;
let root: WorkingCopy;
let r1: string;
let r2: string;
let elsewhere: string;
let r3: string;

beforeAll(async () => {
  repo = await createRepo();
  root = await repo.workingCopy();
  r1 = await root.commit({ 'trunk/app.txt': 'v1\n' }, 'add the app', 'alice');
  r2 = await root.commit({ 'trunk/lib/util.txt': 'u\n', 'trunk/app.txt': 'v2\n' }, 'util and v2', 'bob');
  elsewhere = await root.commit({ 'docs/notes.txt': 'n\n' }, 'docs only, not on trunk', 'carol');
  r3 = await root.commit({ 'trunk/app.txt': 'v3\n' }, 'v3\n\nwith a body', 'alice');
});

afterAll(async () => {
  await repo.cleanup();
});

describe('head()', () => {
  it('returns the last revision that changed the line, not the repository head', async () => {
    await root.commit({ 'docs/later.txt': 'l\n' }, 'docs again');
    const head = await svn({ url: repo.fileUrl }).head();
    expect(head).toMatchObject({ id: r3, number: Number(r3), line: 'trunk', author: 'alice' });
    expect(head.message).toBe('v3\n\nwith a body');
    expect(head.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(head.paths).toEqual(['/trunk/app.txt']);
  });
});

describe('log(since)', () => {
  it('lists the revisions after the cursor, oldest first, with author, time, message and paths', async () => {
    const log = await svn({ url: repo.fileUrl }).log(r1);
    expect(log.map((r) => r.id)).toEqual([r2, r3]);
    expect(log[0]).toMatchObject({
      author: 'bob',
      message: 'util and v2',
      line: 'trunk',
      number: Number(r2),
    });
    expect([...(log[0]?.paths ?? [])].sort()).toEqual([
      '/trunk/app.txt',
      '/trunk/lib',
      '/trunk/lib/util.txt',
    ]);
    expect(Date.parse(log[1]!.time)).toBeGreaterThanOrEqual(Date.parse(log[0]!.time));
  });

  it('leaves out commits made elsewhere in the repository', async () => {
    const log = await svn({ url: repo.fileUrl }).log('0');
    const ids = log.map((r) => r.id);
    expect(ids).not.toContain(elsewhere);
    expect(ids).toEqual(['1', r1, r2, r3]);
  });

  it('takes any repository revision as the cursor, and is empty at the head', async () => {
    const source = svn({ url: repo.fileUrl });
    expect((await source.log(elsewhere)).map((r) => r.id)).toEqual([r3]);
    expect(await source.log(r3)).toEqual([]);
    const youngest = (await sh(['svnlook', 'youngest', repo.path])).trim();
    expect(Number(youngest)).toBeGreaterThan(Number(r3));
    expect(await source.log(youngest)).toEqual([]);
  });

  it('without a cursor returns only the head', async () => {
    const log = await svn({ url: repo.fileUrl }).log();
    expect(log.map((r) => r.id)).toEqual([r3]);
  });

  it('reports a cursor past the youngest revision as CURSOR_LOST (the repository was replaced)', async () => {
    const error = await svn({ url: repo.fileUrl })
      .log('99999')
      .catch((e: unknown) => e);
    expect(isRingmasterError(error, 'CURSOR_LOST')).toBe(true);
    expect((error as Error).message).toContain('r99999');
  });

  it('watches any path as the line: the environment branch eng fed by its own commits', async () => {
    const branched = await root.copy('trunk', 'branches/eng', 'create the eng branch', 'dave');
    const onTrunk = await root.commit({ 'trunk/app.txt': 'v4\n' }, 'trunk only', 'alice');
    const onEng = await root.commit({ 'branches/eng/app.txt': 'eng\n' }, 'eng build', 'erin');
    const source = svn({ url: repo.fileUrl, line: 'branches/eng' });
    const log = await source.log(r3);
    expect(log.map((r) => r.id)).toEqual([branched, onEng]);
    expect(log.map((r) => r.id)).not.toContain(onTrunk);
    expect(log.every((r) => r.line === 'branches/eng')).toBe(true);
    expect((await source.head()).author).toBe('erin');
  });

  it('reads a line whose path has spaces and an @', async () => {
    await sh(['svn', 'mkdir', '-q', '-m', 'odd line', `${repo.fileUrl}/branches/odd%20name@x@`]);
    const id = await root.commit({ 'branches/odd name@x/f.txt': 'f\n' }, 'on the odd line', 'frank');
    const head = await svn({ url: repo.fileUrl, line: 'branches/odd name@x' }).head();
    expect(head).toMatchObject({ id, author: 'frank', paths: ['/branches/odd name@x/f.txt'] });
  });
});
