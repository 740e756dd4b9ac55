/** converge: drifted hosts are brought back to their ring's release, through a recorded rollout. */
import { rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeState, isRingmasterError } from '../src/index.js';
import { world } from './helpers.js';

/** Someone "fixed" a host by hand: its current link now points at a release the ledger never shipped. */
async function handEdit(dir: string, ring: string, host: string, to = '0.9.0') {
  const link = join(dir, 'hosts', ring, host, 'app', 'current');
  await rm(link);
  await symlink(`releases/${to}`, link);
}

describe('engine.converge', () => {
  it('reinstalls the ring release on the drifted host only, records a converge rollout, and status --live shows no drift', async () => {
    const w = await world({ hosts: 3 });
    await w.engine.tick();
    await handEdit(w.dir, 'prod', 'prod-2');
    const before = await w.engine.status({ live: true });
    expect(before.pipelines[0]!.rings[2]!.hosts.filter((h) => h.drift).map((h) => h.name)).toEqual([
      'prod-2',
    ]);

    const report = await w.engine.converge({ pipeline: 'app', by: 'carol' });
    expect(report.ok).toBe(true);
    expect(
      report.rings.map((r) => [
        r.ring,
        r.drifted.map((d) => `${d.host}=${describeState(d.live)}`),
        r.outcome ?? null,
      ]),
    ).toEqual([
      ['eng', [], null],
      ['sandbox', [], null],
      ['prod', ['prod-2=0.9.0'], 'succeeded'],
    ]);
    expect(await w.versions('prod')).toEqual(['1.0.1', '1.0.1', '1.0.1']);

    const after = await w.engine.status({ live: true });
    expect(after.pipelines[0]!.rings.flatMap((r) => r.hosts).filter((h) => h.drift)).toEqual([]);

    const records = await w.store.read();
    const started = records.filter((r) => r.type === 'rollout.started' && r.data.kind === 'converge');
    expect(started).toHaveLength(1);
    expect(started[0]!.data).toMatchObject({ ring: 'prod', release: '1.0.1', batches: [['prod-2']] });
    expect(String(started[0]!.data.reason)).toContain('converge by carol: prod-2 (0.9.0)');
    const hosts = records.filter(
      (r) => r.type === 'host.finished' && r.data.rollout === report.rings[2]!.rollout,
    );
    expect(hosts.map((r) => [r.data.host, r.data.ok, r.data.state])).toEqual([
      ['prod-2', true, { status: 'installed', version: '1.0.1' }],
    ]);
    // The ring still runs the same release, and a converge is no new deployment of it.
    const prod = w.engine.ledger.state.pipelines.get('app')!.rings.get('prod')!;
    expect(prod.current).toBe('1.0.1');
    expect(prod.history).toEqual([]);
  });

  it('with nothing drifted it reads every host and writes nothing', async () => {
    const w = await world();
    await w.engine.tick();
    const seq = w.engine.ledger.state.lastSeq;
    const report = await w.engine.converge();
    expect(report.ok).toBe(true);
    expect(report.rings.map((r) => r.reason)).toEqual([
      'every host of eng runs 1.0.1',
      'every host of sandbox runs 1.0.1',
      'every host of prod runs 1.0.1',
    ]);
    expect(w.engine.ledger.state.lastSeq).toBe(seq);
  });

  it('a locked ring is reported and left alone; an unknown ring is NOT_FOUND', async () => {
    const w = await world();
    await w.engine.tick();
    await handEdit(w.dir, 'sandbox', 'sandbox-1');
    await w.engine.lock({ pipeline: 'app', ring: 'sandbox', reason: 'incident 42', by: 'dave' });
    const report = await w.engine.converge({ pipeline: 'app', ring: 'sandbox' });
    expect(report.ok).toBe(false);
    expect(report.rings).toHaveLength(1);
    expect(report.rings[0]).toMatchObject({ outcome: 'skipped', converged: false });
    expect(report.rings[0]!.reason).toMatch(/locked by dave since .*: incident 42; unlock it to converge/);
    expect(await w.versions('sandbox')).toEqual(['0.9.0', '1.0.1']);
    const error = await w.engine.converge({ pipeline: 'app', ring: 'qa' }).catch((e: unknown) => e);
    expect(isRingmasterError(error, 'NOT_FOUND')).toBe(true);
    expect((error as Error).message).toContain('eng, sandbox, prod');
  });
});
