/**
 * The ledger tells the truth when hosts vanish: real sshd hosts reached through fault proxies
 * (forward, or hang / reset on command), the engine rolling out over them, and after every
 * fault the same three answers compared — what dpkg on the host says (read directly, around the
 * proxy), what the ledger recorded, and what `status` reports live. An unreachable host is
 * `unknown` with its reason, never "not installed", and a rollback never removes a package on
 * that guess.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createEngine,
  type Engine,
  fileStore,
  formatStatus,
  type HostState,
  localRepository,
  memorySource,
  observe,
  oneAtATime,
  pipeline,
  type TypedRecord,
} from '@ringmaster/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FaultProxy, startFaultProxy } from '../src/testing/index.js';
import { failingSecondRelease, type Lab, startLab } from './fixture.js';

let lab: Lab;
let direct: ReturnType<Lab['target']>;
const hostNames = () => lab.lab.hosts.map((h) => h.name);

beforeAll(async () => {
  lab = await startLab(3);
  direct = lab.target();
}, 120_000);
afterAll(async () => {
  await lab?.stop();
});

/** Marks the hosts whose postinst of `pkg` must fail (a file only that host sees). */
async function breakHosts(pkg: string, names: string[]): Promise<void> {
  for (const name of hostNames()) {
    await mkdir(join(lab.lab.rootOf(name), 'etc/ringmaster'), { recursive: true });
    const flag = join(lab.lab.rootOf(name), 'etc/ringmaster', `broken-${pkg}`);
    if (names.includes(name)) await writeFile(flag, '1\n');
    else await rm(flag, { force: true });
  }
}

/**
 * One pipeline `pkg` with a prod ring of every lab host, each reached through its own fault
 * proxy; version 1.0.2's postinst fails on hosts marked broken.
 */
async function world(pkg: string, broken: string[] = []) {
  const dir = join(lab.work, pkg);
  await mkdir(dir, { recursive: true });
  await breakHosts(pkg, broken);
  const proxies: FaultProxy[] = [];
  for (const h of lab.lab.hosts) proxies.push(await startFaultProxy(h.port, { seed: h.port }));
  // known_hosts names a host by address and port: the proxies' ports carry the hosts' keys.
  const knownHosts = join(dir, 'known_hosts');
  const lines = await Promise.all(
    lab.lab.hosts.map(async (h, i) => `[127.0.0.1]:${proxies[i]!.port} ${await lab.lab.hostKeyOf(h.name)}`),
  );
  await writeFile(knownHosts, `${lines.join('\n')}\n`);
  const target = lab.target({
    hosts: lab.lab.hosts.map((h, i) => ({ name: h.name, address: '127.0.0.1', port: proxies[i]!.port })),
    knownHosts: [knownHosts],
    timeouts: { connectMs: 1500, keepaliveMs: 500, keepaliveCountMax: 2 },
  });
  const packager = failingSecondRelease(
    pkg,
    `if [ -e /etc/ringmaster/broken-${pkg} ] && [ "$1" = configure ]; then echo "${pkg}: cannot start" >&2; exit 1; fi`,
  );
  const source = memorySource({ commits: [{ files: { a: '1' }, message: 'one', author: 'alice' }] });
  const app = pipeline({
    name: pkg,
    source,
    packager,
    repository: localRepository({ dir: join(dir, 'repo') }),
    rings: [{ name: 'prod', target, rollout: oneAtATime({ maxFailures: 0, onFailure: 'rollback' }) }],
  });
  const store = fileStore({ dir: join(dir, 'ledger') });
  const engine: Engine = createEngine({ pipelines: [app], store, workDir: join(dir, 'work') });
  const errors: string[] = [];
  engine.on('error', (e) => errors.push(`${e.operation}: ${e.error.message}`));
  const ring = () => engine.ledger.state.pipelines.get(pkg)!.rings.get('prod')!;
  const finished = async () =>
    ((await store.read()) as TypedRecord[]).flatMap((r) => (r.type === 'host.finished' ? [r.data] : []));
  const close = async () => {
    await engine.close();
    await Promise.all(proxies.map((p) => p.close()));
  };
  return { pkg, source, engine, store, proxies, ring, finished, errors, close };
}

