/**
 * Promises the README makes, pinned to exact observables, so that a promise cannot quietly
 * weaken: a soak counts from the moment the feeding ring verified the release; a failure notice
 * goes to the committer's own address; a release rejected or rolled back in a ring is rolled out
 * there exactly once, however many passes follow; an approval counts only for the revision it
 * names.
 */
import { describe, expect, it } from 'vitest';
import { type LedgerRecord, type ManualClock, manual, soak } from '../src/index.js';
import { world } from './helpers.js';

const MINUTE = 60_000;
/** A smoke test (run in a checkout of the release) that fails when smoke.txt says FAIL. */
const SMOKE = ['sh', '-c', '! grep -qs FAIL smoke.txt'];

/** Deploy rollouts of `version` into `ring`, from the ledger. */
function deploysOf(records: readonly LedgerRecord[], ring: string, version: string): number {
  const id = records.find((r) => r.type === 'release.created' && r.data.version === version)?.data.release;
  return records.filter(
    (r) =>
      r.type === 'rollout.started' &&
      r.data.ring === ring &&
      r.data.release === id &&
      r.data.kind === 'deploy',
  ).length;
}

describe('a soak', () => {
  it('counts from the moment the feeding ring verified the release, not from its build or its rollout', async () => {
    let clock: ManualClock | undefined;
    const w = await world({
      policies: { sandbox: manual(), prod: soak('1h') },
      // The smoke test takes 20 minutes: sandbox verifies the release 20 minutes after its rollout began.
      gates: { sandbox: [{ name: 'smoke', check: () => void clock!.advance(20 * MINUTE) }] },
    });
    clock = w.clock;
    await w.engine.tick(); // 09:00 built, eng verified; sandbox waits for an approval
    w.clock.advance(3 * 60 * MINUTE);
    await w.engine.approve({ pipeline: 'app', ring: 'sandbox', release: '1.0.1', by: 'carol' });
    await w.engine.tick(); // 12:00 sandbox rollout, 12:20 verified
    expect(await w.versions('sandbox')).toEqual(['1.0.1', '1.0.1']);

    const why = await w.engine.explain({ pipeline: 'app', ring: 'prod' });
    expect(why.action).toBe('wait');
    expect(why.candidate?.decision).toMatchObject({ verdict: 'wait', until: '2026-11-02T13:20:00.000Z' });

    w.clock.advance(59 * MINUTE); // 13:19: an hour after the build and after the rollout began, not after verification
    await w.engine.tick();
    expect(await w.versions('prod')).toEqual([undefined, undefined]);
    w.clock.advance(MINUTE); // 13:20
    await w.engine.tick();
    expect(await w.versions('prod')).toEqual(['1.0.1', '1.0.1']);
  });
});

describe('a failure notice', () => {
  it("goes to the committer's own address, and no one else's", async () => {
    const authors = { alice: 'alice@corp.example', bob: 'bob@corp.example', carol: 'carol@corp.example' };
    const w = await world({
      authors,
      buildSteps: [
        ['sh', '-c', '! grep -q BROKEN app.txt || { echo "syntax error in app.txt" >&2; exit 2; }'],
      ],
      gates: { sandbox: [{ name: 'smoke', run: SMOKE }] },
    });
    await w.engine.tick(); // alice's commit ships
    await w.source.commit({ 'app.txt': 'BROKEN\n' }, 'Break the build', 'bob');
    await w.engine.tick();
    await w.source.commit(
      { 'app.txt': 'v3\n', 'smoke.txt': 'FAIL\n' },
      'Fix the build, break the smoke test',
      'carol',
    );
    await w.engine.tick();

    const failures = w.sent.filter((n) => !n.ok);
    expect(failures.map((n) => [n.kind, n.author, n.to])).toEqual([
      ['build', 'bob', 'bob@corp.example'],
      ['gate', 'carol', 'carol@corp.example'],
    ]);
    expect(failures[0]!.log).toContain('syntax error in app.txt');
    expect(failures[1]!.summary).toContain('gate smoke');
  });
});

describe('a release rejected or rolled back in a ring', () => {
  it('is rolled out to that ring exactly once, however many passes and converges follow', async () => {
    const w = await world({
      gates: { sandbox: [{ name: 'smoke', run: SMOKE }] },
    });
    await w.engine.tick(); // 1.0.1 everywhere
    await w.source.commit({ 'smoke.txt': 'FAIL\n' }, 'Break the smoke test', 'bob');
    await w.engine.tick(); // 1.0.2: eng, then sandbox fails its gate and rolls back
    await w.source.commit({ 'smoke.txt': 'ok\n' }, 'Fix the smoke test', 'bob');
    await w.engine.tick();
    expect(await w.versions('prod')).not.toContain('1.0.2');
    const prodRunning = (await w.versions('prod'))[0]!;
    expect(prodRunning).not.toBe('1.0.1'); // a newer, good release reached prod
    await w.engine.rollback({ pipeline: 'app', ring: 'prod' });
    expect(await w.versions('prod')).toEqual(['1.0.1', '1.0.1']);

    for (let pass = 0; pass < 12; pass++) {
      w.clock.advance(60 * MINUTE);
      await w.engine.tick();
      if (pass % 4 === 0) await w.engine.converge({ pipeline: 'app' });
    }
    const records = await w.store.read();
    expect(deploysOf(records, 'sandbox', '1.0.2')).toBe(1);
    expect(deploysOf(records, 'prod', prodRunning)).toBe(1);
    expect(await w.versions('sandbox')).not.toContain('1.0.2');
    expect(await w.versions('prod')).toEqual(['1.0.1', '1.0.1']);
    expect(w.errors).toEqual([]);
  });
});

describe('an approval', () => {
  it('counts only for the revision it names', async () => {
    const w = await world({ policies: { prod: manual() } });
    await w.engine.tick(); // 1.0.1 waits for prod's approval
    await w.source.commit({ 'app.txt': 'v2\n' }, 'second', 'alice');
    await w.engine.tick(); // 1.0.2 verified in sandbox, waits too
    await w.engine.approve({ pipeline: 'app', ring: 'prod', release: '1.0.1', by: 'carol' });
    for (let pass = 0; pass < 5; pass++) {
      w.clock.advance(60 * MINUTE);
      await w.engine.tick();
    }
    const records = await w.store.read();
    expect(deploysOf(records, 'prod', '1.0.1')).toBe(1);
    expect(deploysOf(records, 'prod', '1.0.2')).toBe(0);
    expect(await w.versions('prod')).toEqual(['1.0.1', '1.0.1']);
    const why = await w.engine.explain({ pipeline: 'app', ring: 'prod' });
    expect(why.action).toBe('wait');
    expect(why.candidate?.version).toBe('1.0.2');
    expect(why.summary).toBe('1.0.2 waits for prod: waiting for 1 more approval');

    await w.engine.approve({ pipeline: 'app', ring: 'prod', release: '1.0.2', by: 'carol' });
    await w.engine.tick();
    expect(await w.versions('prod')).toEqual(['1.0.2', '1.0.2']);
  });
});
