/** Approvals that could never count are refused before anything is written. */
import { describe, expect, it } from 'vitest';
import { all, any, auto, isRingmasterError, manual, soak, window } from '../src/index.js';
import { world } from './helpers.js';

const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (e: unknown) => e,
  );

describe('approval validation', () => {
  it('combinators union the approvers of their manual() parts; time policies take none; manual() takes anyone', () => {
    expect(manual({ group: ['alice'] }).approvers).toEqual(['alice']);
    expect(manual().approvers).toBeUndefined();
    expect(auto().approvers).toEqual([]);
    expect(all(soak('1h'), window({ timeZone: 'UTC' })).approvers).toEqual([]);
    expect(
      all(manual({ group: ['alice', 'bob'] }), any(manual({ group: ['bob', 'carol'] }), soak('1h')))
        .approvers,
    ).toEqual(['alice', 'bob', 'carol']);
    expect(any(manual({ group: ['alice'] }), manual()).approvers).toBeUndefined();
  });

  it('an approver outside the group is refused with a POLICY error naming them and the group; the ledger is untouched', async () => {
    const w = await world({ policies: { prod: all(manual({ group: ['oncall', 'carol'] }), soak('1h')) } });
    await w.engine.tick();
    const seq = w.engine.ledger.state.lastSeq;
    const error = await refusal(
      w.engine.approve({ pipeline: 'app', ring: 'prod', release: '1.0.1', by: 'mallory' }),
    );
    expect(isRingmasterError(error, 'POLICY')).toBe(true);
    expect((error as Error).message).toContain('mallory cannot approve for app/prod');
    expect((error as Error).message).toContain('oncall, carol');
    expect(w.engine.ledger.state.lastSeq).toBe(seq);
    expect((await w.store.read()).filter((r) => r.type === 'approval.recorded')).toEqual([]);

    await w.engine.approve({ pipeline: 'app', ring: 'prod', release: '1.0.1', by: 'carol' });
    expect(w.engine.ledger.state.pipelines.get('app')!.approvals.map((a) => a.by)).toEqual(['carol']);
  });

  it('a ring that takes no approvals refuses one; unknown rings and releases stay NOT_FOUND', async () => {
    const w = await world();
    await w.engine.tick();
    const seq = w.engine.ledger.state.lastSeq;
    const auto = await refusal(
      w.engine.approve({ pipeline: 'app', ring: 'sandbox', release: '1.0.1', by: 'bob' }),
    );
    expect(isRingmasterError(auto, 'POLICY')).toBe(true);
    expect((auto as Error).message).toContain('takes no approvals');
    const ring = await refusal(
      w.engine.approve({ pipeline: 'app', ring: 'qa', release: '1.0.1', by: 'bob' }),
    );
    expect(isRingmasterError(ring, 'NOT_FOUND')).toBe(true);
    const release = await refusal(
      w.engine.approve({ pipeline: 'app', ring: 'prod', release: '9.9.9', by: 'bob' }),
    );
    expect(isRingmasterError(release, 'NOT_FOUND')).toBe(true);
    expect(w.engine.ledger.state.lastSeq).toBe(seq);
  });
});
