/**
 * Rollout steps: canary host steps, pauses (for a person, or on the engine's clock) and verifies
 * between them — planned, run, explained, and taken up again where they stopped after a restart.
 */
import { describe, expect, it } from 'vitest';
import {
  batches,
  canary,
  describeRollout,
  entry,
  isRingmasterError,
  pause,
  percentages,
  planRollout,
  verify,
} from '../src/index.js';
import { world } from './helpers.js';

const hosts = ['h1', 'h2', 'h3', 'h4'];

describe('planRollout', () => {
  it('numbers host batches, pauses and verifies in order, leaving out a verify after the last batch', () => {
    const spec = canary([1, verify(), pause('manual'), '50%', pause('10m'), verify(), '100%', verify()]);
    expect(planRollout(spec, hosts)).toEqual({
      batches: [['h1'], ['h2'], ['h3', 'h4']],
      steps: [
        { step: 1, batch: 0 },
        { step: 2, verify: true },
        { step: 3, pause: 'manual' },
        { step: 4, batch: 1 },
        { step: 5, pause: 600_000 },
        { step: 6, verify: true },
        { step: 7, batch: 2 },
      ],
    });
    expect(describeRollout(spec)).toBe(
      'steps 1 host→verify→pause→50%→pause 10m→verify→100%→verify, max failures 0, then rollback',
    );
  });

  it('adds the hosts a last step leaves out, verifies between batches when asked, and keeps the old plans', () => {
    expect(planRollout(canary([1, pause('manual')]), hosts)).toEqual({
      batches: [['h1'], ['h2', 'h3', 'h4']],
      steps: [
        { step: 1, batch: 0 },
        { step: 2, pause: 'manual' },
        { step: 3, batch: 1 },
      ],
    });
    expect(planRollout(batches(2, { verifyEach: true }), hosts).steps).toEqual([
      { step: 1, batch: 0 },
      { step: 2, verify: true },
      { step: 3, batch: 1 },
    ]);
    // No pause or verify: no steps recorded, the batches as before.
    expect(planRollout(percentages([25, 50]), hosts)).toEqual({ batches: [['h1'], ['h2'], ['h3', 'h4']] });
  });

  it('names the bad step', () => {
    for (const [bad, path] of [
      [() => canary([2, 1]), /rollout\.steps\[1\]: expected increasing host steps/],
      [() => canary(['50%', '10%']), /rollout\.steps\[1\]: expected increasing host steps/],
      [() => pause('soon'), /pause\.pause: expected "manual" or a duration such as "10m", got "soon"/],
      [
        () => canary([{ wait: 1 } as never]),
        /rollout\.steps\[0\]: expected a percentage, \{ hosts \}, \{ pause \} or \{ verify: true \}/,
      ],
      [() => canary([{ pause: 'manual', verify: true } as never]), /rollout\.steps\[0\]/],
    ] as const) {
      expect(bad).toThrow(path);
    }
  });
});

