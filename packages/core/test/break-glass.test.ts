/**
 * A freeze binds people too: during one, automatic promotion waits (to the minute, across a DST
 * change) and a promote by hand is refused, unless someone in a configured group breaks glass
 * with a reason — recorded before the rollout it lets through, and notified.
 */
import { describe, expect, it } from 'vitest';
import { all, auto, freeze, isRingmasterError } from '../src/index.js';
import { world } from './helpers.js';

// Fridays from 16:00 Berlin time; 2026-10-25 ends summer time there (UTC+2 → UTC+1).
const fridays = () =>
  all(
    auto(),
    freeze({
      timeZone: 'Europe/Berlin',
      periods: [{ days: ['fri'], hours: '16:00-24:00', reason: 'no Friday deploys' }],
    }),
  );

async function error(work: Promise<unknown>): Promise<Error & { code?: string }> {
  return work.then(
    () => {
      throw new Error('expected a refusal');
    },
    (e: unknown) => e as Error,
  );
}

describe('break glass', () => {
  it('a freeze after a DST change holds automatic promotion to its local end, then lets it through', async () => {
    // Friday 2026-10-30, 16:30 in Berlin (CET, UTC+1): frozen until Saturday 00:00 CET = 23:00Z.
    const w = await world({ start: '2026-10-30T15:30:00Z', policies: { prod: fridays() } });
    await w.engine.tick();
    expect(await w.versions('sandbox')).toEqual(['1.0.1', '1.0.1']);
    expect(await w.versions('prod')).toEqual([undefined, undefined]);
    const explain = await w.engine.explain({ pipeline: 'app', ring: 'prod' });
    expect(explain.candidate?.decision).toMatchObject({ verdict: 'wait', until: '2026-10-30T23:00:00.000Z' });
    expect(explain.summary).toContain(
      'frozen: no Friday deploys (until 2026-10-31T00:00:00+01:00 Europe/Berlin)',
    );
    w.clock.advance(7 * 3_600_000 + 29 * 60_000); // 22:59Z: still frozen
    await w.engine.tick();
    expect(await w.versions('prod')).toEqual([undefined, undefined]);
    w.clock.advance(60_000);
    await w.engine.tick();
    expect(await w.versions('prod')).toEqual(['1.0.1', '1.0.1']);
  });

  it('a promote by hand during a freeze is refused; breaking glass needs a reason and an allowed group, and is recorded and notified', async () => {
    const w = await world({ start: '2026-10-23T14:30:00Z', policies: { prod: fridays() } }); // 16:30 CEST
    await w.engine.tick();
    await w.engine.close();
    // As the CLI runs it with identities: approvals count only signed in, and the freeze still binds.
    const engine = w.reopen({ breakGlass: { groups: ['oncall'] }, authenticatedApprovals: true });
    const plain = await error(engine.promote({ pipeline: 'app', ring: 'prod', by: 'alice' }));
    expect(isRingmasterError(plain, 'STATE')).toBe(true);
    expect(plain.message).toContain('app/prod is frozen (frozen: no Friday deploys');
    expect(plain.message).toContain('break glass with a reason');
    expect(plain.message).toContain('allowed to oncall');
    const stranger = await error(
      engine.promote({
        pipeline: 'app',
        ring: 'prod',
        by: 'bob',
        breakGlass: { reason: 'I want to', groups: ['dev'] },
      }),
    );
    expect(isRingmasterError(stranger, 'FORBIDDEN')).toBe(true);
    expect(stranger.message).toBe(
      '[ringmaster] [engine] bob may not break glass in app/prod: only oncall may',
    );
    expect(await w.versions('prod')).toEqual([undefined, undefined]);

    const summary = await engine.promote({
      pipeline: 'app',
      ring: 'prod',
      by: 'alice',
      breakGlass: { reason: 'INC-9: payments down', groups: ['oncall'] },
    });
    expect(summary).toMatchObject({ outcome: 'succeeded', verified: true });
    expect(await w.versions('prod')).toEqual(['1.0.1', '1.0.1']);
    const records = await engine.ledger.read();
    const broke = records.findIndex((r) => r.type === 'ring.break-glass');
    const started = records.findIndex((r) => r.type === 'rollout.started' && r.data.ring === 'prod');
    expect(broke).toBeGreaterThan(-1);
    expect(broke).toBeLessThan(started);
    expect(records[broke]!.data).toMatchObject({
      ring: 'prod',
      release: '1.0.1',
      by: 'alice',
      reason: 'INC-9: payments down',
      groups: ['oncall'],
    });
    expect((records[started]!.data as { reason: string }).reason).toBe(
      'promoted by alice through a freeze (break-glass: INC-9: payments down)',
    );
    await engine.tick(); // delivers the notifications queued
    expect(w.sent.find((n) => n.kind === 'break-glass')?.summary).toBe(
      'alice broke glass: 1.0.1 goes to prod during a freeze (frozen: no Friday deploys (until 2026-10-24T00:00:00+02:00 Europe/Berlin)): INC-9: payments down',
    );
  });

  it('without breakGlass groups nobody may break glass, and a rollback is never frozen', async () => {
    const w = await world({ start: '2026-10-23T10:00:00Z', policies: { prod: fridays() } }); // 12:00 CEST: open
    await w.engine.tick();
    await w.source.commit({ 'app.txt': 'v2\n' }, 'second');
    await w.engine.tick();
    expect(await w.versions('prod')).toEqual(['1.0.2', '1.0.2']);
    w.clock.advance(5 * 3_600_000); // 17:00 CEST: frozen
    const refused = await error(
      w.engine.promote({
        pipeline: 'app',
        ring: 'prod',
        release: '1.0.1',
        breakGlass: { reason: 'x', groups: ['oncall'] },
      }),
    );
    expect(isRingmasterError(refused, 'FORBIDDEN')).toBe(true);
    expect(refused.message).toContain('no group may (the config has no access.breakGlass)');
    // Rolling back is how a freeze is kept safe: it is never refused for one.
    const back = await w.engine.rollback({ pipeline: 'app', ring: 'prod', by: 'alice' });
    expect(back.outcome).toBe('succeeded');
    expect(await w.versions('prod')).toEqual(['1.0.1', '1.0.1']);
  });
});
