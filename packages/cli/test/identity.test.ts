/**
 * Identities in the CLI, on the real components: with `access` in the config every change needs
 * RINGMASTER_TOKEN, a `--by` that is not you is refused, permissions hold per ring, and the
 * approval that counts is the signed-in one — recorded with how it was proven. Exit code 5 for
 * every refusal, and nothing written.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repo } from './helpers.js';
import { type RealProject, realProject, shopConfig } from './lab.js';

const CONFIG = `${shopConfig({ prodTo: 3, prodPolicy: "manual({ group: ['oncall'] })" })}
  access: {
    // cj commits as carol@example.com: an approval of carol's release by cj is self-approval.
    users: { dan: { groups: ['dev'] }, cj: { groups: ['oncall'], commits: ['carol@example.com'] } },
    admins: ['oncall'],
    permissions: { '*': { lock: ['dev', 'oncall'] }, prod: { approve: ['oncall'], deploy: ['oncall'] } },
  },
};
`;

let w: RealProject;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  w = await realProject('ident', 3, CONFIG);
  w.commit({ 'index.html': '<h1>shop</h1>\n' }, 'First page', 'carol');
  for (const [name, group] of [
    ['alice', 'oncall'],
    ['dan', undefined],
    ['cj', undefined],
  ] as const) {
    // The first user needs no token; the next one is added by alice, an admin.
    const run = await w.runAs(
      { RINGMASTER_TOKEN: tokens.alice },
      'user',
      'add',
      name,
      ...(group ? ['--group', group] : []),
    );
    expect(run.code, run.stderr).toBe(0);
    tokens[name] = run.stdout.trim();
  }
  for (let i = 0; i < 3; i++) expect((await w.run('watch', '--once')).code).toBe(0);
}, 180_000);
afterAll(async () => {
  await w?.stop();
});

const approvals = async () => (await w.records()).filter((r) => r.type === 'approval.recorded');

describe('ringmaster with identities', () => {
  it('lists users with their groups from the config and the users file, never a token', async () => {
    const run = await w.run('user', 'list', '--json');
    expect(run.code).toBe(0);
    const { users } = JSON.parse(run.stdout) as {
      users: { name: string; groups: string[]; token: boolean }[];
    };
    expect(users.map((u) => [u.name, u.groups, u.token])).toEqual([
      ['alice', ['oncall'], true],
      ['cj', ['oncall'], true],
      ['dan', ['dev'], true],
    ]);
    expect(run.stdout).not.toContain(tokens.alice!.slice('rmt_000000000000_'.length));
  });

  it('refuses a change without a token, with a wrong one, and a --by that is not you: exit 5, nothing written', async () => {
    const none = await w.run('approve', 'shop', 'prod', '1.0.1', '--by', 'alice');
    expect(none.code).toBe(5);
    expect(none.stderr).toContain('set RINGMASTER_TOKEN');
    const wrong = await w.runAs(
      { RINGMASTER_TOKEN: `${tokens.alice!.slice(0, -2)}xx` },
      'approve',
      'shop',
      'prod',
      '1.0.1',
    );
    expect(wrong.code).toBe(5);
    expect(wrong.stderr).toContain('not a token of this project');
    const impostor = await w.runAs(
      { RINGMASTER_TOKEN: tokens.dan },
      'approve',
      'shop',
      'prod',
      '1.0.1',
      '--by',
      'alice',
    );
    expect(impostor.code).toBe(5);
    expect(impostor.stderr).toContain('--by alice: you are signed in as dan');
    const forbidden = await w.runAs({ RINGMASTER_TOKEN: tokens.dan }, 'promote', 'shop', 'prod', '1.0.1');
    expect(forbidden.code).toBe(5);
    expect(forbidden.stderr).toContain(
      'dan may not deploy in shop/prod: only the group oncall may; dan is in dev',
    );
    expect(await approvals()).toHaveLength(0);
    expect(
      (await w.records()).filter((r) => r.type === 'rollout.started' && r.data.ring === 'prod'),
    ).toHaveLength(0);
  });

  it('lets only an admin add a user or give someone else a new token; anyone renews their own', async () => {
    const before = await w.run('user', 'list', '--json');
    const none = await w.run('user', 'add', 'mallory', '--group', 'oncall');
    expect(none.code).toBe(5);
    expect(none.stderr).toContain('users exist already: set RINGMASTER_TOKEN');
    const dev = await w.runAs(
      { RINGMASTER_TOKEN: tokens.dan },
      'user',
      'add',
      'mallory',
      '--group',
      'oncall',
    );
    expect(dev.code).toBe(5);
    expect(dev.stderr).toContain('dan may not manage users: only the group oncall may');
    const takeover = await w.runAs({ RINGMASTER_TOKEN: tokens.dan }, 'user', 'add', 'alice');
    expect(takeover.code).toBe(5);
    expect((await w.run('user', 'list', '--json')).stdout).toBe(before.stdout);
    // dan gives his own token a new value: the old one stops working.
    const renew = await w.runAs({ RINGMASTER_TOKEN: tokens.dan }, 'user', 'add', 'dan');
    expect(renew.code, renew.stderr).toBe(0);
    const old = await w.runAs({ RINGMASTER_TOKEN: tokens.dan }, 'lock', 'shop', 'eng', '--reason', 'x');
    expect(old.code).toBe(5);
    tokens.dan = renew.stdout.trim();
  });

  it('a permission of every ring ("*") lets dev lock, and the lock records who did it', async () => {
    const lock = await w.runAs(
      { RINGMASTER_TOKEN: tokens.dan },
      'lock',
      'shop',
      'sandbox',
      '--reason',
      'tests',
    );
    expect(lock.code, lock.stderr).toBe(0);
    const unlock = await w.runAs(
      { RINGMASTER_TOKEN: tokens.dan },
      'unlock',
      'shop',
      'sandbox',
      '--reason',
      'done',
    );
    expect(unlock.code, unlock.stderr).toBe(0);
    expect(unlock.stdout).toBe('unlocked shop/sandbox: done\n');
    const locked = (await w.records()).find((r) => r.type === 'ring.locked');
    expect(locked?.data).toMatchObject({ ring: 'sandbox', by: 'dan', reason: 'tests' });
    const unlocked = (await w.records()).find((r) => r.type === 'ring.unlocked');
    expect(unlocked?.data).toMatchObject({ ring: 'sandbox', by: 'dan', reason: 'done' });
  });

  it('knows an approval of one’s own release under another name (the config’s commits), and refuses it', async () => {
    const run = await w.runAs({ RINGMASTER_TOKEN: tokens.cj }, 'approve', 'shop', 'prod', '1.0.1');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('cj committed 1.0.1: an approval by its own author does not count');
    expect(await approvals()).toHaveLength(0);
  });

  it('records the signed-in approver with how they proved it, and that approval counts', async () => {
    const explainBefore = await w.run('explain', 'shop', 'prod');
    expect(explainBefore.stdout).toContain('waiting for 1 more approval from oncall');
    const run = await w.runAs(
      { RINGMASTER_TOKEN: tokens.alice },
      'approve',
      'shop',
      'prod',
      '1.0.1',
      '--comment',
      'CAB-7',
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe('approved 1.0.1 for shop/prod by alice\n');
    const [approval] = await approvals();
    expect(approval!.data).toMatchObject({
      by: 'alice',
      via: 'cli',
      comment: 'CAB-7',
      identity: { method: 'token', groups: ['oncall'] },
    });
    expect((await w.run('watch', '--once')).code).toBe(0);
    expect(await w.versions('shop')).toEqual(['1.0.1', '1.0.1', '1.0.1']);
  });

  it('names an unknown user action (exit 2)', async () => {
    const run = await w.run('user', 'frobnicate', 'x');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('unknown action "frobnicate"');
  });

  it('watch --serve runs the engine and serves its page in one process, links it from the approval notice, and stops cleanly on SIGTERM', async () => {
    // A fixed port, so the page has an address to link to (the config has no web.url).
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as AddressInfo;
        probe.close(() => resolve(port));
      });
    });
    w.commit({ 'index.html': '<h1>shop 2</h1>\n' }, 'Second page', 'carol');
    const watch = spawn(
      process.execPath,
      [join(repo, 'packages/cli/dist/bin.js'), 'watch', '--interval', '1s', '--serve', `127.0.0.1:${port}`],
      { cwd: w.dir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    const exited = new Promise<number | null>((resolve) => watch.once('exit', resolve));
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no page: ${output}`)), 30_000);
      const read = (chunk: Buffer) => {
        output += chunk.toString();
        const m = /the team page: (http:\/\/\S+)/.exec(output);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      };
      watch.stdout!.on('data', read);
      watch.stderr!.on('data', read);
    });
    try {
      expect((await fetch(`${url}/login`)).status).toBe(200);
      const home = await fetch(`${url}/`, { redirect: 'manual' });
      expect(home.status).toBe(302);
      // The engine runs in the same process: it builds 1.0.2, and prod's approvers are asked, with a link.
      await expect
        .poll(
          async () => {
            for (const r of await w.records())
              if (r.type === 'notification.queued') {
                const n = r.data.notification;
                if (n.kind === 'approval' && n.release === '1.0.2') return n.url;
              }
            return undefined;
          },
          { timeout: 30_000, interval: 250 },
        )
        .toBe(`http://127.0.0.1:${port}`);
    } finally {
      watch.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    await expect(fetch(`${url}/login`)).rejects.toThrow();
  });
});
