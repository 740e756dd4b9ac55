/**
 * One ring's rollout shared by several runners: the ring's holder opens each batch, every
 * runner works on the hosts it can claim (at most `forks` at once), the holder weighs the whole
 * batch — the others' failures included — and alone decides to go on or roll back.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  auto,
  batches,
  createEngine,
  type Engine,
  formatStatus,
  type Lease,
  type LedgerRecord,
  localRepository,
  memorySource,
  memoryStore,
  pipeline,
  type SimulatedFleet,
  type Store,
  simulatedTarget,
  type Target,
  tarball,
} from '../src/index.js';
import { recordAppends } from '../src/testing/index.js';
import { tempDir } from './helpers.js';

/** Fails every install on `host`, passes the rest to `target`. */
function failingOn(target: Target, host: string): Target {
  return Object.assign(Object.create(target) as Target, {
    install: async (h: string, artifact: Parameters<Target['install']>[1]) => {
      if (h === host) throw new Error(`${h}: disk on fire`);
      return target.install(h, artifact);
    },
  });
}

async function runners(options: { hosts: number; batch: number; failOn?: string }) {
  const dir = await tempDir();
  const store = memoryStore({ manyRunners: true });
  const fleet: SimulatedFleet = new Map();
  const appended = [[], [], []] as LedgerRecord[][];
  const engines: Engine[] = appended.map((mine, i) => {
    const sim = simulatedTarget({ hosts: options.hosts, latencyMs: [40, 60], fleet, seed: i + 1 });
    const app = pipeline({
      name: 'app',
      source: memorySource({ commits: [{ files: { a: '1' }, message: 'one' }] }),
      packager: tarball({ name: 'app' }),
      repository: localRepository({ dir: join(dir, 'repo') }),
      rings: [
        {
          name: 'prod',
          target: options.failOn ? failingOn(sim, options.failOn) : sim,
          policy: auto(),
          rollout: batches(options.batch, { maxFailures: 0, onFailure: 'rollback' }),
        },
      ],
    });
    return createEngine({
      pipelines: [app],
      store: recordAppends(store.open(), mine),
      owner: `runner-${i + 1}`,
      workDir: join(dir, `work-${i + 1}`),
      forks: 4,
      leaseMs: 2_000,
    });
  });
  const stop = new AbortController();
  for (const e of engines) await e.start();
  const running = engines.map((e) => e.run({ intervalMs: 10, signal: stop.signal, guard: false }));
  const finished = async () => {
    for (let i = 0; i < 500; i++) {
      if ((await store.read()).some((r) => r.type === 'rollout.finished')) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error('the rollout did not finish in 10 s');
  };
  return {
    store,
    fleet,
    appended,
    async done() {
      await finished();
      stop.abort();
      await Promise.all(running);
      for (const e of engines) await e.close();
    },
  };
}

const hostsIn = (records: LedgerRecord[], type: string, phase = 'deploy') =>
  records.filter((r) => r.type === type && r.data.phase === phase).map((r) => r.data.host as string);

describe('a rollout shared by several runners', () => {
  it('the hosts of each batch are spread over the runners, each deployed once, and the holder weighs every batch', async () => {
    const w = await runners({ hosts: 24, batch: 12 });
    await w.done();
    const records = await w.store.read();
    const finished = hostsIn(records, 'host.finished');
    expect(finished.sort()).toEqual(Array.from({ length: 24 }, (_, i) => `sim-${i + 1}`).sort());
    expect(records.filter((r) => r.type === 'batch.started').map((r) => r.data.batch)).toEqual([0, 1]);
    // More than one runner finished hosts: the batch was shared.
    const workers = w.appended.filter((mine) => hostsIn(mine, 'host.finished').length > 0);
    expect(workers.length).toBeGreaterThan(1);
    // No host of batch 2 started before every host of batch 1 had finished.
    const seqOf = (host: string, type: string) =>
      records.find((r) => r.type === type && r.data.host === host)!.seq;
    const lastOfFirst = Math.max(
      ...Array.from({ length: 12 }, (_, i) => seqOf(`sim-${i + 1}`, 'host.finished')),
    );
    const firstOfSecond = Math.min(
      ...Array.from({ length: 12 }, (_, i) => seqOf(`sim-${i + 13}`, 'host.started')),
    );
    expect(firstOfSecond).toBeGreaterThan(lastOfFirst);
    expect(records.find((r) => r.type === 'rollout.finished')?.data.outcome).toBe('succeeded');
    for (let i = 1; i <= 24; i++) expect(w.fleet.get(`sim-${i}`)?.get('app')?.version).toBe('1.0.1');
  });

  it("a failure anywhere in a shared batch spends the holder's budget: the batch is rolled back, the next never opened", async () => {
    const w = await runners({ hosts: 16, batch: 8, failOn: 'sim-5' });
    await w.done();
    const records = await w.store.read();
    const end = records.find((r) => r.type === 'rollout.finished')!;
    expect(end.data.outcome).toBe('rolled-back');
    expect(String(end.data.reason)).toContain('sim-5: disk on fire');
    expect(records.filter((r) => r.type === 'batch.started').map((r) => r.data.batch)).toEqual([0]);
    // Nothing of the second batch was touched; every changed host of the first is back to nothing.
    expect(hostsIn(records, 'host.started').filter((h) => Number(h.slice(4)) > 8)).toEqual([]);
    for (let i = 1; i <= 16; i++) expect(w.fleet.get(`sim-${i}`)?.get('app')).toBeUndefined();
    // Every host of the batch is visited by the rollback, the failed one included (found as it was).
    const rolledBack = hostsIn(records, 'host.finished', 'rollback').sort();
    expect(rolledBack).toEqual(Array.from({ length: 8 }, (_, i) => `sim-${i + 1}`).sort());
  });

  it('a runner whose host claim was taken after it recorded host.started does not install there', async () => {
    const dir = await tempDir();
    const shared = memoryStore({ manyRunners: true });
    const installs: string[] = [];
    const sim = simulatedTarget({ hosts: 4, latencyMs: 1 });
    const target: Target = Object.assign(Object.create(sim) as Target, {
      install: async (host: string, artifact: Parameters<Target['install']>[1]) => {
        installs.push(host);
        return sim.install(host, artifact);
      },
    });
    // The moment sim-2's step is recorded, another runner takes its claim, as if this one had
    // stalled past it (its lease given up here, taken by the thief): the install must not follow.
    const name = 'host:app:prod:sim-2';
    const handle = shared.open();
    let claim: Lease | undefined;
    const store: Store = Object.assign(Object.create(handle) as Store, {
      acquire: async (...args: Parameters<Store['acquire']>) => {
        const lease = await handle.acquire(...args);
        if (args[0] === name) claim = lease;
        return lease;
      },
      append: async (...args: Parameters<Store['append']>) => {
        const stored = await handle.append(...args);
        if (claim && stored.some((r) => r.type === 'host.started' && r.data.host === 'sim-2')) {
          await handle.release(claim);
          expect(await shared.open().acquire(name, { owner: 'thief', ttlMs: 60_000 })).toBeDefined();
        }
        return stored;
      },
    });
    const app = pipeline({
      name: 'app',
      source: memorySource({ commits: [{ files: { a: '1' }, message: 'one' }] }),
      packager: tarball({ name: 'app' }),
      repository: localRepository({ dir: join(dir, 'repo') }),
      rings: [{ name: 'prod', target, policy: auto(), rollout: batches(4) }],
    });
    const engine = createEngine({ pipelines: [app], store, workDir: join(dir, 'work') });
    const errors: string[] = [];
    engine.on('error', (e) => errors.push(e.error.message));
    try {
      await engine.start();
      await engine.tick();
      expect(installs.sort()).toEqual(['sim-1', 'sim-3', 'sim-4']);
      expect(errors.join('\n')).toMatch(/lost the lock host:app:prod:sim-2/);
      const records = await shared.read();
      expect(records.some((r) => r.type === 'host.started' && r.data.host === 'sim-2')).toBe(true);
      expect(records.filter((r) => r.type === 'host.finished' && r.data.host === 'sim-2')).toEqual([]);
      expect(sim.fleet.get('sim-2')?.get('app')).toBeUndefined();
    } finally {
      await engine.close();
    }
  });

  it('status, asked from another runner, says which runner has a ring under way', async () => {
    const dir = await tempDir();
    const shared = memoryStore({ manyRunners: true });
    const fleet: SimulatedFleet = new Map();
    const app = () =>
      pipeline({
        name: 'app',
        source: memorySource({ commits: [{ files: { a: '1' }, message: 'one' }] }),
        packager: tarball({ name: 'app' }),
        repository: localRepository({ dir: join(dir, 'repo') }),
        rings: [
          {
            name: 'prod',
            target: simulatedTarget({ hosts: 3, latencyMs: 150, fleet }),
            policy: auto(),
            rollout: batches(1),
          },
        ],
      });
    const busy = createEngine({
      pipelines: [app()],
      store: shared.open(),
      owner: 'runner-busy',
      workDir: join(dir, 'w1'),
    });
    const asking = createEngine({
      pipelines: [app()],
      store: shared.open(),
      owner: 'runner-asking',
      workDir: join(dir, 'w2'),
    });
    try {
      await busy.start();
      await asking.start();
      const pass = busy.tick();
      for (let i = 0; i < 200 && !(await shared.read()).some((r) => r.type === 'host.started'); i++)
        await new Promise((r) => setTimeout(r, 10));
      const status = await asking.status();
      const prod = status.pipelines[0]!.rings[0]!;
      expect(prod.action).toBe('resume');
      expect(prod.holder).toMatch(/^runner-busy \(pid \d+ on /);
      expect(formatStatus(status)).toContain('app/prod: rollout under way by runner-busy');
      await pass;
      const after = (await asking.status()).pipelines[0]!.rings[0]!;
      expect(after.holder).toBeUndefined();
      expect(after.version).toBe('1.0.1');
    } finally {
      await busy.close();
      await asking.close();
    }
  });
});
