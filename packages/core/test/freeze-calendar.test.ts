/** freeze() with recurring and dated periods in a time zone, on the injected clock, across DST changes. */
import { describe, expect, it } from 'vitest';
import { freeze, isRingmasterError, manualClock, type PolicyContext } from '../src/index.js';

const release = { id: '1.0.7', version: '1.0.7', revision: 'r7', author: 'alice' };
const ctx = (now: Date | string): PolicyContext => ({
  now: new Date(now),
  pipeline: 'app',
  ring: 'prod',
  release,
  readyAt: new Date('2026-03-02T09:00:00Z'),
  approvals: [],
});

/** The ConfigError a factory call throws. */
const configError = (build: () => unknown): Error => {
  try {
    build();
  } catch (error) {
    expect(isRingmasterError(error, 'CONFIG')).toBe(true);
    return error as Error;
  }
  throw new Error('expected a ConfigError');
};

describe('weekly freezes in local time', () => {
  // Europe/Berlin leaves summer time on Sunday 2026-10-25 and enters it on Sunday 2027-03-28.
  const friday = freeze({
    reason: 'no Friday deploys',
    timeZone: 'Europe/Berlin',
    periods: [{ days: ['fri'], hours: '16:00-24:00' }],
  });

  it('freezes Friday after 16:00 local time before and after the October change', () => {
    // Fri 2026-10-23 is CEST (+02:00): 16:00-24:00 local = 14:00-22:00 UTC.
    expect(friday.evaluate(ctx('2026-10-23T13:59:00Z'))).toEqual({
      verdict: 'promote',
      reason: 'not frozen',
    });
    expect(friday.evaluate(ctx('2026-10-23T14:00:00Z'))).toEqual({
      verdict: 'wait',
      until: '2026-10-23T22:00:00.000Z',
      reason: 'frozen: no Friday deploys (until 2026-10-24T00:00:00+02:00 Europe/Berlin)',
    });
    expect(friday.evaluate(ctx('2026-10-23T21:59:30Z'))).toMatchObject({ until: '2026-10-23T22:00:00.000Z' });
    expect(friday.evaluate(ctx('2026-10-23T22:00:00Z')).verdict).toBe('promote');
    // Fri 2026-10-30 is CET (+01:00): 15:00-23:00 UTC.
    expect(friday.evaluate(ctx('2026-10-30T14:59:00Z')).verdict).toBe('promote');
    expect(friday.evaluate(ctx('2026-10-30T15:00:00Z'))).toEqual({
      verdict: 'wait',
      until: '2026-10-30T23:00:00.000Z',
      reason: 'frozen: no Friday deploys (until 2026-10-31T00:00:00+01:00 Europe/Berlin)',
    });
    expect(friday.evaluate(ctx('2026-10-30T23:00:00Z')).verdict).toBe('promote');
  });

  it('freezes Friday after 16:00 local time before and after the March change', () => {
    // Fri 2027-03-26 is CET: 15:00-23:00 UTC; Fri 2027-04-02 is CEST: 14:00-22:00 UTC.
    expect(friday.evaluate(ctx('2027-03-26T14:59:00Z')).verdict).toBe('promote');
    expect(friday.evaluate(ctx('2027-03-26T18:07:00Z'))).toMatchObject({
      verdict: 'wait',
      until: '2027-03-26T23:00:00.000Z',
    });
    expect(friday.evaluate(ctx('2027-03-26T23:00:00Z')).verdict).toBe('promote');
    expect(friday.evaluate(ctx('2027-04-02T13:59:00Z')).verdict).toBe('promote');
    expect(friday.evaluate(ctx('2027-04-02T14:00:00Z'))).toMatchObject({
      verdict: 'wait',
      until: '2027-04-02T22:00:00.000Z',
    });
    expect(friday.evaluate(ctx('2027-04-02T22:00:00Z')).verdict).toBe('promote');
  });

  it('two weeks minute by minute across the October change are frozen exactly 2 × 8 hours', () => {
    const clock = manualClock('2026-10-19T00:00:00Z');
    let frozen = 0;
    for (let minute = 0; minute < 14 * 24 * 60; minute++) {
      if (friday.evaluate(ctx(clock.now())).verdict === 'wait') frozen++;
      clock.advance(60_000);
    }
    expect(frozen).toBe(2 * 8 * 60);
  });

  it('hours that wrap midnight belong to the day they start on', () => {
    const night = freeze({ timeZone: 'UTC', periods: [{ days: ['fri'], hours: '22:00-02:00' }] });
    expect(night.evaluate(ctx('2026-03-07T01:30:00Z'))).toMatchObject({
      verdict: 'wait',
      until: '2026-03-07T02:00:00.000Z',
    });
    expect(night.evaluate(ctx('2026-03-06T01:30:00Z')).verdict).toBe('promote'); // Friday 01:30
  });

  it('a weekly period covering the whole week is blocked: it never ends', () => {
    const always = freeze({ reason: 'migration', timeZone: 'UTC', periods: [{ days: ['mon-sun'] }] });
    expect(always.evaluate(ctx('2026-03-06T12:00:00Z'))).toEqual({
      verdict: 'blocked',
      reason: 'frozen: migration (no end set)',
    });
  });
});