describe('pauses', () => {
  it('waits for a person: nothing moves, explain says so, the approvers are told once, and resume goes on', async () => {
    const w = await world({ hosts: 4, rollout: canary([1, pause('manual'), '100%']) });
    await w.engine.tick();
    expect(await w.versions('eng')).toEqual(['1.0.1', undefined, undefined, undefined]);
    const e = await w.engine.explain({ pipeline: 'app', ring: 'eng' });
    expect(e.summary).toBe(
      'deploy eng#1 of 1.0.1 to eng is paused at step 2 of 3 (pause for a person), 1/4 hosts done: it waits for a person to resume it (ringmaster resume app eng) or abort it (ringmaster abort app eng)',
    );
    const before = (await w.engine.ledger.read()).length;
    for (let i = 0; i < 3; i++) await w.engine.tick();
    w.clock.advance(24 * 3_600_000);
    await w.engine.tick();
    // A pause that waits for a person writes nothing while it waits (a notice already sent aside).
    const after = await w.engine.ledger.read();
    expect(after.slice(before).filter((r) => !r.type.startsWith('notification.'))).toEqual([]);
    expect(await w.versions('eng')).toEqual(['1.0.1', undefined, undefined, undefined]);
    expect(w.sent.filter((n) => n.summary.includes('waits for a person'))).toHaveLength(1);

    const resumed = await w.engine.resume({
      pipeline: 'app',
      ring: 'eng',
      by: 'alice',
      reason: 'canary looks fine',
    });
    expect(resumed).toMatchObject({
      rollout: 'eng#1',
      step: 2,
      summary: { outcome: 'succeeded', verified: true },
    });
    expect(await w.versions('eng')).toEqual(['1.0.1', '1.0.1', '1.0.1', '1.0.1']);
    const record = (await w.engine.ledger.read()).find((r) => r.type === 'rollout.resumed');
    expect(record?.data).toEqual({
      pipeline: 'app',
      rollout: 'eng#1',
      step: 2,
      by: 'alice',
      reason: 'canary looks fine',
    });
    // Nothing is paused now: a second resume is refused and says why.
    const error = await w.engine.resume({ pipeline: 'app', ring: 'eng' }).catch((e: unknown) => e);
    expect(isRingmasterError(error, 'STATE')).toBe(true);
    expect((error as Error).message).toContain('app/eng has no paused rollout to resume');
  });

  it('a timed pause waits on the engine clock, across a restart, then the engine resumes it and says so', async () => {
    const w = await world({ hosts: 3, rollout: canary([1, pause('10m'), '100%']) });
    await w.engine.tick();
    const paused = (await w.engine.ledger.read()).find((r) => r.type === 'rollout.paused');
    expect(paused?.data).toMatchObject({ rollout: 'eng#1', step: 2, until: '2026-11-02T09:10:00.000Z' });
    w.clock.advance(5 * 60_000);
    await w.engine.tick();
    expect(await w.versions('eng')).toEqual(['1.0.1', undefined, undefined]);
    expect((await w.engine.explain({ pipeline: 'app', ring: 'eng' })).summary).toContain(
      'is paused at step 2 of 3 (pause 10m), 1/3 hosts done, until 2026-11-02T09:10:00.000Z (in 5m)',
    );
    // Killed in the pause: a new engine on the same ledger keeps the same end.
    await w.engine.close();
    const again = w.reopen();
    await again.start();
    await again.tick();
    expect(await w.versions('eng')).toEqual(['1.0.1', undefined, undefined]);
    w.clock.advance(5 * 60_000);
    await again.tick();
    expect(await w.versions('eng')).toEqual(['1.0.1', '1.0.1', '1.0.1']);
    const records = await again.ledger.read();
    expect(records.filter((r) => r.type === 'rollout.paused' && r.data.rollout === 'eng#1')).toHaveLength(1);
    expect(
      records.find((r) => r.type === 'rollout.resumed' && r.data.rollout === 'eng#1')?.data,
    ).toMatchObject({
      step: 2,
      by: 'engine',
      reason: 'the pause of 10m is over',
    });
  });
});

