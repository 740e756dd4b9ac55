/**
 * A freeze through the CLI on real sshd hosts: automatic promotion waits, a deploy by hand is
 * refused and says how to go ahead, a dry run says it is frozen, and breaking glass works only
 * with a reason and for the config's access.breakGlass group — recorded as who, and why.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RealProject, realProject, shopConfig } from './lab.js';

let w: RealProject;
const tokens: Record<string, string> = {};

const CONFIG = `${shopConfig({
  head: "import { all, freeze } from '@ringmaster/core';\n",
  prodPolicy:
    "all(auto(), freeze({ timeZone: 'UTC', periods: [{ from: '2026-01-01', until: '2099-01-01', reason: 'winter holiday' }] }))",
})}
  access: {
    permissions: { '*': { deploy: ['oncall', 'dev'], approve: ['oncall'], rollback: ['oncall'], lock: ['oncall'] } },
    admins: ['oncall'],
    breakGlass: ['oncall'],
  },
};
`;

beforeAll(async () => {
  w = await realProject('freeze', 3, CONFIG);
  const alice = await w.run('user', 'add', 'alice', '--group', 'oncall');
  expect(alice.code, alice.stderr).toBe(0);
  tokens.alice = alice.stdout.trim();
  const bob = await w.runAs({ RINGMASTER_TOKEN: tokens.alice }, 'user', 'add', 'bob', '--group', 'dev');
  expect(bob.code, bob.stderr).toBe(0);
  tokens.bob = bob.stdout.trim();
  w.commit({ 'index.html': '<h1>shop</h1>\n' }, 'First page');
  for (let i = 0; i < 3; i++)
    expect((await w.runAs({ RINGMASTER_TOKEN: tokens.alice }, 'watch', '--once')).code).toBe(0);
}, 180_000);
afterAll(async () => {
  await w?.stop();
});

describe('freeze and break-glass', () => {
  it('holds prod, refuses a deploy by hand, and lets oncall break glass with a reason', async () => {
    expect(await w.versions('shop')).toEqual(['1.0.1', '1.0.1', null]);
    expect((await w.run('explain', 'shop', 'prod')).stdout).toContain('frozen: winter holiday');
    const asBob = (...args: string[]) => w.runAs({ RINGMASTER_TOKEN: tokens.bob }, ...args);
    const asAlice = (...args: string[]) => w.runAs({ RINGMASTER_TOKEN: tokens.alice }, ...args);

    const refused = await asBob('deploy', 'shop', 'prod', '1.0.1');
    expect(refused.code, refused.stdout + refused.stderr).toBe(1);
    expect(refused.stderr).toContain('shop/prod is frozen (frozen: winter holiday');
    expect(refused.stderr).toContain('--break-glass');
    const dry = await asBob('deploy', 'shop', 'prod', '1.0.1', '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('frozen: frozen: winter holiday');
    expect(dry.stdout).toContain('it would be refused without --break-glass --reason');
    const notAllowed = await asBob(
      'deploy',
      'shop',
      'prod',
      '1.0.1',
      '--break-glass',
      '--reason',
      'I want to',
    );
    expect(notAllowed.code).toBe(5);
    expect(notAllowed.stderr).toContain('bob may not break glass in shop/prod: only oncall may');
    const noReason = await asAlice('deploy', 'shop', 'prod', '1.0.1', '--break-glass');
    expect(noReason.code).toBe(2);
    expect(noReason.stderr).toContain('--break-glass: say why the freeze must be broken (--reason)');
    expect(await w.versions('shop')).toEqual(['1.0.1', '1.0.1', null]);

    const broke = await asAlice(
      'deploy',
      'shop',
      'prod',
      '1.0.1',
      '--break-glass',
      '--reason',
      'INC-9: payments down',
    );
    expect(broke.code, broke.stderr + broke.stdout).toBe(0);
    expect(await w.versions('shop')).toEqual(['1.0.1', '1.0.1', '1.0.1']);
    const history = (await w.run('history', 'shop')).stdout;
    expect(history).toContain(
      'alice BROKE GLASS in prod for 1.0.1: INC-9: payments down (frozen: winter holiday',
    );
    const record = (await w.records()).find((r) => r.type === 'ring.break-glass');
    expect(record?.data).toMatchObject({ by: 'alice', groups: ['oncall'], reason: 'INC-9: payments down' });
  });
});