type World = Awaited<ReturnType<typeof world>>;

/** What dpkg on each host says, asked directly (not through the proxies). */
const dpkg = (pkg: string) => Promise.all(hostNames().map((h) => observe(direct, h, pkg)));

const v = (version: string): HostState => ({ status: 'installed', version });

/**
 * The three answers agree: the ledger's last word on each host is what dpkg says (or unknown,
 * never another reading); `status` live is what dpkg says (or unreachable, with its reason);
 * the journal is numbered without gaps and has no step twice.
 */
async function assertTruth(w: World): Promise<void> {
  const real = await dpkg(w.pkg);
  const status = await w.engine.status({ live: true });
  const hosts = status.pipelines[0]!.rings[0]!.hosts;
  for (const [i, name] of hostNames().entries()) {
    const recorded = w.ring().hosts.get(name)?.state;
    if (recorded && recorded.status !== 'unknown') expect([name, recorded]).toEqual([name, real[i]]);
    const live = hosts[i]!;
    if (live.unreachable) expect(live.live?.status).toBe('unknown');
    else expect([name, live.live]).toEqual([name, real[i]]);
  }
  const records = await w.store.read();
  expect(records.map((r) => r.seq)).toEqual(records.map((_, i) => i + 1));
  const steps = (await w.finished()).map((d) => `${d.rollout} ${d.host} ${d.phase}`);
  expect(new Set(steps).size).toBe(steps.length);
}

