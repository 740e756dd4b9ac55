/** The engine under faults and shared ledgers: locks, broken builds, rewritten history, drift. */
import { rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createEngine, fileStore, isRingmasterError, manual, RingmasterError } from '../src/index.js';
import { closeAfter, world } from './helpers.js';

describe('engine: locks and shared ledgers', () => {
  it('a second engine on the same ledger is refused, naming the holder; with waitMs it gets the lease once the first closes', async () => {
    const w = await world();
    await w.engine.start();
    const second = closeAfter(
      createEngine({
        pipelines: [w.app],
        store: fileStore({ dir: join(w.dir, 'ledger') }),
        workDir: join(w.dir, 'work2'),
      }),
    );
    const error = await second.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isRingmasterError(error, 'LOCKED')).toBe(true);
    expect((error as Error).message).toContain(`pid ${process.pid}`);
    expect((error as Error).message).toContain('another engine runs on this ledger');
    const waiting = second.start({ waitMs: 10_000 });
    await w.engine.close();
    await expect(waiting).resolves.toBeUndefined();
    await second.close();
  });

  it('an approval written by another process (a second handle) is seen by the running engine', async () => {
    const w = await world({ policies: { prod: manual() } });
    await w.engine.start();
    await w.engine.tick();
    const cli = closeAfter(
      createEngine({
        pipelines: [w.app],
        store: fileStore({ dir: join(w.dir, 'ledger') }),
        workDir: join(w.dir, 'w2'),
      }),
    );
    await cli.approve({ pipeline: 'app', ring: 'prod', release: '1.0.1', by: 'bob', via: 'cli' });
    await w.engine.tick();
    expect(await w.versions('prod')).toEqual(['1.0.1', '1.0.1']);
    await w.engine.close();
  });

  it('a locked ring takes nothing, automatic or manual, until unlocked', async () => {
    const w = await world();
    await w.engine.lock({ pipeline: 'app', ring: 'sandbox', reason: 'incident 42', by: 'carol' });
    await w.engine.tick();
    expect(await w.versions('eng')).toEqual(['1.0.1', '1.0.1']);
    expect(await w.versions('sandbox')).toEqual([undefined, undefined]);
    const error = await w.engine
      .promote({ pipeline: 'app', ring: 'sandbox', release: '1.0.1' })
      .catch((e: unknown) => e);
    expect(isRingmasterError(error, 'LOCKED')).toBe(true);
    expect((error as Error).message).toContain('incident 42');
    await w.engine.unlock({ pipeline: 'app', ring: 'sandbox' });
    await w.engine.tick();
    expect(await w.versions('prod')).toEqual(['1.0.1', '1.0.1']);
  });
});