describe('verify steps', () => {
  it('a verify that fails on the second step aborts the rollout and rolls back only the hosts done', async () => {
    const seen: string[][] = [];
    const w = await world({
      hosts: 4,
      rollout: canary([1, verify(), 2, verify(), '100%'], { onFailure: 'rollback' }),
      gates: {
        eng: [
          {
            name: 'smoke',
            // 1.0.2 is bad once two hosts serve it.
            check: (ctx) => {
              seen.push([ctx.release.version, ...ctx.hosts]);
              return ctx.release.version !== '1.0.2' || ctx.hosts.length < 2 || 'GET /health: 500 on eng-2';
            },
          },
        ],
      },
    });
    await w.engine.tick();
    expect(await w.versions('eng')).toEqual(['1.0.1', '1.0.1', '1.0.1', '1.0.1']);
    seen.length = 0;
    await w.source.commit({ 'app.txt': 'v2\n' }, 'second');
    await w.engine.tick();
    // The gate saw the hosts done at each verify; eng-3 and eng-4 were never touched.
    expect(seen).toEqual([
      ['1.0.2', 'eng-1'],
      ['1.0.2', 'eng-1', 'eng-2'],
    ]);
    expect(await w.versions('eng')).toEqual(['1.0.1', '1.0.1', '1.0.1', '1.0.1']);
    const records = await w.engine.ledger.read();
    const rollout = records.filter((r) => r.type === 'rollout.started' && r.data.release === '1.0.2')[0]!;
    const id = (rollout.data as { rollout: string }).rollout;
    const steps = records.filter((r) => r.type === 'host.started' && r.data.rollout === id);
    expect(
      steps.map((r) => [(r.data as { host: string }).host, (r.data as { phase: string }).phase]),
    ).toEqual([
      ['eng-1', 'deploy'],
      ['eng-2', 'deploy'],
      ['eng-2', 'rollback'],
      ['eng-1', 'rollback'],
    ]);
    const finished = records.find((r) => r.type === 'rollout.finished' && r.data.rollout === id);
    expect(finished?.data).toMatchObject({ outcome: 'rolled-back' });
    expect((finished!.data as { reason: string }).reason).toBe(
      'step 4 of 5 (verify) failed: gate smoke failed: GET /health: 500 on eng-2; rolled back eng-2, eng-1',
    );
    const gates = records.filter((r) => r.type === 'gate.finished' && r.data.rollout === id);
    expect(gates.map((g) => [(g.data as { step?: number }).step, (g.data as { ok: boolean }).ok])).toEqual([
      [2, true],
      [4, false],
    ]);
    // The failure is the ring's, with its reason, and sandbox never got 1.0.2.
    const explained = await w.engine.explain({ pipeline: 'app', ring: 'eng' });
    expect(explained.summary).toContain('1.0.2 failed here');
    expect(explained.summary).toContain('gate smoke failed: GET /health: 500 on eng-2');
    expect(await w.versions('sandbox')).toEqual(['1.0.1', '1.0.1', '1.0.1', '1.0.1']);
  });

  it('a kill during a verify runs only the gates that did not finish, then goes on', async () => {
    let calls = 0;
    let stop: (() => void) | undefined;
    const w = await world({
      hosts: 2,
      rollout: batches(1, { verifyEach: true }),
      gates: {
        eng: [
          { name: 'first', check: () => true },
          {
            name: 'second',
            check: async (ctx) => {
              calls++;
              if (calls === 1) {
                // The engine stops while this gate runs: its result is never recorded.
                stop?.();
                await new Promise((r) => setTimeout(r, 50));
                return ctx.signal.aborted ? 'stopped' : true;
              }
              return true;
            },
          },
        ],
      },
    });
    await w.engine.start();
    stop = () => void w.engine.close();
    await w.engine.tick().catch(() => {});
    await w.engine.close();
    const records = await w.engine.ledger.read();
    expect(records.flatMap((r) => (r.type === 'gate.finished' ? [r.data.gate] : []))).toEqual(['first']);
    const again = w.reopen();
    await again.start();
    await again.tick();
    expect(await w.versions('eng')).toEqual(['1.0.1', '1.0.1']);
    const all = await again.ledger.read();
    const eng = all.filter((r) => r.type === 'gate.finished' && r.data.ring === 'eng');
    // first and second at step 2, then both again as the ring's verification at the end.
    expect(eng.map((r) => [(r.data as { gate: string }).gate, (r.data as { step?: number }).step])).toEqual([
      ['first', 2],
      ['second', 2],
      ['first', undefined],
      ['second', undefined],
    ]);
  });
});

