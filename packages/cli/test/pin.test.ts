/**
 * `pin`/`unpin` hold a ring on its release, `reject`/`allow` mark a release bad and let it
 * through again — and the old spelling `unpin <pipeline> <ring> <release>` still allows, with a
 * notice saying what it does now. On real sshd hosts, with the built CLI.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RealProject, realProject, shopConfig } from './lab.js';

let w: RealProject;

beforeAll(async () => {
  w = await realProject('pin', 3, `${shopConfig({ prodPolicy: 'auto()' })}\n};\n`);
  w.commit({ 'index.html': '<h1>shop</h1>\n' }, 'First page');
  for (let i = 0; i < 3; i++) expect((await w.run('watch', '--once')).code).toBe(0);
  expect(await w.versions('shop')).toEqual(['1.0.1', '1.0.1', '1.0.1']);
}, 180_000);
afterAll(async () => {
  await w?.stop();
});

describe('pin, unpin, reject, allow', () => {
  it('a pinned ring stays on its release, says why, and refuses another until unpinned', async () => {
    const pin = await w.run('pin', 'shop', 'prod', '--reason', 'incident 42');
    expect(pin.code, pin.stderr).toBe(0);
    expect(pin.stdout).toBe('pinned shop/prod to 1.0.1: incident 42\n');
    w.commit({ 'index.html': '<h1>shop 2</h1>\n' }, 'Second page');
    for (let i = 0; i < 3; i++) expect((await w.run('watch', '--once')).code).toBe(0);
    expect(await w.versions('shop')).toEqual(['1.0.2', '1.0.2', '1.0.1']);
    const explain = await w.run('explain', 'shop', 'prod');
    expect(explain.stdout).toMatch(
      /^prod is pinned to 1\.0\.1 by \S+: incident 42; 1\.0\.2 waits until it is unpinned$/m,
    );
    expect((await w.run('status')).stdout).toMatch(/shop\s+prod\s+1\.0\.1\s+1\/1\s+pinned/);
    const promote = await w.run('promote', 'shop', 'prod', '1.0.2');
    expect(promote.code).toBe(1);
    expect(promote.stderr).toContain('shop/prod is pinned to 1.0.1');
    expect(promote.stderr).toContain('unpin it first (ringmaster unpin shop prod)');
    const unpin = await w.run('unpin', 'shop', 'prod');
    expect(unpin.code, unpin.stderr).toBe(0);
    expect((await w.run('watch', '--once')).code).toBe(0);
    expect(await w.versions('shop')).toEqual(['1.0.2', '1.0.2', '1.0.2']);
  });

  it('reject marks a release bad in every ring; the old unpin spelling allows it again, with a notice', async () => {
    const reject = await w.run('reject', 'shop', '1.0.2', '--reason', 'corrupts the cache');
    expect(reject.code, reject.stderr).toBe(0);
    expect(reject.stdout).toBe('rejected 1.0.2 in eng, sandbox, prod: corrupts the cache\n');
    const explain = await w.run('explain', 'shop', 'prod');
    expect(explain.stdout).toContain('prod runs 1.0.2, which is rejected here (marked bad by');
    expect(explain.stdout).toContain('roll back with ringmaster rollback shop prod');
    const legacy = await w.run('unpin', 'shop', 'prod', '1.0.2');
    expect(legacy.code, legacy.stderr).toBe(0);
    expect(legacy.stderr).toContain('that is "ringmaster allow shop prod 1.0.2" now');
    expect(legacy.stdout).toBe('allowed 1.0.2 in shop/prod again: its policy may promote it again\n');
    const twice = await w.run('allow', 'shop', 'prod', '1.0.2');
    expect(twice.code).toBe(1);
    expect(twice.stderr).toContain('nothing to allow');
    const history = (await w.run('history', 'shop')).stdout;
    expect(history).toContain('pinned prod to 1.0.1: incident 42');
    expect(history).toContain('allowed 1.0.2 in prod again');
  });
});