describe('engine: bad builds and history', () => {
  it('a build step that does not exist or times out fails the build with its reason; the engine goes on', async () => {
    const missing = await world({ buildSteps: [['no-such-build-tool', '--all']] });
    await missing.engine.tick();
    const p = missing.engine.ledger.state.pipelines.get('app')!;
    const build = [...p.revisions.values()][0]!.build!;
    expect(build.status).toBe('failed');
    expect(build.error).toContain('no-such-build-tool');
    expect(p.releases.size).toBe(0);
    expect(missing.notes.some((n) => n.startsWith('FAIL build of') && n.includes('no-such-build-tool'))).toBe(
      true,
    );

    const slow = await world({ buildSteps: [['sleep', '5']] });
    slow.app.build.timeout = 200;
    await slow.engine.tick();
    const timedOut = [...slow.engine.ledger.state.pipelines.get('app')!.revisions.values()][0]!.build!;
    expect(timedOut.error).toContain('timed out after 200 ms');
  });

  it('history rewritten under the cursor (a force-push) is reported and polling resumes from the new head', async () => {
    const w = await world();
    await w.engine.tick();
    await w.source.commit({ 'app.txt': 'v2\n' }, 'two');
    await w.engine.tick();
    w.source.rewind(1);
    await w.source.commit({ 'app.txt': 'v2-rewritten\n' }, 'two, rewritten');
    await w.engine.tick();
    expect(w.errors).toEqual([]);
    const records = await w.store.read();
    const reset = records.find((r) => r.type === 'source.reset');
    expect(reset?.data.reason).toContain('no longer on main');
    // Only the new head was built: three builds in all, not the whole history again.
    expect(records.filter((r) => r.type === 'build.finished')).toHaveLength(3);
  });

  it('a deploy request in the repository is an approval for that revision in that ring', async () => {
    const w = await world({ policies: { prod: manual() } });
    await w.engine.tick();
    const head = await w.source.head();
    await w.source.requestDeploy!({ ring: 'prod', revision: head.id, message: 'deploying to prod' });
    await w.engine.tick();
    expect(await w.versions('prod')).toEqual(['1.0.1', '1.0.1']);
    const approval = w.engine.ledger.state.pipelines.get('app')!.approvals[0]!;
    expect(approval).toMatchObject({ ring: 'prod', revision: head.id, via: 'vcs' });
  });
  it('a deploy request deleted under the cursor (a git tag removed): the requests are read again, the seen ones left out, and the next one is taken', async () => {
    const w = await world({ policies: { prod: manual() } });
    await w.engine.tick();
    const first = await w.source.requestDeploy!({ ring: 'prod', revision: (await w.source.head()).id });
    await w.engine.tick();
    expect(await w.versions('prod')).toEqual(['1.0.1', '1.0.1']);
    // The first request is deleted in the repository: the source no longer knows that cursor.
    const read = w.source.deployRequests!.bind(w.source);
    w.source.deployRequests = async (since) => {
      if (since === first.id)
        throw new RingmasterError('CURSOR_LOST', `deploy request ${since} no longer exists (tag deleted?)`);
      return (await read(since)).filter((r) => r.id !== first.id);
    };
    await w.source.commit({ 'app.txt': 'v2\n' }, 'second', 'bob');
    await w.engine.tick();
    await w.source.requestDeploy!({ ring: 'prod', revision: (await w.source.head()).id });
    await w.engine.tick();
    expect(w.errors).toEqual([]);
    expect(await w.versions('prod')).toEqual(['1.0.2', '1.0.2']);
    const records = await w.engine.ledger.read();
    // The reset came at the tick before the second request: no request left to move the cursor to.
    expect(records.filter((r) => r.type === 'deploy-requests.reset').map((r) => r.data)).toEqual([
      { pipeline: 'app', from: first.id, reason: expect.stringContaining('no longer exists') },
    ]);
    expect(w.engine.ledger.state.pipelines.get('app')!.requestCursor).not.toBe(first.id);
    // Each request was taken once: one approval each, none twice after the reset.
    await w.engine.tick();
    const approvals = w.engine.ledger.state.pipelines.get('app')!.approvals;
    expect(approvals.map((a) => [a.ring, a.via])).toEqual([
      ['prod', 'vcs'],
      ['prod', 'vcs'],
    ]);
  });
});

