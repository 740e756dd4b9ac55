/** Policy replay over a recorded history, with exact times (and a deploy window across a DST change). */
import { describe, expect, it } from 'vitest';
import { all, isRingmasterError, manual, replayPolicy, soak, window } from '../src/index.js';
import { world } from './helpers.js';

/**
 * History (Europe/Berlin leaves summer time on Sunday 2026-10-25 at 03:00 local):
 * 1.0.1 verified in sandbox Thu 2026-10-22 06:00Z (08:00 CEST); approved for prod by carol at 07:30Z;
 * 1.0.2 verified in sandbox Fri 2026-10-23 13:00Z (15:00 CEST); approved by carol Sat 24 at 10:00Z.
 */
async function history() {
  const w = await world({ start: '2026-10-22T06:00:00Z', policies: { prod: manual() } });
  await w.engine.tick();
  w.clock.set('2026-10-22T07:30:00Z');
  await w.engine.approve({ pipeline: 'app', ring: 'prod', release: '1.0.1', by: 'carol' });
  await w.engine.tick();
  w.clock.set('2026-10-23T13:00:00Z');
  await w.source.commit({ 'app.txt': 'v2\n' }, 'second', 'bob');
  await w.engine.tick();
  w.clock.set('2026-10-24T10:00:00Z');
  await w.engine.approve({ pipeline: 'app', ring: 'prod', release: '1.0.2', by: 'carol' });
  await w.engine.tick();
  w.clock.set('2026-11-01T00:00:00Z');
  return w;
}

describe('replayPolicy', () => {
  it('soak 24h: each release promotes exactly a day after it was ready; the real rollout time is shown beside it', async () => {
    const w = await history();
    const results = replayPolicy({ policy: soak('24h'), history: w.engine, pipeline: 'app', ring: 'prod' });
    expect(results.map((r) => [r.version, r.readyAt, r.promoteAt, r.actualAt])).toEqual([
      ['1.0.1', '2026-10-22T06:00:00.000Z', '2026-10-23T06:00:00.000Z', '2026-10-22T07:30:00.000Z'],
      ['1.0.2', '2026-10-23T13:00:00.000Z', '2026-10-24T13:00:00.000Z', '2026-10-24T10:00:00.000Z'],
    ]);
    expect(results[0]!.reason).toBe('soaked 1d');
  });

  it('a Mon–Fri 10:00–12:00 Berlin window: the Friday-afternoon release waits over the DST change to 09:00Z Monday', async () => {
    const w = await history();
    const policy = window({ days: ['mon-fri'], hours: '10:00-12:00', timeZone: 'Europe/Berlin' });
    const results = replayPolicy({ policy, history: w.engine, pipeline: 'app', ring: 'prod' });
    expect(results.map((r) => [r.version, r.promoteAt])).toEqual([
      ['1.0.1', '2026-10-22T08:00:00.000Z'], // 10:00 CEST (UTC+2)
      ['1.0.2', '2026-10-26T09:00:00.000Z'], // 10:00 CET (UTC+1), after the change
    ]);
  });

  it('approvals are replayed at the time they were recorded, with the rest of the policy', async () => {
    const w = await history();
    const policy = all(
      manual({ group: ['carol'] }),
      window({ days: ['mon-fri'], hours: '10:00-12:00', timeZone: 'Europe/Berlin' }),
    );
    const results = replayPolicy({ policy, history: w.engine, pipeline: 'app', ring: 'prod' });
    expect(results.map((r) => [r.version, r.promoteAt])).toEqual([
      ['1.0.1', '2026-10-22T08:00:00.000Z'], // approved 07:30Z, window opens 08:00Z
      ['1.0.2', '2026-10-26T09:00:00.000Z'], // approved Saturday, window opens Monday
    ]);
  });

  it('a release that would not have promoted by the end of the history says why; from/to filter; unknown ring is NOT_FOUND', async () => {
    const w = await history();
    const strict = replayPolicy({
      policy: manual({ group: ['dave'] }),
      history: w.engine,
      pipeline: 'app',
      ring: 'prod',
      from: '2026-10-23T00:00:00Z',
    });
    expect(strict).toHaveLength(1);
    expect(strict[0]).toMatchObject({ version: '1.0.2', promoteAt: null });
    expect(strict[0]!.reason).toContain('carol is not in the approvers group');

    const short = replayPolicy({
      policy: soak('1w'),
      history: w.engine,
      pipeline: 'app',
      ring: 'prod',
      to: '2026-10-25T00:00:00Z',
    });
    expect(short.map((r) => r.promoteAt)).toEqual([null, null]);
    expect(short[0]!.reason).toContain('history ends 2026-10-25T00:00:00.000Z');

    const error = (() => {
      try {
        replayPolicy({ policy: soak('1h'), history: w.engine, pipeline: 'app', ring: 'qa' });
      } catch (e) {
        return e;
      }
    })();
    expect(isRingmasterError(error, 'NOT_FOUND')).toBe(true);
  });
});
