/**
 * Several engines on one ledger, on a store that declares `manyRunners` (the memory store's
 * handles here; the real-process chaos test is in store-postgres). Each pass takes a lease per
 * pipeline and per ring, so the runners spread over the work, never deploy a host twice for one
 * release, and end where one runner would.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  auto,
  createEngine,
  type Engine,
  entry,
  fileStore,
  isRingmasterError,
  Ledger,
  type LedgerRecord,
  localRepository,
  localTarget,
  manualClock,
  memorySource,
  memoryStore,
  pipeline,
  type Store,
  tarball,
} from '../src/index.js';
import { recordAppends } from '../src/testing/index.js';
import { tempDir } from './helpers.js';

const NAMES = ['alpha', 'beta', 'gamma', 'delta'];

/** Four pipelines through three rings of two local hosts, their files under `dir`. */
function pipelines(dir: string) {
  return NAMES.map((name) =>
    pipeline({
      name,
      source: memorySource({
        commits: [{ files: { 'app.txt': `${name} v1\n` }, message: 'first', author: 'alice' }],
      }),
      build: { steps: [] },
      packager: tarball({ name }),
      repository: localRepository({ dir: join(dir, 'repo', name) }),
      rings: ['eng', 'sandbox', 'prod'].map((ring) => ({
        name: ring,
        target: localTarget({ root: join(dir, 'hosts', name, ring), hosts: [`${ring}-1`, `${ring}-2`] }),
        policy: auto(),
      })),
    }),
  );
}

/** Ticks every engine at once until each pipeline's prod is verified (bounded). */
async function runUntilDone(engines: Engine[]) {
  for (let pass = 0; pass < 40; pass++) {
    await Promise.all(engines.map((e) => e.tick()));
    const status = await engines[0]!.status();
    if (status.pipelines.every((p) => p.rings.every((r) => r.version !== undefined && r.action === 'idle')))
      return pass;
  }
  throw new Error('the runners did not finish in 40 passes');
}

