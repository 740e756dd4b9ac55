/** Promotion policies on the injected clock: a simulated week runs in milliseconds. */
import { describe, expect, it } from 'vitest';
import {
  all,
  any,
  auto,
  type Decision,
  freeze,
  isRingmasterError,
  manual,
  manualClock,
  type PolicyContext,
  soak,
  window,
} from '../src/index.js';

const release = { id: '1.0.7', version: '1.0.7', revision: 'r7', author: 'alice' };
const ctx = (now: Date | string, extra: Partial<PolicyContext> = {}): PolicyContext => ({
  now: new Date(now),
  pipeline: 'app',
  ring: 'prod',
  release,
  readyAt: new Date('2026-03-02T09:00:00Z'),
  approvals: [],
  ...extra,
});

describe('auto, soak, freeze', () => {
  it('auto promotes at once', () => {
    expect(auto().evaluate(ctx('2026-03-02T09:00:00Z')).verdict).toBe('promote');
  });

  it('soak waits until readyAt + duration, and says until when', () => {
    const policy = soak('24h');
    expect(policy.evaluate(ctx('2026-03-03T08:59:59Z'))).toEqual({
      verdict: 'wait',
      until: '2026-03-03T09:00:00.000Z',
      reason: 'soaking: 1s left of 1d',
    });
    expect(policy.evaluate(ctx('2026-03-03T09:00:00Z')).verdict).toBe('promote');
  });

  it('a freeze with an end waits until it; without an end it blocks', () => {
    const until = freeze({ reason: 'year-end', from: '2026-12-20T00:00:00Z', until: '2027-01-04T00:00:00Z' });
    expect(until.evaluate(ctx('2026-12-19T23:00:00Z')).verdict).toBe('promote');
    expect(until.evaluate(ctx('2026-12-25T12:00:00Z'))).toEqual({
      verdict: 'wait',
      until: '2027-01-04T00:00:00.000Z',
      reason: 'frozen: year-end',
    });
    expect(until.evaluate(ctx('2027-01-04T00:00:00Z')).verdict).toBe('promote');
    expect(freeze({ reason: 'incident 42' }).evaluate(ctx('2026-12-25T12:00:00Z'))).toEqual({
      verdict: 'blocked',
      reason: 'frozen: incident 42',
    });
  });

  it('rejects bad durations with a ConfigError naming the option', () => {
    const error = (() => {
      try {
        soak('tomorrow');
      } catch (e) {
        return e;
      }
    })();
    expect(isRingmasterError(error, 'CONFIG')).toBe(true);
    expect((error as Error).message).toContain('soak');
    expect((error as Error).message).toContain('"24h"');
  });
});

describe('manual approval', () => {
  const approval = (by: string, at = '2026-03-02T10:00:00Z', via = 'cli') => ({ by, at, via });

  it('needs a quorum of distinct people from the group, never the committer', () => {
    const policy = manual({ quorum: 2, group: ['alice', 'bob', 'carol'] });
    const now = '2026-03-02T11:00:00Z';
    const wait = policy.evaluate(
      ctx(now, { approvals: [approval('alice'), approval('bob'), approval('bob'), approval('eve')] }),
    );
    expect(wait.verdict).toBe('wait');
    expect(wait.reason).toContain('waiting for 1 more approval');
    expect(wait.reason).toContain('alice committed the release');
    expect(wait.reason).toContain('eve is not in the approvers group');
    const go = policy.evaluate(ctx(now, { approvals: [approval('bob'), approval('carol', now, 'vcs')] }));
    expect(go).toEqual({ verdict: 'promote', reason: 'approved by bob (cli), carol (vcs)' });
  });

  it('self-approval counts when allowed; approvals expire', () => {
    expect(
      manual({ allowSelfApproval: true }).evaluate(
        ctx('2026-03-02T11:00:00Z', { approvals: [approval('alice')] }),
      ).verdict,
    ).toBe('promote');
    const expiring = manual({ expiresAfter: '1h' });
    expect(expiring.evaluate(ctx('2026-03-02T10:59:00Z', { approvals: [approval('bob')] })).verdict).toBe(
      'promote',
    );
    const late = expiring.evaluate(ctx('2026-03-02T11:00:00Z', { approvals: [approval('bob')] }));
    expect(late.verdict).toBe('wait');
    expect(late.reason).toContain('approval by bob expired');
  });
});

