/**
 * Core's rollout strategies on real hosts: one at a time, batches and percentage steps, the
 * failure budget (count, and Ansible's max_fail_percentage per batch), halt, and rollback of
 * each changed host to the version it ran before — checked with dpkg on every host, and, through
 * the engine, against the ledger.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  batches,
  createEngine,
  executeRollout,
  fileStore,
  type HostState,
  localRepository,
  memorySource,
  oneAtATime,
  percentages,
  pipeline,
  planBatches,
  type RolloutSpec,
} from '@ringmaster/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDeb, failingSecondRelease, type Lab, startLab } from './fixture.js';

const versionIn = (state: HostState | undefined) => (state?.status === 'installed' ? state.version : null);

let lab: Lab;
let target: ReturnType<Lab['target']>;
const hostNames = () => lab.lab.hosts.map((h) => h.name);

beforeAll(async () => {
  lab = await startLab(5);
  target = lab.target({ concurrency: 5 });
}, 120_000);
afterAll(async () => {
  await lab?.stop();
});

/** Marks exactly these hosts as ones whose next postinst must fail (a file only that host sees). */
async function breakHosts(names: string[]): Promise<void> {
  for (const name of hostNames())
    await rm(join(lab.lab.rootOf(name), 'etc/ringmaster', 'broken'), { force: true });
  for (const name of names) {
    await mkdir(join(lab.lab.rootOf(name), 'etc/ringmaster'), { recursive: true });
    await writeFile(join(lab.lab.rootOf(name), 'etc/ringmaster', 'broken'), '1\n');
  }
}

/** A package at 1.0.1 on every host, and its 1.0.2 whose postinst fails on broken hosts. */
async function scenario(pkg: string, broken: string[]) {
  const v1 = await buildDeb(lab.work, { name: pkg, version: '1.0.1' });
  const v2 = await buildDeb(lab.work, {
    name: pkg,
    version: '1.0.2',
    postinst: `if [ -e /etc/ringmaster/broken ] && [ "$1" = configure ]; then echo "cannot start ${pkg}" >&2; exit 1; fi`,
  });
  await Promise.all(hostNames().map((h) => target.install(h, v1)));
  for (const h of hostNames()) {
    await writeFile(join(lab.lab.rootOf(h), 'etc/ringmaster', 'broken'), '').catch(() => {});
    await import('node:fs/promises').then((fs) =>
      fs.rm(join(lab.lab.rootOf(h), 'etc/ringmaster', 'broken'), { force: true }),
    );
  }
  await breakHosts(broken);
  const installs: string[] = [];
  const run = (spec: RolloutSpec) =>
    executeRollout({
      spec,
      batches: planBatches(spec, hostNames()),
      target,
      artifact: v2,
      resolve: async (v) => (v === '1.0.1' ? v1 : undefined),
      recorder: {
        hostStarted: async (host, _from, phase) => void installs.push(`${phase} ${host}`),
        hostFinished: async () => {},
      },
    });
  /** What each host has: its version, marked when dpkg has it only half-configured. */
  const versions = () =>
    Promise.all(
      hostNames().map(async (h) => {
        const found = await target.installed(h, pkg);
        return found ? `${found.version}${found.status === 'installed' ? '' : ` (${found.status})`}` : null;
      }),
    );
  return { run, versions, installs };
}

