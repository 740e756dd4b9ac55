import { isRingmasterError, type RingmasterError } from '@ringmaster/core/adapter';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeRepo, type Repo, sh } from './helpers.js';

async function failure(promise: Promise<unknown>): Promise<RingmasterError> {
  return promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e as RingmasterError,
  );
}

describe('force-pushed history', () => {
  let repo: Repo;
  beforeAll(() => {
    repo = makeRepo();
  });
  afterAll(() => repo.cleanup());

  it('reports CURSOR_LOST naming the old and new heads, and the cursor recovers from the new head', async () => {
    const source = repo.source();
    const base = repo.commit({ 'f.txt': 'base\n' }, 'base');
    repo.commit({ 'f.txt': 'oops\n' }, 'oops');
    const cursor = (await source.head()).id;
    // A person rewrites the last commit and force-pushes.
    sh(repo.work, ['reset', '--quiet', '--hard', base]);
    const rewritten = repo.commitLocally({ 'f.txt': 'fixed\n' }, 'fixed instead');
    // A plain push is refused: this really is rewritten history.
    expect(() => sh(repo.work, ['push', '--quiet', 'origin', 'HEAD:refs/heads/main'])).toThrow(/rejected/);
    sh(repo.work, ['push', '--quiet', '--force', 'origin', 'HEAD:refs/heads/main']);

    const error = await failure(source.log(cursor));
    expect(isRingmasterError(error, 'CURSOR_LOST')).toBe(true);
    expect(error.message).toContain(cursor);
    expect(error.message).toContain(rewritten);
    expect(error.details).toMatchObject({ since: cursor, head: rewritten, branch: 'main' });

    // What the engine does next: reset the cursor to the head, without replaying history.
    const head = await source.head();
    expect(head.id).toBe(rewritten);
    expect(await source.log(head.id)).toEqual([]);
    const next = repo.commit({ 'f.txt': 'next\n' }, 'next');
    const log = await source.log(head.id);
    expect(log.map((r) => [r.id, r.number])).toEqual([[next, head.number! + 1]]);
  });

  it('detects a branch moved back to an older commit', async () => {
    const source = repo.source();
    const older = (await source.head()).id;
    repo.commit({ 'g.txt': '1\n' }, 'to be dropped');
    const cursor = (await source.head()).id;
    sh(repo.work, ['reset', '--quiet', '--hard', older]);
    sh(repo.work, ['push', '--quiet', '--force', 'origin', 'HEAD:refs/heads/main']);
    const error = await failure(source.log(cursor));
    expect(error.code).toBe('CURSOR_LOST');
    expect(error.details).toMatchObject({ since: cursor, head: older });
  });

  it('treats a cursor the repository never had as lost, not as a reason to replay everything', async () => {
    const source = repo.source();
    const head = (await source.head()).id;
    const error = await failure(source.log('feedfacefeedfacefeedfacefeedfacefeedface'));
    expect(error.code).toBe('CURSOR_LOST');
    expect(error.details).toMatchObject({ head });
  });
});