describe('dated freezes and lists of dates', () => {
  it('a winter freeze across the year end runs from local midnight to local midnight', () => {
    const winter = freeze({
      timeZone: 'Europe/Berlin',
      periods: [{ reason: 'winter holiday', from: '2026-12-20', until: '2027-01-04' }],
    });
    expect(winter.evaluate(ctx('2026-12-19T22:59:00Z')).verdict).toBe('promote');
    expect(winter.evaluate(ctx('2026-12-19T23:00:00Z'))).toEqual({
      verdict: 'wait',
      until: '2027-01-03T23:00:00.000Z',
      reason: 'frozen: winter holiday (until 2027-01-04T00:00:00+01:00 Europe/Berlin)',
    });
    expect(winter.evaluate(ctx('2027-01-01T00:00:00Z'))).toMatchObject({ until: '2027-01-03T23:00:00.000Z' });
    expect(winter.evaluate(ctx('2027-01-03T23:00:00Z'))).toEqual({
      verdict: 'promote',
      reason: 'not frozen',
    });
  });

  it('a dated period across the March change starts and ends at local midnight', () => {
    // Europe/Berlin enters summer time on Sunday 2026-03-29.
    const weekend = freeze({
      timeZone: 'Europe/Berlin',
      periods: [{ from: '2026-03-28', until: '2026-03-30' }],
    });
    expect(weekend.evaluate(ctx('2026-03-27T22:59:00Z')).verdict).toBe('promote');
    expect(weekend.evaluate(ctx('2026-03-27T23:00:00Z'))).toMatchObject({
      verdict: 'wait',
      until: '2026-03-29T22:00:00.000Z',
    });
  });

  it('takes instants with an offset or Z, and local times, and needs no time zone for instants', () => {
    const utc = freeze({ periods: [{ from: '2026-06-01T08:00:00+02:00', until: '2026-06-01T10:30:00Z' }] });
    expect(utc.evaluate(ctx('2026-06-01T05:59:00Z')).verdict).toBe('promote');
    expect(utc.evaluate(ctx('2026-06-01T06:00:00Z'))).toEqual({
      verdict: 'wait',
      until: '2026-06-01T10:30:00.000Z',
      reason: 'frozen: deploy freeze (until 2026-06-01T10:30:00.000Z)',
    });
    const local = freeze({
      timeZone: 'Asia/Kolkata',
      periods: [{ from: '2026-06-01T09:00', until: '2026-06-01T17:30' }],
    });
    expect(local.evaluate(ctx('2026-06-01T05:00:00Z'))).toMatchObject({ until: '2026-06-01T12:00:00.000Z' });
  });

  it('a list of dates freezes whole local days; consecutive dates chain', () => {
    const days = freeze({
      reason: 'earnings',
      timeZone: 'America/New_York',
      periods: [{ dates: ['2027-02-14', '2027-03-01', '2027-03-02'] }],
    });
    // 2027-02-14 in New York (EST, -05:00): 05:00 UTC to 05:00 UTC the next day.
    expect(days.evaluate(ctx('2027-02-14T04:59:00Z')).verdict).toBe('promote');
    expect(days.evaluate(ctx('2027-02-14T05:00:00Z'))).toEqual({
      verdict: 'wait',
      until: '2027-02-15T05:00:00.000Z',
      reason: 'frozen: earnings (until 2027-02-15T00:00:00-05:00 America/New_York)',
    });
    expect(days.evaluate(ctx('2027-02-15T05:00:00Z')).verdict).toBe('promote');
    expect(days.evaluate(ctx('2027-03-01T12:00:00Z'))).toMatchObject({ until: '2027-03-03T05:00:00.000Z' });
  });

  it('a date starts when the day does, where clocks skip midnight', () => {
    // America/Santiago jumps from 00:00 to 01:00 on 2026-09-06: the day begins at 01:00 (-03:00).
    const day = freeze({ timeZone: 'America/Santiago', periods: [{ dates: ['2026-09-06'] }] });
    expect(day.evaluate(ctx('2026-09-06T03:59:00Z')).verdict).toBe('promote');
    expect(day.evaluate(ctx('2026-09-06T04:00:00Z'))).toMatchObject({
      verdict: 'wait',
      until: '2026-09-07T03:00:00.000Z',
    });
  });

  it('an open-ended period is blocked; one ending more than 400 days ahead is blocked', () => {
    const open = freeze({ reason: 'audit', timeZone: 'UTC', periods: [{ from: '2026-01-01' }] });
    expect(open.evaluate(ctx('2026-06-01T00:00:00Z'))).toEqual({
      verdict: 'blocked',
      reason: 'frozen: audit (no end set)',
    });
    expect(open.evaluate(ctx('2025-12-31T23:59:00Z')).verdict).toBe('promote');
    const long = freeze({ reason: 'rewrite', timeZone: 'UTC', periods: [{ until: '2028-06-01' }] });
    const decision = long.evaluate(ctx('2026-06-01T00:00:00Z'));
    expect(decision.verdict).toBe('blocked');
    expect(decision.reason).toContain('more than 400 days ahead');
  });
});