describe('engine: status and drift', () => {
  it('status --live reports a host that does not run what the ledger says', async () => {
    const w = await world();
    await w.engine.tick();
    // Someone "fixed" prod-2 by hand: its current link now points nowhere the ledger knows.
    const link = join(w.dir, 'hosts', 'prod', 'prod-2', 'app', 'current');
    await rm(link);
    await symlink('releases/0.9.0', link);
    const report = await w.engine.status({ live: true });
    const prod = report.pipelines[0]!.rings.find((r) => r.name === 'prod')!;
    const v = (version: string) => ({ status: 'installed', version });
    expect(prod.hosts.map((h) => [h.name, h.recorded, h.live, h.drift])).toEqual([
      ['prod-1', v('1.0.1'), v('1.0.1'), false],
      ['prod-2', v('1.0.1'), v('0.9.0'), true],
    ]);
  });

  it('rollback by API returns the ring to the previous release and rejects the current one there', async () => {
    const w = await world();
    await w.engine.tick();
    await w.source.commit({ 'app.txt': 'v2\n' }, 'two', 'bob');
    await w.engine.tick();
    await w.engine.rollback({ pipeline: 'app', ring: 'prod', by: 'carol', reason: 'error rate' });
    expect(await w.versions('prod')).toEqual(['1.0.1', '1.0.1']);
    await w.engine.tick();
    expect(await w.versions('prod')).toEqual(['1.0.1', '1.0.1']);
    expect((await w.engine.explain({ pipeline: 'app', ring: 'prod' })).action).toBe('idle');
    const rejected = w.engine.ledger.state.pipelines.get('app')!.releaseRings.get('1.0.2')!.get('prod');
    expect(rejected).toMatchObject({ status: 'rejected', reason: 'error rate' });
    // Unpinning lifts the rejection: the next pass promotes 1.0.2 to prod again.
    await expect(w.engine.unpin({ pipeline: 'app', ring: 'sandbox', release: '1.0.2' })).rejects.toThrow(
      /not rejected/,
    );
    await w.engine.unpin({ pipeline: 'app', ring: 'prod', release: '1.0.2', by: 'carol' });
    await w.engine.tick();
    expect(await w.versions('prod')).toEqual(['1.0.2', '1.0.2']);
  });
});

describe('engine: stopping mid-rollout (Ctrl-C)', () => {
  it('close() lets the current host finish, leaves the rollout in flight, and the next engine resumes it', async () => {
    const w = await world({ hosts: 4 });
    // Slow hosts: each health check takes a moment, so close() lands mid-rollout.
    // (The engine's first poll takes just the head: this commit is release 1.0.2.)
    await w.source.commit({ 'check.sh': 'sleep 0.2; exit 0\n' }, 'slow check');
    // Watch the eng target: closing it while a host is mid-install would break that host.
    const eng = w.app.rings[0]!.target;
    let installing = 0;
    let closedMidInstall: boolean | undefined;
    const install = eng.install.bind(eng);
    Object.assign(eng, {
      install: async (...args: Parameters<typeof install>) => {
        installing++;
        try {
          return await install(...args);
        } finally {
          installing--;
        }
      },
      close: async () => {
        closedMidInstall = installing > 0;
      },
    });
    await w.engine.start();
    // Ctrl-C while the second host is being installed.
    let started = 0;
    const secondHost = new Promise<void>((resolve) =>
      w.engine.on('host.started', () => {
        if (++started === 2) resolve();
      }),
    );
    const pass = w.engine.tick();
    await secondHost;
    await w.engine.close();
    await pass;
    expect(closedMidInstall).toBe(false);
    const p = w.engine.ledger.state.pipelines.get('app')!;
    const rollout = p.rollouts.get('eng#1')!;
    expect(rollout.outcome).toBeUndefined();
    const finished = [...rollout.hosts.values()].filter((h) => h.finished);
    expect(finished.length).toBeGreaterThan(0);
    expect(finished.length).toBeLessThan(4);
    expect(finished.every((h) => h.finished!.ok)).toBe(true);
    expect(rollout.parked?.reason).toMatch(/stopped before batch/);
    expect((await w.engine.explain({ pipeline: 'app', ring: 'eng' })).summary).toContain('is parked');

    const next = closeAfter(
      createEngine({
        pipelines: [w.app],
        store: fileStore({ dir: join(w.dir, 'ledger') }),
        workDir: join(w.dir, 'work'),
      }),
    );
    await next.start();
    await next.tick();
    expect(await w.versions('prod')).toEqual(['1.0.2', '1.0.2', '1.0.2', '1.0.2']);
    expect(next.ledger.state.pipelines.get('app')!.rollouts.get('eng#1')!.outcome).toBe('succeeded');
    await next.close();
  });
});
