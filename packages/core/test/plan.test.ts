/** plan: what the next tick would do and why, and that asking never changes anything. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { entry, formatPlan, manual, oneAtATime, soak } from '../src/index.js';
import { rolloutInFlight, world } from './helpers.js';

describe('engine.plan', () => {
  it('names the builds, the promotions, the waits with their until, and the lock — and writes nothing', async () => {
    const w = await world({ policies: { sandbox: soak('24h'), prod: manual() } });
    await w.engine.tick();
    await w.source.commit({ 'app.txt': 'v2\n' }, 'second', 'bob');
    await w.engine.lock({ pipeline: 'app', ring: 'prod', reason: 'incident 42', by: 'carol' });
    const journal = join(w.dir, 'ledger', 'journal.jsonl');
    const before = await readFile(journal);

    // A deploy request in the repository (the seed's svn copy to prod/<timestamp>) made just now.
    const head = await w.source.head();
    await w.source.requestDeploy!({ ring: 'prod', revision: head.id, name: '2026-11-02-09-00' });

    const plan = await w.engine.plan();
    const app = plan.pipelines[0]!;
    expect(app.builds.map((b) => [b.author, b.message, b.from])).toEqual([['bob', 'second', 'source']]);
    expect(app.approvals).toMatchObject([
      { ring: 'prod', revision: head.id, name: '2026-11-02-09-00', known: true },
    ]);
    expect(app.rings.map((r) => [r.ring, r.action, r.version ?? null, r.until ?? null])).toEqual([
      ['eng', 'idle', null, null],
      ['sandbox', 'wait', '1.0.1', '2026-11-03T09:00:00.000Z'],
      ['prod', 'locked', null, null],
    ]);
    expect(app.rings[1]!.reason).toContain('soaking');
    expect(app.rings[2]!.reason).toContain('locked by carol');
    expect(app.rings[2]!.reason).toContain('incident 42');
    expect(formatPlan(plan)).toContain('sandbox: wait until 2026-11-03T09:00:00.000Z with 1.0.1');

    expect(Buffer.compare(await readFile(journal), before)).toBe(0);
    expect(await w.versions('sandbox')).toEqual([undefined, undefined]);

    // After the soak the plan says promote 1.0.1, with the policy's reason; the next tick does just that.
    w.clock.advance(24 * 3_600_000);
    await w.engine.unlock({ pipeline: 'app', ring: 'prod' });
    const later = await w.engine.plan({ poll: false });
    expect(later.pipelines[0]!.builds).toEqual([]);
    expect(later.pipelines[0]!.rings[1]).toMatchObject({
      action: 'promote',
      version: '1.0.1',
      reason: '1.0.1 is being promoted to sandbox: soaked 1d',
    });
    await w.engine.tick();
    expect(await w.versions('sandbox')).toEqual(['1.0.1', '1.0.1']);
  });

  it('an interrupted rollout is planned as resume, a fresh one as verifying (its gates)', async () => {
    const w = await world({ gates: { eng: [{ name: 'unit', run: ['true'] }] } });
    // Build 1.0.2 with eng locked, then record a rollout start without running it: what a crash
    // right after the rollout began leaves in the ledger.
    await w.engine.tick();
    await w.source.commit({ 'app.txt': 'v2\n' }, 'second', 'bob');
    await w.engine.lock({ pipeline: 'app', ring: 'eng', reason: 'hold', by: 'test' });
    await w.engine.tick();
    await w.engine.unlock({ pipeline: 'app', ring: 'eng' });
    const spec = oneAtATime();
    await rolloutInFlight(w.engine, '1.0.2', spec);
    const plan = await w.engine.plan({ poll: false });
    expect(plan.pipelines[0]!.rings[0]).toMatchObject({
      action: 'resume',
      rollout: 'eng#2',
      version: '1.0.2',
    });
    expect(plan.pipelines[0]!.rings[0]!.reason).toContain('0/2 hosts done');
    // Its hosts done and the rollout finished, but the gates not run yet: the plan runs them next.
    await w.engine.ledger.write(
      entry('rollout.finished', { pipeline: 'app', rollout: 'eng#2', outcome: 'succeeded', reason: 'test' }),
    );
    const gates = await w.engine.plan({ poll: false });
    expect(gates.pipelines[0]!.rings[0]).toMatchObject({
      action: 'verifying',
      version: '1.0.2',
      gates: ['unit'],
    });
  });
});