describe('periods that meet or overlap chain', () => {
  const policy = freeze({
    reason: 'no Friday deploys',
    timeZone: 'Europe/Berlin',
    periods: [
      { days: ['fri'], hours: '16:00-24:00' },
      { reason: 'winter holiday', from: '2026-12-05', until: '2026-12-07' },
      { reason: 'earnings', dates: ['2026-12-07'] },
    ],
  });

  it('Friday evening, then a weekend freeze, then a frozen Monday wait until the end of all', () => {
    // Fri 2026-12-04 17:00 CET → frozen until Tue 2026-12-08 00:00 CET.
    expect(policy.evaluate(ctx('2026-12-04T16:00:00Z'))).toEqual({
      verdict: 'wait',
      until: '2026-12-07T23:00:00.000Z',
      reason:
        'frozen: no Friday deploys; winter holiday; earnings (until 2026-12-08T00:00:00+01:00 Europe/Berlin)',
    });
    expect(policy.evaluate(ctx('2026-12-06T10:00:00Z'))).toEqual({
      verdict: 'wait',
      until: '2026-12-07T23:00:00.000Z',
      reason: 'frozen: winter holiday; earnings (until 2026-12-08T00:00:00+01:00 Europe/Berlin)',
    });
    // The Friday before has nothing after it.
    expect(policy.evaluate(ctx('2026-11-27T16:00:00Z'))).toMatchObject({ until: '2026-11-27T23:00:00.000Z' });
    expect(policy.evaluate(ctx('2026-12-07T23:00:00Z')).verdict).toBe('promote');
  });

  it('a dated freeze ending inside Friday evening waits until Friday evening ends', () => {
    const overlap = freeze({
      timeZone: 'Europe/Berlin',
      periods: [
        { days: ['fri'], hours: '16:00-24:00' },
        { from: '2026-12-04T09:00', until: '2026-12-04T18:30' },
      ],
    });
    expect(overlap.evaluate(ctx('2026-12-04T09:00:00Z'))).toMatchObject({
      until: '2026-12-04T23:00:00.000Z',
    });
  });

  it('describes every period', () => {
    expect(
      freeze({
        reason: 'no Friday deploys',
        timeZone: 'Europe/Berlin',
        periods: [
          { days: ['fri'], hours: '16:00-24:00' },
          { from: '2026-12-20', until: '2027-01-04' },
          { dates: ['2027-02-14', '2027-03-01'] },
        ],
      }).describe(),
    ).toBe('freeze (no Friday deploys: fri 16:00-24:00 Europe/Berlin; 2026-12-20–2027-01-04; 2 dates)');
    expect(policy.describe()).toBe(
      'freeze (no Friday deploys: fri 16:00-24:00 Europe/Berlin; 2026-12-05–2026-12-07 (winter holiday); 2026-12-07 (earnings))',
    );
  });
});

describe('the single-period form of before', () => {
  it('waits until its end, blocks without one, and keeps its texts', () => {
    const yearEnd = freeze({ reason: 'year-end', from: '2026-12-20', until: '2027-01-04' });
    expect(yearEnd.describe()).toBe('freeze (year-end until 2027-01-04T00:00:00.000Z)');
    expect(yearEnd.evaluate(ctx('2026-12-19T23:59:00Z'))).toEqual({
      verdict: 'promote',
      reason: 'freeze not started',
    });
    expect(yearEnd.evaluate(ctx('2026-12-25T12:00:00Z'))).toEqual({
      verdict: 'wait',
      until: '2027-01-04T00:00:00.000Z',
      reason: 'frozen: year-end',
    });
    expect(yearEnd.evaluate(ctx('2027-01-04T00:00:00Z'))).toEqual({
      verdict: 'promote',
      reason: 'freeze over',
    });
    expect(freeze().evaluate(ctx('2026-12-25T12:00:00Z'))).toEqual({
      verdict: 'blocked',
      reason: 'frozen: deploy freeze',
    });
    expect(freeze().describe()).toBe('freeze (deploy freeze)');
    expect(
      freeze({ until: new Date('2027-01-04T00:00:00Z') }).evaluate(ctx('2026-12-25T12:00:00Z')),
    ).toMatchObject({
      until: '2027-01-04T00:00:00.000Z',
    });
  });

  it('reads its dates in timeZone when one is given', () => {
    const yearEnd = freeze({
      reason: 'year-end',
      from: '2026-12-20',
      until: '2027-01-04',
      timeZone: 'Europe/Berlin',
    });
    expect(yearEnd.evaluate(ctx('2026-12-19T23:00:00Z'))).toEqual({
      verdict: 'wait',
      until: '2027-01-03T23:00:00.000Z',
      reason: 'frozen: year-end',
    });
  });
});