describe('rollouts on real sshd hosts', () => {
  it('one at a time: the first failure rolls every changed host back; later hosts are never touched', {
    timeout: 120_000,
  }, async () => {
    const s = await scenario('roll-one', ['host-3']);
    const result = await s.run(oneAtATime({ maxFailures: 0, onFailure: 'rollback' }));
    expect(result.outcome).toBe('rolled-back');
    expect(result.failed).toEqual(['host-3']);
    expect(s.installs.filter((i) => i.startsWith('deploy'))).toEqual([
      'deploy host-1',
      'deploy host-2',
      'deploy host-3',
    ]);
    expect(s.installs.filter((i) => i.startsWith('rollback')).sort()).toEqual([
      'rollback host-1',
      'rollback host-2',
      'rollback host-3',
    ]);
    expect(await s.versions()).toEqual(['1.0.1', '1.0.1', '1.0.1', '1.0.1', '1.0.1']);
  });

  it('max_fail_percentage: 50% of a batch of 2 is not more than 50%, so the rollout goes on', {
    timeout: 120_000,
  }, async () => {
    const s = await scenario('roll-pct', ['host-2', 'host-3']);
    const result = await s.run(batches(2, { maxFailures: '50%' }));
    expect(result.outcome).toBe('succeeded');
    expect(result.failed).toEqual(['host-2', 'host-3']);
    const v = await s.versions();
    expect([v[0], v[3], v[4]]).toEqual(['1.0.2', '1.0.2', '1.0.2']);
  });

  it('max_fail_percentage: 49% stops after the first batch and rolls it back', {
    timeout: 120_000,
  }, async () => {
    const s = await scenario('roll-pct49', ['host-2']);
    const result = await s.run(batches(2, { maxFailures: '49%', onFailure: 'rollback' }));
    expect(result.outcome).toBe('rolled-back');
    expect(s.installs.filter((i) => i.startsWith('deploy')).sort()).toEqual([
      'deploy host-1',
      'deploy host-2',
    ]);
    expect(await s.versions()).toEqual(['1.0.1', '1.0.1', '1.0.1', '1.0.1', '1.0.1']);
  });

  it('percentage steps with halt: stops at the failing step and leaves the hosts as they are', {
    timeout: 120_000,
  }, async () => {
    const s = await scenario('roll-steps', ['host-4']);
    const spec = percentages([20, 60], { maxFailures: 0, onFailure: 'halt' });
    expect(planBatches(spec, hostNames())).toEqual([['host-1'], ['host-2', 'host-3'], ['host-4', 'host-5']]);
    const result = await s.run(spec);
    expect(result.outcome).toBe('halted');
    const v = await s.versions();
    expect([v[0], v[1], v[2], v[4]]).toEqual(['1.0.2', '1.0.2', '1.0.2', '1.0.2']);
    // host-4's postinst failed: dpkg has it unpacked but not configured, and says so.
    expect(v[3]).toBe('1.0.2 (half-configured)');
  });
});

describe('the engine on real sshd hosts', () => {
  it('after a rollout, every host really runs what the ledger says, including after a rollback', {
    timeout: 180_000,
  }, async () => {
    const dir = join(lab.work, 'engine');
    await mkdir(dir, { recursive: true });
    for (const h of hostNames()) {
      await import('node:fs/promises').then((fs) =>
        fs.rm(join(lab.lab.rootOf(h), 'etc/ringmaster', 'broken'), { force: true }),
      );
    }
    await breakHosts(['host-4']);
    // Version 1.0.2 of this package fails its postinst on broken hosts.
    const packager = failingSecondRelease(
      'ledger-app',
      'if [ -e /etc/ringmaster/broken ] && [ "$1" = configure ]; then exit 1; fi',
    );
    const source = memorySource({ commits: [{ files: { a: '1' }, message: 'one', author: 'alice' }] });
    const app = pipeline({
      name: 'ledger-app',
      source,
      packager,
      repository: localRepository({ dir: join(dir, 'repo') }),
      rings: [{ name: 'prod', target, rollout: batches(2, { maxFailures: 0, onFailure: 'rollback' }) }],
    });
    const engine = createEngine({
      pipelines: [app],
      store: fileStore({ dir: join(dir, 'ledger') }),
      workDir: join(dir, 'work'),
    });
    const check = async () => {
      const ring = engine.ledger.state.pipelines.get('ledger-app')!.rings.get('prod')!;
      const real = await Promise.all(
        hostNames().map(async (h) => (await target.installed(h, 'ledger-app'))?.version ?? null),
      );
      const recorded = hostNames().map((h) => versionIn(ring.hosts.get(h)?.state));
      expect(real).toEqual(recorded);
      return real;
    };
    await engine.tick();
    expect(await check()).toEqual(Array(5).fill('1.0.1'));
    await source.commit({ a: '2' }, 'two', 'bob');
    await engine.tick();
    // host-4 failed in the last batch: every changed host went back to 1.0.1.
    expect(await check()).toEqual(Array(5).fill('1.0.1'));
    const p = engine.ledger.state.pipelines.get('ledger-app')!;
    expect(p.rollouts.get('prod#2')?.outcome).toBe('rolled-back');
    expect(p.rings.get('prod')!.current).toBe('1.0.1');
    await engine.close();
  });
});