describe('many runners on one ledger', () => {
  it('three engines start together, spread the pipelines between them, deploy each host once, and end as one engine would', async () => {
    const dir = await tempDir();
    const shared = memoryStore({ manyRunners: true });
    const appended: LedgerRecord[][] = [[], [], []];
    const clock = manualClock('2026-11-02T09:00:00Z');
    // One set of pipelines (the same sources and hosts), three engines: three runners.
    const config = pipelines(dir);
    const engines = appended.map((mine, i) =>
      createEngine({
        pipelines: config,
        store: recordAppends(shared.open(), mine),
        clock,
        owner: `runner-${i + 1}`,
        workDir: join(dir, `work-${i + 1}`),
      }),
    );
    try {
      // No LOCKED: the store says many may run.
      for (const e of engines) await e.start();
      await runUntilDone(engines);

      const records = await shared.read();
      const finished = records.filter((r) => r.type === 'host.finished');
      const keys = finished.map((r) => `${r.data.pipeline}/${r.data.ring}/${r.data.host}/${r.data.release}`);
      expect(new Set(keys).size).toBe(keys.length); // no host deployed twice for one release
      expect(keys).toHaveLength(NAMES.length * 3 * 2);
      expect(records.filter((r) => r.type === 'release.created')).toHaveLength(NAMES.length);
      // The work was spread: more than one runner finished hosts.
      const workers = appended.filter((mine) => mine.some((r) => r.type === 'host.finished')).length;
      expect(workers).toBeGreaterThan(1);
      // And the hosts run what the ledger says.
      for (const p of config)
        for (const ring of p.rings)
          for (const host of ring.target.hosts)
            expect((await ring.target.installed(host.name, p.name))?.version).toBe(
              (await engines[1]!.status()).pipelines
                .find((s) => s.name === p.name)!
                .rings.find((r) => r.name === ring.name)!.version,
            );

      // One engine on a file ledger, on a fresh copy of the same config, ends the same.
      const soloDir = await tempDir();
      const solo = createEngine({
        pipelines: pipelines(soloDir),
        store: fileStore({ dir: join(soloDir, 'ledger') }),
        clock,
        workDir: join(soloDir, 'work'),
      });
      try {
        await solo.start();
        await runUntilDone([solo]);
        const summary = (s: Awaited<ReturnType<Engine['status']>>) =>
          s.pipelines.map((p) => [p.name, p.rings.map((r) => [r.name, r.version, r.action])]);
        expect(summary(await engines[2]!.status())).toEqual(summary(await solo.status()));
      } finally {
        await solo.close();
      }
    } finally {
      for (const e of engines) await e.close();
    }
  });

  it('on a store without the capability the second engine is still refused (one runner per file ledger)', async () => {
    const dir = await tempDir();
    const store = memoryStore();
    const one = createEngine({ pipelines: pipelines(dir), store: store.open(), workDir: join(dir, 'w1') });
    const two = createEngine({ pipelines: pipelines(dir), store: store.open(), workDir: join(dir, 'w2') });
    try {
      await one.start();
      const error = await two.start().catch((e: unknown) => e);
      expect(isRingmasterError(error, 'LOCKED')).toBe(true);
    } finally {
      await one.close();
      await two.close();
    }
  });

  it('facts from several writers never fail for being late, and concurrent reads fold each record once, in order', async () => {
    const shared = memoryStore({ manyRunners: true });
    const seen: number[] = [];
    const clock = manualClock('2026-11-02T09:00:00Z');
    const mine = new Ledger(shared.open(), clock, { onRecord: (r) => seen.push(r.seq) });
    const others = [new Ledger(shared.open(), clock), new Ledger(shared.open(), clock)];
    const fact = (n: number) =>
      entry('lease.lost', { lease: `x${n}`, owner: 'test', reason: 'a fact, appended wherever the end is' });
    // Three writers append facts at once while this one also reads: no CONFLICT, nothing twice.
    await Promise.all([
      ...others.map((l, w) => Promise.all(Array.from({ length: 40 }, (_, i) => l.write(fact(w * 100 + i))))),
      Promise.all(Array.from({ length: 40 }, (_, i) => mine.write(fact(1000 + i)))),
      Promise.all(Array.from({ length: 20 }, () => mine.refresh())),
    ]);
    await mine.refresh();
    expect(mine.state.lastSeq).toBe(120);
    expect(seen).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
  });

  it('writes under different leases go out in one append; when one lease is lost only the writes under it fail', async () => {
    const shared = memoryStore({ manyRunners: true });
    const handle = shared.open();
    let appends = 0;
    const counting = Object.assign(Object.create(handle) as Store, {
      append: (...args: Parameters<Store['append']>) => {
        appends++;
        return handle.append(...args);
      },
    });
    const ledger = new Ledger(counting, manualClock('2026-11-02T09:00:00Z'));
    const a = (await handle.acquire('host:a', { owner: 'me', ttlMs: 60_000 }))!;
    const b = (await handle.acquire('host:b', { owner: 'me', ttlMs: 60_000 }))!;
    const fact = (n: string) => entry('lease.lost', { lease: n, owner: 'test', reason: 'a fact' });
    // While the first append is under way, writes under a and under b queue up: one append for both.
    const first = ledger.write(fact('first'));
    await new Promise((r) => setImmediate(r)); // the first append has begun
    const together = [ledger.writeUnder([a], fact('a1')), ledger.writeUnder([b], fact('b1'))];
    await Promise.all([first, ...together]);
    expect(appends).toBe(2);

    // b is taken over by someone else: a's write lands, b's is refused, nothing else is lost.
    await handle.release(b);
    expect(await shared.open().acquire('host:b', { owner: 'thief', ttlMs: 60_000 })).toBeDefined();
    const results = await Promise.allSettled([
      ledger.write(fact('second')),
      ledger.writeUnder([a], fact('a2')),
      ledger.writeUnder([b], fact('b2')),
      ledger.writeUnder([a], fact('a3')),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect(isRingmasterError((results[2] as PromiseRejectedResult).reason, 'LOCKED')).toBe(true);
    const leases = (await handle.read()).map((r) => r.data.lease);
    expect(leases).toEqual(['first', 'a1', 'b1', 'second', 'a2', 'a3']);
  });

  it('a decision whose retry cannot read the ledger fails with that error, and the ledger goes on writing', async () => {
    const shared = memoryStore({ manyRunners: true });
    const handle = shared.open();
    let readsFail = false;
    const flaky = Object.assign(Object.create(handle) as Store, {
      read: (...args: Parameters<Store['read']>) =>
        readsFail ? Promise.reject(new Error('the database is restarting')) : handle.read(...args),
    });
    const ledger = new Ledger(flaky, manualClock('2026-11-02T09:00:00Z'));
    const fact = (n: string) => entry('lease.lost', { lease: n, owner: 'test', reason: 'a fact' });
    await shared.open().append([{ type: 'other', time: new Date(0).toISOString(), data: {} }]); // ledger moved on
    readsFail = true;
    const decided = await ledger
      .decide(() => [fact('decision')])
      .then(
        () => 'written',
        (e: Error) => e.message,
      );
    expect(decided).toBe('the database is restarting');
    readsFail = false;
    await ledger.write(fact('after'));
    expect((await handle.read()).map((r) => r.data.lease ?? r.type)).toEqual(['other', 'after']);
  });

  it('build() says another runner has the pipeline (LOCKED) instead of building nothing in silence', async () => {
    const dir = await tempDir();
    const shared = memoryStore({ manyRunners: true });
    const held = await shared.open().acquire('pipeline:alpha', { owner: 'runner-9', ttlMs: 60_000 });
    expect(held).toBeDefined();
    const engine = createEngine({ pipelines: pipelines(dir), store: shared.open(), workDir: join(dir, 'w') });
    try {
      await engine.start();
      const error = await engine.build({ pipeline: 'alpha' }).catch((e: unknown) => e);
      expect(isRingmasterError(error, 'LOCKED')).toBe(true);
      expect((error as Error).message).toContain('runner-9');
    } finally {
      await engine.close();
    }
  });
});
