import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { isRingmasterError } from '@ringmaster/core/adapter';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SkippedTag } from '../src/index.js';
import { makeRepo, type Repo, sh } from './helpers.js';

async function failure(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  return promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e as Error,
  );
}

describe('deploy requests as annotated tags', () => {
  let repo: Repo;
  let rev1: string;
  let rev2: string;
  beforeAll(() => {
    repo = makeRepo();
    rev1 = repo.commit({ 'a.txt': '1\n' }, 'release candidate one');
    rev2 = repo.commit({ 'a.txt': '2\n' }, 'release candidate two');
  });
  afterAll(() => repo.cleanup());

  it('reads a tag a person pushed: ring, tagged commit, tagger, time and message', async () => {
    repo.tag(
      'deploy/prod/2026-11-28-10-00',
      rev1,
      'deploying to prod\n\nticket OPS-42\n',
      'Priya Shah',
      '2026-11-28T10:00:00Z',
    );
    const [request] = await repo.source().deployRequests();
    expect(request).toEqual({
      id: 'deploy/prod/2026-11-28-10-00',
      ring: 'prod',
      revision: rev1,
      author: 'Priya Shah',
      time: '2026-11-28T10:00:00.000Z',
      message: 'deploying to prod\n\nticket OPS-42\n',
      name: '2026-11-28-10-00',
    });
  });

  it('orders by tagger date then name, and returns only those after the cursor', async () => {
    repo.tag('deploy/sandbox/b', rev2, 'second at 11', 'bob', '2026-11-28T11:00:00Z');
    repo.tag('deploy/sandbox/a', rev2, 'first at 11', 'bob', '2026-11-28T11:00:00Z');
    repo.tag('deploy/eng/early', rev2, 'made with an older date', 'bob', '2026-11-28T09:00:00Z');
    const source = repo.source();
    const all = await source.deployRequests();
    expect(all.map((r) => r.id)).toEqual([
      'deploy/eng/early',
      'deploy/prod/2026-11-28-10-00',
      'deploy/sandbox/a',
      'deploy/sandbox/b',
    ]);
    expect((await source.deployRequests('deploy/prod/2026-11-28-10-00')).map((r) => r.id)).toEqual([
      'deploy/sandbox/a',
      'deploy/sandbox/b',
    ]);
    expect(await source.deployRequests('deploy/sandbox/b')).toEqual([]);
  });

  it('skips tags that are not valid requests with a reason, and the poll goes on', async () => {
    const skipped: SkippedTag[] = [];
    const source = repo.source({ onSkip: (s) => skipped.push(s) });
    const cursor = (await source.deployRequests()).at(-1)!.id;
    sh(repo.work, ['tag', 'deploy/prod/lightweight', rev2]);
    sh(repo.work, ['push', '--quiet', 'origin', 'refs/tags/deploy/prod/lightweight']);
    const date = '2026-11-29T08:00:00Z';
    repo.tag('deploy/prod/x;id', rev2, 'semicolon', 'mallory', date);
    repo.tag('deploy/prod/$(id)', rev2, 'substitution', 'mallory', date);
    repo.tag('deploy/-rf/x', rev2, 'option-like ring', 'mallory', date);
    repo.tag('deploy/prod/a/b', rev2, 'nested name', 'mallory', date);
    repo.tag('deploy/README', rev2, 'not a request', 'mallory', date);
    repo.tag('deploy/prod/a-tree', `${rev2}^{tree}`, 'tags a tree', 'mallory', date);
    repo.tag('deploy/prod/good', rev2, 'the valid one', 'carol', '2026-11-29T09:00:00Z');
    const requests = await source.deployRequests(cursor);
    expect(requests.map((r) => r.id)).toEqual(['deploy/prod/good']);
    expect(skipped.length).toBeGreaterThan(0);
    // The same source's next poll tells none of them again.
    skipped.length = 0;
    expect((await source.deployRequests(cursor)).map((r) => r.id)).toEqual(['deploy/prod/good']);
    expect(skipped).toEqual([]);
    // A full read by a new source reports every skipped tag (the lightweight one is dated by its
    // commit, before the cursor).
    const fresh = repo.source({ onSkip: (s) => skipped.push(s) });
    expect((await fresh.deployRequests()).map((r) => r.id)).toContain('deploy/prod/good');
    const reasons = Object.fromEntries(skipped.map((s) => [s.tag, s.reason]));
    expect(Object.keys(reasons).sort()).toEqual(
      [
        'deploy/-rf/x',
        'deploy/README',
        'deploy/prod/$(id)',
        'deploy/prod/a-tree',
        'deploy/prod/a/b',
        'deploy/prod/lightweight',
        'deploy/prod/x;id',
      ].sort(),
    );
    expect(reasons['deploy/prod/lightweight']).toContain('lightweight');
    expect(reasons['deploy/prod/x;id']).toContain('request name');
    expect(reasons['deploy/-rf/x']).toContain('ring');
    expect(reasons['deploy/README']).toContain('pattern');
    expect(reasons['deploy/prod/a-tree']).toContain('points at a tree');
    // Names git itself refuses can never reach the adapter.
    expect(() => sh(repo.work, ['tag', '-a', '-m', 'x', 'deploy/../x', rev2])).toThrow();
    expect(() => sh(repo.work, ['tag', '-a', '-m', 'x', 'deploy/prod/with space', rev2])).toThrow();
  });

  it('a crafted tag message with NUL bytes cannot shift the fields of the tags after it', async () => {
    const source = repo.source();
    const cursor = (await source.deployRequests()).at(-1)!.id;
    const forged = `x\0refs/tags/deploy/prod/forged\0tag\0commit\0${'0'.repeat(40)}\0mallory\0 1\0forged\0`;
    const raw = `object ${rev1}\ntype commit\ntag deploy/prod/crafted\ntagger eve <eve@example.com> 1900000000 +0000\n\n${forged}`;
    const id = sh(repo.work, ['hash-object', '-t', 'tag', '-w', '--stdin', '--literally'], {
      input: raw,
    }).trim();
    sh(repo.work, ['update-ref', 'refs/tags/deploy/prod/crafted', id]);
    sh(repo.work, ['push', '--quiet', 'origin', 'refs/tags/deploy/prod/crafted']);
    repo.tag('deploy/prod/after-crafted', rev2, 'still read right', 'carol', '2030-03-17T17:46:40Z');
    const requests = await source.deployRequests(cursor);
    // Same second: ordered by name.
    expect(requests.map((r) => r.id)).toEqual(['deploy/prod/after-crafted', 'deploy/prod/crafted']);
    expect(requests[0]).toMatchObject({ revision: rev2, author: 'carol', message: 'still read right' });
    expect(requests[1]).toMatchObject({ revision: rev1, author: 'eve', time: '2030-03-17T17:46:40.000Z' });
    sh(repo.work, [
      'push',
      '--quiet',
      'origin',
      ':refs/tags/deploy/prod/crafted',
      ':refs/tags/deploy/prod/after-crafted',
    ]);
  });

  it('requestDeploy() makes an annotated tag and pushes it, so people see it too', async () => {
    const source = repo.source({ author: { name: 'Release Bot', email: 'bot@example.com' } });
    const made = await source.requestDeploy({
      ring: 'prod',
      revision: rev2,
      message: 'deploying to prod\nsecond line',
    });
    expect(made).toMatchObject({
      ring: 'prod',
      revision: rev2,
      author: 'Release Bot',
      message: 'deploying to prod\nsecond line',
    });
    expect(made.name).toMatch(/^\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d$/);
    expect(made.id).toBe(`deploy/prod/${made.name}`);
    sh(repo.work, ['fetch', '--quiet', '--tags', 'origin']);
    expect(sh(repo.work, ['cat-file', '-t', made.id]).trim()).toBe('tag');
    expect(sh(repo.work, ['rev-parse', `${made.id}^{commit}`]).trim()).toBe(rev2);
    expect(
      sh(repo.work, ['for-each-ref', '--format=%(taggername) %(taggeremail)', `refs/tags/${made.id}`]).trim(),
    ).toBe('Release Bot <bot@example.com>');
    // Another adapter reads the same request back.
    expect((await repo.source().deployRequests()).find((r) => r.id === made.id)).toEqual(made);
  });

  it('uses a custom pattern and names', async () => {
    const source = repo.source({ deployTags: 'release-{ring}-*' });
    const made = await source.requestDeploy({ ring: 'eng', revision: 'main', name: 'build-17' });
    expect(made.id).toBe('release-eng-build-17');
    expect(made.ring).toBe('eng');
    expect(made.revision).toBe(rev2);
    expect((await source.deployRequests()).map((r) => r.id)).toEqual(['release-eng-build-17']);
  });

  it('refuses bad rings, names and revisions, and an existing tag, leaving no tag behind', async () => {
    const source = repo.source();
    for (const ring of ['..', 'prod;id', 'a b', '-rf']) {
      const error = await failure(source.requestDeploy({ ring, revision: rev1 }));
      expect(error.code).toBe('UNSAFE_INPUT');
      expect(error.message).toContain(JSON.stringify(ring));
    }
    for (const name of ['../x', 'a;b', 'x y', 'a\nb']) {
      const error = await failure(source.requestDeploy({ ring: 'prod', revision: rev1, name }));
      expect(error.code).toBe('UNSAFE_INPUT');
    }
    const missing = await failure(
      source.requestDeploy({ ring: 'prod', revision: 'abcdef1234567890', name: 'nope' }),
    );
    expect(isRingmasterError(missing, 'SOURCE')).toBe(true);
    const taken = await failure(source.requestDeploy({ ring: 'prod', revision: rev1, name: 'good' }));
    expect(isRingmasterError(taken, 'SOURCE')).toBe(true);
    expect(taken.message).toContain('deploy/prod/good');
    expect(sh(repo.bare, ['tag', '--list', 'deploy/prod/nope'])).toBe('');
    expect(sh(repo.bare, ['rev-parse', 'deploy/prod/good^{commit}']).trim()).toBe(rev2);
  });

  it('removes its local tag when the remote refuses the push', async () => {
    const hook = `${repo.bare}/hooks/pre-receive`;
    writeFileSync(hook, '#!/bin/sh\necho "tags are frozen" >&2\nexit 1\n');
    chmodSync(hook, 0o755);
    try {
      const source = repo.source();
      const error = await failure(source.requestDeploy({ ring: 'prod', revision: rev1, name: 'frozen' }));
      expect(isRingmasterError(error, 'SOURCE')).toBe(true);
      expect(error.message).toContain('tags are frozen');
      expect(sh(repo.root, [`--git-dir=${source.cacheDir}`, 'tag', '--list', 'deploy/prod/frozen'])).toBe('');
    } finally {
      rmSync(hook);
    }
  });

  it('reports a deleted cursor tag as CURSOR_LOST', async () => {
    const source = repo.source();
    sh(repo.work, ['push', '--quiet', 'origin', ':refs/tags/deploy/eng/early']);
    const error = await failure(source.deployRequests('deploy/eng/early'));
    expect(error.code).toBe('CURSOR_LOST');
    expect(error.message).toContain('deploy/eng/early');
  });
});