describe('bad options give a ConfigError naming the option', () => {
  const zone = 'Europe/Berlin';

  it('rejects bad days, hours and dates', () => {
    expect(configError(() => freeze({ timeZone: zone, periods: [{ days: ['fryday'] }] })).message).toMatch(
      /freeze\.periods\[0\]\.days\[0\]: expected a day/,
    );
    expect(
      configError(() => freeze({ timeZone: zone, periods: [{ hours: '16:00-25:00' }] })).message,
    ).toMatch(/freeze\.periods\[0\]\.hours: expected valid 24-hour times/);
    expect(
      configError(() => freeze({ timeZone: zone, periods: [{ hours: '16:00-16:00' }] })).message,
    ).toMatch(/freeze\.periods\[0\]\.hours/);
    expect(
      configError(() => freeze({ timeZone: zone, periods: [{ dates: ['2027-02-14', '2027-02-30'] }] }))
        .message,
    ).toMatch(/freeze\.periods\[0\]\.dates\[1\]: expected a date/);
    expect(
      configError(() => freeze({ timeZone: zone, periods: [{ days: ['fri'] }, { from: 'next tuesday' }] }))
        .message,
    ).toMatch(/freeze\.periods\[1\]\.from: expected a local date/);
  });

  it('rejects an end before the start', () => {
    expect(
      configError(() =>
        freeze({ timeZone: zone, periods: [{ days: ['fri'] }, { from: '2027-01-04', until: '2026-12-20' }] }),
      ).message,
    ).toMatch(/freeze\.periods\[1\]\.until: expected a time after from \(2027-01-04\)/);
    expect(configError(() => freeze({ from: '2027-01-04', until: '2027-01-04' })).message).toMatch(
      /freeze\.until/,
    );
  });

  it('rejects an unknown time zone, and local times without one', () => {
    expect(
      configError(() => freeze({ timeZone: 'Mars/Olympus', periods: [{ days: ['fri'] }] })).message,
    ).toMatch(/freeze\.timeZone: expected an IANA time zone/);
    expect(
      configError(() => freeze({ periods: [{ from: '2026-12-20', until: '2027-01-04' }] })).message,
    ).toMatch(/freeze\.periods\[0\]\.from: "2026-12-20" is local: set timeZone/);
    expect(configError(() => freeze({ periods: [{ days: ['fri'], hours: '16:00-24:00' }] })).message).toMatch(
      /freeze\.periods\[0\]\.days: a weekly period is local: set timeZone/,
    );
    expect(configError(() => freeze({ periods: [{ dates: ['2027-02-14'] }] })).message).toMatch(
      /freeze\.periods\[0\]\.dates: a list of dates is local: set timeZone/,
    );
  });

  it('rejects unknown keys, empty or mixed periods, and from/until beside periods', () => {
    expect(
      configError(() => freeze({ timeZone: zone, periods: [{ weekdays: ['fri'] } as never] })).message,
    ).toMatch(/freeze\.periods\[0\]: Unrecognized key: "weekdays"/);
    expect(configError(() => freeze({ timeZone: zone, periods: [] })).message).toMatch(
      /freeze\.periods: expected at least one period/,
    );
    expect(configError(() => freeze({ timeZone: zone, periods: [{ reason: 'x' }] })).message).toMatch(
      /freeze\.periods\[0\]: expected days and\/or hours/,
    );
    expect(
      configError(() => freeze({ timeZone: zone, periods: [{ days: ['fri'], dates: ['2027-02-14'] }] }))
        .message,
    ).toMatch(/freeze\.periods\[0\]: expected one kind of period/);
    expect(
      configError(() => freeze({ timeZone: zone, until: '2027-01-04', periods: [{ days: ['fri'] }] }))
        .message,
    ).toMatch(/freeze\.until: with periods, give the dated freeze as a period/);
  });
});