describe('hosts that vanish under the engine (real sshd behind fault proxies)', () => {
  it('an unreachable host is recorded unknown and left untouched; status says unreachable, not drift; it comes back clean', {
    timeout: 120_000,
  }, async () => {
    const w = await world('truth-gone');
    try {
      await w.engine.tick();
      expect(await dpkg(w.pkg)).toEqual([v('1.0.1'), v('1.0.1'), v('1.0.1')]);
      await w.source.commit({ a: '2' }, 'two', 'bob');
      w.proxies[1]!.set('silent', { drop: true });
      await w.engine.tick();

      // host-1 took 1.0.2 and was rolled back; host-2 could not be read and was never touched.
      expect(await dpkg(w.pkg)).toEqual([v('1.0.1'), v('1.0.1'), v('1.0.1')]);
      const host2 = (await w.finished()).filter((d) => d.host === 'host-2' && d.rollout === 'prod#2');
      expect(host2).toHaveLength(1);
      expect(host2[0]).toMatchObject({
        ok: false,
        untouched: true,
        state: { status: 'unknown', code: 'TIMEOUT' },
      });
      expect(host2[0]!.error).toContain('left untouched');
      const rollout = w.engine.ledger.state.pipelines.get(w.pkg)!.rollouts.get('prod#2')!;
      expect(rollout.outcome).toBe('rolled-back');
      expect([...rollout.rollbacks.keys()]).toEqual(['host-1']);
      expect(w.ring().hosts.get('host-2')).toMatchObject({
        state: { status: 'unknown' },
        lastKnown: { state: v('1.0.1') },
      });

      const status = await w.engine.status({ live: true });
      const [h1, h2] = status.pipelines[0]!.rings[0]!.hosts;
      expect(h1).toMatchObject({ drift: false, live: v('1.0.1') });
      expect(h2!.drift).toBe(false);
      expect(h2!.unreachable).toMatch(/handshake did not finish/);
      const table = formatStatus(status);
      expect(table).toContain('unreachable: host-2');
      expect(table).toMatch(/host-2: unreachable \(timed out connecting .*\); last seen with 1\.0\.1/);
      await assertTruth(w);

      // Back: converge reads it again, finds it on the ring's release, and nothing is left to fix.
      w.proxies[1]!.set('forward');
      const report = await w.engine.converge({ pipeline: w.pkg });
      expect(report.ok).toBe(true);
      const after = await w.engine.status({ live: true });
      expect(after.pipelines[0]!.rings[0]!.hosts.map((h) => [h.drift, h.unreachable])).toEqual([
        [false, undefined],
        [false, undefined],
        [false, undefined],
      ]);
      await assertTruth(w);
      expect(w.errors).toEqual([]);
    } finally {
      await w.close();
    }
  });

  it('a host whose first read fails is not installed blind, so a later rollback never removes its package', {
    timeout: 120_000,
  }, async () => {
    // The bug this pins: the read failed and was taken for "nothing installed", the install then
    // went through, and the rollback "restored nothing" by removing the package from a host
    // that had been running 1.0.1 all along.
    const w = await world('truth-blip', ['host-3']);
    try {
      await w.engine.tick();
      await w.source.commit({ a: '2' }, 'two', 'bob');
      // One connection to host-2 is reset (its open session cut first), then it answers again.
      w.proxies[1]!.set('reset-on-accept', { drop: true, connections: 1 });
      await w.engine.tick();
      expect(await dpkg(w.pkg)).toEqual([v('1.0.1'), v('1.0.1'), v('1.0.1')]);
      const steps = (await w.finished()).filter((d) => d.rollout === 'prod#2');
      expect(steps.map((d) => [d.host, d.phase, d.ok, d.state.status])).toEqual([
        ['host-1', 'deploy', true, 'installed'],
        ['host-2', 'deploy', false, 'unknown'],
        ['host-1', 'rollback', true, 'installed'],
      ]);
      await assertTruth(w);
    } finally {
      await w.close();
    }
  });

  it('a host lost during the rollback fails its rollback step (never "already there"); status shows it, converge repairs it', {
    timeout: 120_000,
  }, async () => {
    const w = await world('truth-midway', ['host-2']);
    try {
      await w.engine.tick();
      await w.source.commit({ a: '2' }, 'two', 'bob');
      // host-2's postinst fails; just then host-1, already on 1.0.2, stops answering.
      w.engine.on('host.finished', (d) => {
        if (d.host === 'host-2' && d.phase === 'deploy' && !d.ok) w.proxies[0]!.set('silent', { drop: true });
      });
      await w.engine.tick();
      const rollout = w.engine.ledger.state.pipelines.get(w.pkg)!.rollouts.get('prod#2')!;
      expect(rollout.outcome).toBe('failed');
      expect(rollout.outcomeReason).toMatch(/rollback failed on host-1 \(cannot read what host-1 runs/);
      const rollbacks = (await w.finished()).filter((d) => d.rollout === 'prod#2' && d.phase === 'rollback');
      expect(rollbacks.map((d) => [d.host, d.ok, d.state.status, d.alreadyThere ?? false])).toEqual([
        ['host-2', true, 'installed', false],
        ['host-1', false, 'unknown', false],
      ]);
      // The truth on the hosts: host-1 still runs 1.0.2, host-2 was put back on 1.0.1.
      expect(await dpkg(w.pkg)).toEqual([v('1.0.2'), v('1.0.1'), v('1.0.1')]);
      let status = await w.engine.status({ live: true });
      expect(status.pipelines[0]!.rings[0]!.hosts[0]!.unreachable).toMatch(/handshake did not finish/);
      await assertTruth(w);

      w.proxies[0]!.set('forward');
      status = await w.engine.status({ live: true });
      expect(status.pipelines[0]!.rings[0]!.hosts.map((h) => h.drift)).toEqual([true, false, false]);
      const report = await w.engine.converge({ pipeline: w.pkg });
      expect(report.ok).toBe(true);
      expect(await dpkg(w.pkg)).toEqual([v('1.0.1'), v('1.0.1'), v('1.0.1')]);
      await assertTruth(w);
    } finally {
      await w.close();
    }
  });
});
