/**
 * Identities: tokens kept only as salted hashes, permissions per ring and action (the most
 * specific key decides), config errors that name the key, and approvals that count only from
 * people who signed in when the project has identities.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Access, createAccess, isRingmasterError, manual } from '../src/index.js';
import { tempDir, world } from './helpers.js';

async function access(options: Parameters<typeof createAccess>[0] = {}): Promise<Access> {
  return createAccess(options, join(await tempDir('rm-access-'), 'users.json'));
}

describe('access: tokens', () => {
  it('shows a token once and keeps only a salted hash of it, in a file only its owner reads', async () => {
    const a = await access({ users: { alice: { groups: ['oncall'] } } });
    const { token, user } = await a.addUser('alice', ['dev']);
    expect(user).toEqual({
      name: 'alice',
      groups: ['dev', 'oncall'],
      method: 'token',
      tokenId: token.slice(4, 16),
    });
    const text = await readFile(a.file, 'utf8');
    const secret = token.slice('rmt_000000000000_'.length);
    expect(text).not.toContain(secret);
    expect((await stat(a.file)).mode & 0o777).toBe(0o600);
    expect(await a.authenticate(token)).toEqual(user);
  });

  it('refuses a wrong secret, an unknown id, garbage, and a token that was replaced or removed', async () => {
    const a = await access();
    const first = await a.addUser('bob');
    const id = first.token.slice(4, 16);
    const secret = first.token.slice(17);
    const flipped = `rmt_${id}_${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`;
    expect(await a.authenticate(flipped)).toBeUndefined();
    expect(await a.authenticate(`rmt_ffffffffffff_${secret}`)).toBeUndefined();
    expect(await a.authenticate('hunter2')).toBeUndefined();
    const second = await a.addUser('bob');
    expect(await a.authenticate(first.token)).toBeUndefined();
    expect((await a.authenticate(second.token))?.name).toBe('bob');
    expect(await a.removeUser('bob')).toBe(true);
    expect(await a.authenticate(second.token)).toBeUndefined();
    expect(await a.removeUser('bob')).toBe(false);
  });

  it('keeps every user when several are added at once (the users file is changed under a lock)', async () => {
    const a = await access();
    const b = createAccess({}, a.file); // a second handle, as a second process has
    const names = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6'];
    const made = await Promise.all(names.map((n, i) => (i % 2 ? a : b).addUser(n)));
    expect((await a.listUsers()).map((u) => u.name)).toEqual(names);
    for (const { token, user } of made) expect((await b.authenticate(token))?.name).toBe(user.name);
  });

  it('refuses a user name that is not a safe name, naming the option', async () => {
    const a = await access();
    const error = await a.addUser('../root').catch((e: unknown) => e);
    expect(isRingmasterError(error, 'CONFIG')).toBe(true);
    expect((error as Error).message).toContain('name');
  });
});

describe('access: permissions', () => {
  it('lets the most specific key that names an action decide it', async () => {
    const a = await access({
      users: { alice: { groups: ['oncall'] }, dan: { groups: ['dev'] } },
      permissions: {
        '*': { lock: ['*'], deploy: ['dev', 'oncall'] },
        prod: { deploy: ['oncall'] },
        'shop/prod': { approve: ['oncall'] },
      },
    });
    const alice = (await a.principal('alice', 'session'))!;
    const dan = (await a.principal('dan', 'session'))!;
    expect(a.can(dan, 'deploy', 'shop', 'sandbox')).toBe(true);
    expect(a.can(dan, 'deploy', 'shop', 'prod')).toBe(false);
    expect(a.can(alice, 'deploy', 'shop', 'prod')).toBe(true);
    expect(a.can(dan, 'lock', 'shop', 'prod')).toBe(true); // '*': any signed-in user
    expect(a.can(alice, 'approve', 'shop', 'prod')).toBe(true);
    expect(a.can(alice, 'approve', 'other', 'prod')).toBe(false); // no key names it: nobody
    expect(a.can(alice, 'rollback', 'shop', 'prod')).toBe(false);
    expect(() => a.authorize(dan, 'deploy', 'shop', 'prod')).toThrow(
      /dan may not deploy in shop\/prod: only the group oncall may; dan is in dev/,
    );
    expect(await a.principal('mallory', 'proxy')).toBeUndefined();
  });

  it('names a permission key that matches no ring of the project', async () => {
    const a = await access({ permissions: { prdo: { deploy: ['oncall'] } } });
    let error: unknown;
    try {
      a.check([{ name: 'shop', rings: [{ name: 'eng' }, { name: 'prod' }] }]);
    } catch (e) {
      error = e;
    }
    expect(isRingmasterError(error, 'CONFIG')).toBe(true);
    expect((error as { details: { path: string } }).details.path).toBe('access.permissions.prdo');
  });

  it('refuses a group list that is not a list of names, naming the path', async () => {
    let error: unknown;
    try {
      await access({ permissions: { prod: { deploy: 'oncall' as unknown as string[] } } });
    } catch (e) {
      error = e;
    }
    expect(isRingmasterError(error, 'CONFIG')).toBe(true);
    expect((error as Error).message).toContain('permissions.prod.deploy');
  });
});

describe('approvals with identities', () => {
  it('counts a group named in manual() through the approver’s recorded groups, not a typed name', async () => {
    const w = await world({ policies: { prod: manual({ group: ['oncall'] }) } });
    for (let i = 0; i < 3; i++) await w.engine.tick();
    const release = (await w.engine.explain({ pipeline: 'app', ring: 'prod' })).candidate!.release;
    // Someone typing a name is no member of oncall.
    await expect(
      w.engine.approve({ pipeline: 'app', ring: 'prod', release, by: 'oncall-bob' }),
    ).rejects.toThrow(/counts approvals only from the group oncall/);
    await w.engine.approve({
      pipeline: 'app',
      ring: 'prod',
      release,
      by: 'bob',
      identity: { method: 'token', groups: ['oncall'] },
    });
    await w.engine.tick();
    expect((await w.engine.status()).pipelines[0]!.rings[2]!.release).toBe(release);
  });

  it('with authenticatedApprovals, an approval nobody signed in for is shown as not counted', async () => {
    const w = await world({ policies: { prod: manual() } });
    for (let i = 0; i < 3; i++) await w.engine.tick();
    const release = (await w.engine.explain({ pipeline: 'app', ring: 'prod' })).candidate!.release;
    await w.engine.approve({ pipeline: 'app', ring: 'prod', release, by: 'carol' });
    await w.engine.close();
    // The same ledger, now with identities: carol's typed-in approval no longer counts.
    const strict = w.reopen({ authenticatedApprovals: true });
    try {
      await strict.start();
      const before = await strict.explain({ pipeline: 'app', ring: 'prod' });
      expect(before.action).toBe('wait');
      expect(before.summary).toContain('not counted: carol (not signed in)');
      await strict.tick();
      expect((await strict.status()).pipelines[0]!.rings[2]!.release).toBeUndefined();
      await strict.approve({
        pipeline: 'app',
        ring: 'prod',
        release,
        by: 'dave',
        identity: { method: 'session', groups: [] },
      });
      await strict.tick();
      expect((await strict.status()).pipelines[0]!.rings[2]!.release).toBe(release);
      const approvals = (await strict.ledger.read()).filter((r) => r.type === 'approval.recorded');
      expect(approvals.map((r) => r.data)).toEqual([
        expect.not.objectContaining({ identity: expect.anything() }),
        expect.objectContaining({ by: 'dave', identity: { method: 'session', groups: [] } }),
      ]);
    } finally {
      await strict.close();
    }
  });

  it('with authenticatedApprovals, a deploy request counts only from a repository that authenticates its authors', async () => {
    for (const authenticatedAuthors of [false, true]) {
      const w = await world({ policies: { prod: manual() } });
      for (let i = 0; i < 3; i++) await w.engine.tick();
      await w.engine.close();
      const revision = (await w.source.head()).id;
      await w.source.requestDeploy!({ ring: 'prod', revision, name: 'now' });
      // A git tag's tagger is whatever the client says; an svn server signs its authors in.
      const source = { ...w.source, capabilities: { ...w.source.capabilities, authenticatedAuthors } };
      const strict = w.reopen({ pipelines: [{ ...w.app, source }], authenticatedApprovals: true });
      try {
        await strict.start();
        await strict.tick();
        await strict.tick();
        const prod = (await strict.status()).pipelines[0]!.rings[2]!;
        if (authenticatedAuthors) expect(prod.release).toBeDefined();
        else {
          expect(prod.release).toBeUndefined();
          expect(prod.summary).toContain(
            'not counted: ringmaster (a deploy request: this repository does not authenticate authors)',
          );
        }
      } finally {
        await strict.close();
      }
    }
  });
});
