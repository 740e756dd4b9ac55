/**
 * The page's sessions on a clock of their own: a session ends at its TTL, a CSRF token belongs
 * to one subject only, and the failed-login window lets an address try again once it passed.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAccess } from '@ringmaster/core';
import { describe, expect, it } from 'vitest';
import { LOGIN_LIMIT, Sessions } from '../src/auth.js';

async function sessions(ttl = 60_000) {
  const dir = await mkdtemp(join(tmpdir(), 'rm-web-auth-'));
  const access = createAccess(
    { users: { alice: { groups: ['oncall'] } }, sessionTtl: ttl },
    join(dir, 'users.json'),
  );
  let now = Date.parse('2026-12-02T10:00:00Z');
  const { user: alice } = await access.addUser('alice');
  return { s: new Sessions(access, () => now), tick: (ms: number) => (now += ms), access, alice };
}

describe('page sessions', () => {
  it('end at their TTL, and a closed one is gone at once', async () => {
    const { s, tick, alice } = await sessions(60_000);
    const id = s.open(alice);
    expect(await s.principal(id)).toEqual({ name: 'alice', groups: ['oncall'], method: 'session' });
    tick(59_999);
    expect((await s.principal(id))?.name).toBe('alice');
    tick(1);
    expect(await s.principal(id)).toBeUndefined();
    const other = s.open(alice);
    s.close(other);
    expect(await s.principal(other)).toBeUndefined();
    expect(await s.principal('made-up')).toBeUndefined();
  });

  it('end when the token they were opened with is removed or replaced', async () => {
    const { s, access, alice } = await sessions();
    const id = s.open(alice);
    await access.addUser('alice'); // a new token: sessions of the old one end
    expect(await s.principal(id)).toBeUndefined();
    const { user } = await access.addUser('alice');
    const again = s.open(user);
    expect((await s.principal(again))?.name).toBe('alice');
    await access.removeUser('alice');
    expect(await s.principal(again)).toBeUndefined();
  });

  it('binds a CSRF token to one subject', async () => {
    const { s, alice } = await sessions();
    const a = s.open(alice);
    const b = s.open(alice);
    expect(s.checkCsrf(a, s.csrf(a))).toBe(true);
    expect(s.checkCsrf(a, s.csrf(b))).toBe(false);
    expect(s.checkCsrf(a, undefined)).toBe(false);
    expect(s.checkCsrf(a, `${s.csrf(a)}x`)).toBe(false);
  });

  it('counts failed logins per address in a sliding window', async () => {
    const { s, tick } = await sessions();
    for (let i = 0; i < LOGIN_LIMIT.attempts; i++) {
      expect(s.mayTryLogin('10.0.0.1')).toBe(true);
      s.loginFailed('10.0.0.1');
    }
    expect(s.mayTryLogin('10.0.0.1')).toBe(false);
    expect(s.mayTryLogin('10.0.0.2')).toBe(true);
    expect(s.retryAfter('10.0.0.1')).toBe(60);
    tick(LOGIN_LIMIT.windowMs);
    expect(s.mayTryLogin('10.0.0.1')).toBe(true);
  });
});
