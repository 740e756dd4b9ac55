/**
 * Host control through the CLI on real sshd hosts: a disabled host is left untouched by a
 * rollout (dpkg on it unchanged), shown as disabled with who and why, and converged when
 * enabled; `--limit` touches only the hosts it names, on deploy, status and converge.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RealProject, realProject, shopConfig } from './lab.js';

let w: RealProject;

/** The hosts rollout `id` touched, in order. */
async function touched(id: string): Promise<string[]> {
  return (await w.records()).flatMap((r) =>
    r.type === 'host.started' && r.data.rollout === id ? [r.data.host] : [],
  );
}

beforeAll(async () => {
  // eng: host 0; sandbox: host 1; prod: hosts 2, 3 and 4 (automatic).
  w = await realProject('hostctl', 5, `${shopConfig({ prodTo: 5, prodPolicy: 'auto()' })}\n};\n`);
  w.commit({ 'index.html': '<h1>shop</h1>\n' }, 'First page');
  for (let i = 0; i < 3; i++) expect((await w.run('watch', '--once')).code).toBe(0);
  expect(await w.versions('shop')).toEqual(['1.0.1', '1.0.1', '1.0.1', '1.0.1', '1.0.1']);
}, 180_000);
afterAll(async () => {
  await w?.stop();
});

describe('host control', () => {
  it('a disabled host is left untouched by a rollout, shown with who and why, and converged when enabled', async () => {
    const off = await w.run(
      'host',
      'disable',
      'shop',
      'prod',
      'hostctl-4',
      '--reason',
      'disk failing, INC-77',
    );
    expect(off.code, off.stderr).toBe(0);
    expect(off.stdout).toBe(
      'disabled hostctl-4 in shop/prod: disk failing, INC-77; rollouts skip it until it is enabled\n',
    );
    w.commit({ 'index.html': '<h1>shop 2</h1>\n' }, 'Second page');
    for (let i = 0; i < 3; i++) expect((await w.run('watch', '--once')).code).toBe(0);
    expect(await w.versions('shop')).toEqual(['1.0.2', '1.0.2', '1.0.2', '1.0.1', '1.0.2']);
    const rollout = (await w.records()).findLast(
      (r) => r.type === 'rollout.started' && r.data.ring === 'prod',
    )!;
    expect(await touched((rollout.data as { rollout: string }).rollout)).toEqual(['hostctl-3', 'hostctl-5']);
    // status --live does not ask it and does not count it: exit 0.
    const status = await w.run('status', '--live');
    expect(status.code, status.stdout).toBe(0);
    expect(status.stdout).toMatch(/shop\s+prod\s+1\.0\.2\s+2\/2 \(disabled: hostctl-4\)/);
    expect(status.stdout).toMatch(
      /shop\/prod hostctl-4: disabled by \S+ .*: disk failing, INC-77; last recorded with 1\.0\.1/,
    );

    const on = await w.run('host', 'enable', 'shop', 'prod', 'hostctl-4');
    expect(on.code, on.stderr).toBe(0);
    expect(on.stdout).toContain('enabled hostctl-4 in shop/prod');
    expect(on.stdout).toMatch(/shop\/prod: prod#\d+ succeeded: /);
    expect(await w.versions('shop')).toEqual(['1.0.2', '1.0.2', '1.0.2', '1.0.2', '1.0.2']);
    const history = (await w.run('history', 'shop')).stdout;
    expect(history).toMatch(/disabled hostctl-4 in prod: disk failing, INC-77/);
    expect(history).toMatch(/enabled hostctl-4 in prod again/);
  });

  it('--limit touches only the named hosts: deploy, status and converge', async () => {
    w.commit({ 'index.html': '<h1>shop 3</h1>\n' }, 'Third page');
    expect((await w.run('build')).code).toBe(0);
    // The dry run shows the same hosts, and no gates: the ring's release stays as it is.
    const dry = await w.run('deploy', 'shop', 'prod', '1.0.3', '--limit', 'hostctl-[35]', '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('shop/prod: deploy 1.0.3 on hostctl-3, hostctl-5 only (runs 1.0.2 now)');
    expect(dry.stdout).toMatch(/step 1 +batch 1: hostctl-3 +1\.0\.2 → 1\.0\.3/);
    expect(dry.stdout).not.toContain('hostctl-4');
    expect(dry.stdout).toContain("no gates: named hosts only, prod's own release is unchanged");
    const deploy = await w.run('deploy', 'shop', 'prod', '1.0.3', '--limit', 'hostctl-[35]');
    expect(deploy.code, deploy.stderr).toBe(0);
    expect(deploy.stdout).toMatch(/succeeded: .*; prod's own release is unchanged/);
    expect(await w.versions('shop')).toEqual(['1.0.2', '1.0.2', '1.0.3', '1.0.2', '1.0.3']);
    const limited = await w.run('status', 'shop', 'prod', '--limit', 'hostctl-3', '--live');
    expect(limited.code).toBe(1); // hostctl-3 runs 1.0.3; the ring runs 1.0.2: drift
    expect(limited.stdout).toMatch(/shop\s+prod\s+1\.0\.2\s+0\/1 \(drift: hostctl-3\)/);
    expect(limited.stdout).not.toContain('hostctl-5');
    expect(limited.stdout).not.toMatch(/shop\s+eng/);
    const converge = await w.run('converge', 'shop', 'prod', '--limit', 'hostctl-3');
    expect(converge.code, converge.stdout + converge.stderr).toBe(0);
    expect(await w.versions('shop')).toEqual(['1.0.2', '1.0.2', '1.0.2', '1.0.2', '1.0.3']);
    const bad = await w.run('deploy', 'shop', 'prod', '1.0.3', '--limit', 'web-*');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(
      '--limit: "web-*" matches no host of prod (its hosts: hostctl-3, hostctl-4, hostctl-5)',
    );
  });
});