describe('stopping and holding a paused rollout', () => {
  /** eng of 3 hosts with a canary that waits for a person: 1.0.1 everywhere, then 1.0.2 paused after eng-1. */
  async function pausedSecond() {
    const w = await world({ hosts: 3, rollout: canary([1, pause('manual'), '100%']) });
    await w.engine.tick();
    await w.engine.resume({ pipeline: 'app', ring: 'eng', by: 'alice' });
    await w.source.commit({ 'app.txt': 'v2\n' }, 'second');
    await w.engine.tick();
    expect(await w.versions('eng')).toEqual(['1.0.2', '1.0.1', '1.0.1']);
    return w;
  }

  it('abort rolls back only the hosts a paused canary updated, and records who and why', async () => {
    const w = await pausedSecond();
    const aborted = await w.engine.abort({
      pipeline: 'app',
      ring: 'eng',
      reason: 'error rate up',
      by: 'alice',
    });
    expect(aborted.summary).toMatchObject({ outcome: 'rolled-back' });
    expect(aborted.summary?.reason).toBe(
      'aborted by alice: error rate up (at step 2 of 3); rolled back eng-1',
    );
    expect(await w.versions('eng')).toEqual(['1.0.1', '1.0.1', '1.0.1']);
    const records = await w.engine.ledger.read();
    expect(records.find((r) => r.type === 'rollout.aborted')?.data).toEqual({
      pipeline: 'app',
      rollout: 'eng#2',
      by: 'alice',
      reason: 'error rate up',
    });
    // Nothing in flight now: a second abort is refused, and sandbox never got 1.0.2.
    const again = await w.engine
      .abort({ pipeline: 'app', ring: 'eng', reason: 'x' })
      .catch((e: unknown) => e);
    expect(isRingmasterError(again, 'STATE')).toBe(true);
    await w.engine.tick();
    expect(await w.versions('sandbox')).not.toContain('1.0.2');
  });

  it('a lock holds a paused rollout: a timed pause ending under it waits, and resume is refused until unlocked', async () => {
    const w = await world({ hosts: 2, rollout: canary([1, pause('10m'), '100%']) });
    await w.engine.tick();
    await w.engine.lock({ pipeline: 'app', ring: 'eng', reason: 'incident 7', by: 'bob' });
    w.clock.advance(11 * 60_000);
    await w.engine.tick();
    expect(await w.versions('eng')).toEqual(['1.0.1', undefined]);
    const refused = await w.engine
      .resume({ pipeline: 'app', ring: 'eng', by: 'alice' })
      .catch((e: unknown) => e);
    expect(isRingmasterError(refused, 'LOCKED')).toBe(true);
    expect((refused as Error).message).toContain('app/eng is locked by bob: incident 7; unlock it first');
    await w.engine.unlock({ pipeline: 'app', ring: 'eng', by: 'bob' });
    await w.engine.tick();
    expect(await w.versions('eng')).toEqual(['1.0.1', '1.0.1']);
  });

  it('a promote of another release while one is paused is refused, not carried out as the paused one', async () => {
    const w = await pausedSecond();
    await w.source.commit({ 'app.txt': 'v3\n' }, 'third');
    await w.engine.build();
    const refused = await w.engine
      .promote({ pipeline: 'app', ring: 'eng', release: '1.0.3', by: 'alice' })
      .catch((e: unknown) => e);
    expect(isRingmasterError(refused, 'LOCKED')).toBe(true);
    expect((refused as Error).message).toContain('app/eng has a rollout in flight (deploy eng#2 of 1.0.2)');
    expect(await w.versions('eng')).toEqual(['1.0.2', '1.0.1', '1.0.1']);
  });
});

describe('abort after a crash mid-batch', () => {
  it('undoes the hosts of the cut batch a dead runner had finished, and touches none it had not', async () => {
    const w = await world({ hosts: 4, rollout: batches(2) });
    await w.engine.tick();
    await w.source.commit({ 'app.txt': 'v2\n' }, 'second');
    await w.engine.build();
    // A runner installed 1.0.2 on eng-1, recorded it, and died before eng-2 of the same batch.
    const eng = w.app.rings[0]!;
    const artifact = (await w.engine.ledger.read()).find(
      (r) => r.type === 'release.created' && r.data.release === '1.0.2',
    )!.data as { artifact: Parameters<typeof eng.target.install>[1] };
    await eng.target.install('eng-1', artifact.artifact);
    const base = { pipeline: 'app', rollout: 'eng#2' };
    await w.engine.ledger.write(
      entry('rollout.started', {
        ...base,
        ring: 'eng',
        release: '1.0.2',
        kind: 'deploy',
        reason: 'test',
        strategy: eng.rollout,
        batches: [
          ['eng-1', 'eng-2'],
          ['eng-3', 'eng-4'],
        ],
      }),
      entry('host.started', {
        ...base,
        host: 'eng-1',
        from: { status: 'installed', version: '1.0.1' },
        phase: 'deploy',
      }),
      entry('host.finished', {
        ...base,
        host: 'eng-1',
        ok: true,
        state: { status: 'installed', version: '1.0.2' },
        phase: 'deploy',
      }),
    );
    await w.engine.close();
    const again = w.reopen();
    const aborted = await again.abort({ pipeline: 'app', ring: 'eng', reason: 'bad build', by: 'alice' });
    expect(aborted.summary).toMatchObject({ outcome: 'rolled-back' });
    expect(await w.versions('eng')).toEqual(['1.0.1', '1.0.1', '1.0.1', '1.0.1']);
    const steps = (await again.ledger.read()).flatMap((r) =>
      r.type === 'host.started' && r.data.rollout === 'eng#2' ? [`${r.data.host} ${r.data.phase}`] : [],
    );
    expect(steps).toEqual(['eng-1 deploy', 'eng-1 rollback']);
  });
});
