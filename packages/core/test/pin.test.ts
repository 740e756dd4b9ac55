/**
 * Holding a ring (pin/unpin) and marking a release bad (reject/allow), in the ring state
 * machine: what waits, what is refused, what each ring says, and that it all survives a restart.
 */
import { describe, expect, it } from 'vitest';
import { isRingmasterError, oneAtATime } from '../src/index.js';
import { rolloutInFlight, world } from './helpers.js';

async function refused(work: Promise<unknown>): Promise<Error & { code?: string }> {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isRingmasterError(error, 'STATE')).toBe(true);
  return error as Error;
}

describe('pin', () => {
  it('holds a ring on its release: automatic promotion waits, other releases are refused, until unpinned', async () => {
    const w = await world();
    await w.engine.tick();
    expect(await w.versions('prod')).toEqual(['1.0.1', '1.0.1']);
    await w.engine.pin({ pipeline: 'app', ring: 'prod', reason: 'incident 42', by: 'alice' });
    await w.source.commit({ 'app.txt': 'v2\n' }, 'second');
    for (let i = 0; i < 3; i++) await w.engine.tick();
    expect(await w.versions('sandbox')).toEqual(['1.0.2', '1.0.2']);
    expect(await w.versions('prod')).toEqual(['1.0.1', '1.0.1']);
    const e = await w.engine.explain({ pipeline: 'app', ring: 'prod' });
    expect(e.action).toBe('pinned');
    expect(e.summary).toBe('prod is pinned to 1.0.1 by alice: incident 42; 1.0.2 waits until it is unpinned');
    expect((await w.engine.plan({ poll: false })).pipelines[0]!.rings[2]!.action).toBe('pinned');
    expect(
      (await refused(w.engine.promote({ pipeline: 'app', ring: 'prod', release: '1.0.2' }))).message,
    ).toContain('app/prod is pinned to 1.0.1 by alice: incident 42; unpin it first');
    await refused(w.engine.rollback({ pipeline: 'app', ring: 'prod' }));
    // A new engine on the same ledger holds it too.
    await w.engine.close();
    const again = w.reopen();
    await again.start();
    await again.tick();
    expect(await w.versions('prod')).toEqual(['1.0.1', '1.0.1']);
    await again.unpin({ pipeline: 'app', ring: 'prod', by: 'alice' });
    await again.tick();
    expect(await w.versions('prod')).toEqual(['1.0.2', '1.0.2']);
    const types = (await again.ledger.read()).map((r) => r.type);
    expect(types.filter((t) => t === 'ring.pinned' || t === 'ring.unpinned')).toEqual([
      'ring.pinned',
      'ring.unpinned',
    ]);
  });

  it('refuses a pin with nothing deployed, of another release, twice, and an unpin of an unpinned ring', async () => {
    const w = await world();
    await refused(w.engine.pin({ pipeline: 'app', ring: 'prod', reason: 'x' }));
    await w.engine.tick();
    await w.source.commit({ 'app.txt': 'v2\n' }, 'second');
    await w.engine.tick();
    const other = await refused(
      w.engine.pin({ pipeline: 'app', ring: 'eng', release: '1.0.1', reason: 'x' }),
    );
    expect(other.message).toContain('runs 1.0.2, not 1.0.1: a pin holds a ring on what it runs');
    await w.engine.pin({ pipeline: 'app', ring: 'eng', reason: 'x' });
    await refused(w.engine.pin({ pipeline: 'app', ring: 'eng', reason: 'y' }));
    await refused(w.engine.unpin({ pipeline: 'app', ring: 'prod' }));
    await expect(w.engine.pin({ pipeline: 'app', ring: 'prod', reason: ' ' })).rejects.toThrow(/say why/);
  });
});

describe('reject', () => {
  it('refuses while a rollout of the release is under way (its end would be recorded over the rejection)', async () => {
    const w = await world();
    await w.engine.tick();
    await w.source.commit({ 'app.txt': 'v2\n' }, 'second');
    await w.engine.build();
    // A rollout of 1.0.2 to eng started and not finished, as a runner that died leaves it.
    await rolloutInFlight(w.engine, '1.0.2', oneAtATime());
    await w.engine.close();
    const again = w.reopen();
    const error = await refused(again.reject({ pipeline: 'app', release: '1.0.2', reason: 'bad' }));
    expect(error.message).toContain('1.0.2 is being rolled out to eng (eng#2)');
    expect((await again.ledger.read()).filter((r) => r.type === 'ring.rejected')).toEqual([]);
  });

  it('marks a release bad in every ring: never promoted, the ring running it says so, allow lets it through', async () => {
    const w = await world();
    await w.engine.tick();
    await w.engine.pin({ pipeline: 'app', ring: 'prod', reason: 'hold', by: 'alice' });
    await w.source.commit({ 'app.txt': 'v2\n' }, 'second');
    for (let i = 0; i < 3; i++) await w.engine.tick();
    expect(await w.versions('sandbox')).toEqual(['1.0.2', '1.0.2']);
    const rings = await w.engine.reject({
      pipeline: 'app',
      release: '1.0.2',
      reason: 'corrupts the cache',
      by: 'bob',
    });
    expect(rings).toEqual(['eng', 'sandbox', 'prod']);
    await w.engine.unpin({ pipeline: 'app', ring: 'prod', by: 'alice' });
    for (let i = 0; i < 3; i++) await w.engine.tick();
    expect(await w.versions('prod')).toEqual(['1.0.1', '1.0.1']);
    const sandbox = await w.engine.explain({ pipeline: 'app', ring: 'sandbox' });
    expect(sandbox.summary).toBe(
      'sandbox runs 1.0.2, which is rejected here (marked bad by bob: corrupts the cache): roll back with ringmaster rollback app sandbox',
    );
    await refused(w.engine.reject({ pipeline: 'app', release: '1.0.2', reason: 'again' }));
    await expect(w.engine.reject({ pipeline: 'app', release: '1.0.2', reason: ' ' })).rejects.toThrow(
      /say why/,
    );
    // allow (and the old spelling, unpin with a release) lifts it ring by ring: prod takes it once
    // the rings that feed it let it through again too.
    await w.engine.allow({ pipeline: 'app', ring: 'eng', release: '1.0.2', by: 'carol' });
    await w.engine.allow({ pipeline: 'app', ring: 'sandbox', release: '1.0.2', by: 'carol' });
    await w.engine.unpin({ pipeline: 'app', ring: 'prod', release: '1.0.2', by: 'carol' });
    for (let i = 0; i < 3; i++) await w.engine.tick();
    expect(await w.versions('prod')).toEqual(['1.0.2', '1.0.2']);
  });
});