describe('deploy windows in a time zone', () => {
  // Europe/Berlin leaves summer time on Sunday 2026-10-25 (03:00 CEST → 02:00 CET).
  const policy = window({ days: ['mon-thu'], hours: '10:00-16:00', timeZone: 'Europe/Berlin' });

  it('opens at 10:00 local time on both sides of the DST change', () => {
    // Thursday 2026-10-22 10:00 CEST = 08:00 UTC; Monday 2026-10-26 10:00 CET = 09:00 UTC.
    expect(policy.evaluate(ctx('2026-10-22T07:59:00Z')).verdict).toBe('wait');
    expect(policy.evaluate(ctx('2026-10-22T08:00:00Z')).verdict).toBe('promote');
    expect(policy.evaluate(ctx('2026-10-22T13:59:00Z')).verdict).toBe('promote');
    expect(policy.evaluate(ctx('2026-10-22T14:00:00Z'))).toMatchObject({
      verdict: 'wait',
      until: '2026-10-26T09:00:00.000Z',
    });
    expect(policy.evaluate(ctx('2026-10-26T08:59:00Z'))).toMatchObject({
      verdict: 'wait',
      until: '2026-10-26T09:00:00.000Z',
    });
    expect(policy.evaluate(ctx('2026-10-26T09:00:00Z')).verdict).toBe('promote');
  });

  it('a simulated week, minute by minute across the DST change, is open exactly 4 days × 6 hours', () => {
    const clock = manualClock('2026-10-19T00:00:00Z'); // Monday, across the DST change
    let open = 0;
    for (let minute = 0; minute < 7 * 24 * 60; minute++) {
      if (policy.evaluate(ctx(clock.now())).verdict === 'promote') open++;
      clock.advance(60_000);
    }
    expect(open).toBe(4 * 6 * 60);
  });

  it('windows that wrap midnight belong to the day they start on', () => {
    const night = window({ days: ['fri'], hours: '22:00-02:00', timeZone: 'UTC' });
    expect(night.evaluate(ctx('2026-03-06T23:00:00Z')).verdict).toBe('promote'); // Fri 23:00
    expect(night.evaluate(ctx('2026-03-07T01:30:00Z')).verdict).toBe('promote'); // Sat 01:30
    expect(night.evaluate(ctx('2026-03-07T02:00:00Z'))).toMatchObject({
      verdict: 'wait',
      until: '2026-03-13T22:00:00.000Z',
    });
  });

  it('rejects an unknown time zone and bad hours with the option path', () => {
    expect(() => window({ days: ['mon'], hours: '10:00-16:00', timeZone: 'Mars/Olympus' })).toThrow(
      /window\.timeZone: expected an IANA time zone/,
    );
    expect(() => window({ days: ['mon'], hours: '25:00-26:00', timeZone: 'UTC' })).toThrow(/window\.hours/);
    expect(() => window({ days: ['someday'], timeZone: 'UTC' })).toThrow(/window\.days\[0\]/);
  });
});

describe('compositions', () => {
  const w = window({ days: ['mon-fri'], hours: '10:00-16:00', timeZone: 'UTC' });

  it('all() waits for the latest wait and reports every reason; blocked wins', () => {
    const policy = all(soak('2h'), w);
    const d = policy.evaluate(ctx('2026-03-02T09:00:00Z')) as Extract<Decision, { verdict: 'wait' }>;
    expect(d.verdict).toBe('wait');
    expect(d.until).toBe('2026-03-02T11:00:00.000Z');
    expect(d.reason).toContain('soaking');
    expect(d.reason).toContain('outside window');
    expect(policy.evaluate(ctx('2026-03-02T11:00:00Z')).verdict).toBe('promote');
    expect(all(freeze(), auto()).evaluate(ctx('2026-03-02T11:00:00Z')).verdict).toBe('blocked');
  });

  it('any() promotes when one does, else waits for the earliest', () => {
    const policy = any(manual(), all(soak('48h'), w));
    expect(policy.evaluate(ctx('2026-03-02T12:00:00Z'))).toMatchObject({
      verdict: 'wait',
      until: '2026-03-04T10:00:00.000Z',
    });
    expect(
      policy.evaluate(
        ctx('2026-03-02T12:00:00Z', { approvals: [{ by: 'bob', at: '2026-03-02T11:00:00Z', via: 'api' }] }),
      ).verdict,
    ).toBe('promote');
    expect(
      any(freeze({ reason: 'a' }), freeze({ reason: 'b' })).evaluate(ctx('2026-03-02T12:00:00Z')),
    ).toEqual({
      verdict: 'blocked',
      reason: 'frozen: a; frozen: b',
    });
  });

  it('refuses an empty composition or a non-policy', () => {
    expect(() => all()).toThrow(/all: expected at least one policy/);
    expect(() => any(auto(), {} as never)).toThrow(/any\[1\]/);
  });
});
