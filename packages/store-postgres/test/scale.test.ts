/**
 * Scale, by simulation, on a real PostgreSQL: 100 pipelines — one with a prod ring of 1,000
 * simulated hosts (latency and a seeded failure rate), 99 with small rings — run by three
 * runners on one ledger. It must finish with every host deployed once, with memory bounded,
 * with every runner doing its share (none idle while work waits), and with a ledger that grows
 * with the work, not with the polling: passes with nothing to do write nothing.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  auto,
  batches,
  createEngine,
  type Engine,
  type LedgerRecord,
  memoryRepository,
  memorySource,
  pipeline,
  type Repository,
  type SimulatedFleet,
  simulatedPackager,
  simulatedTarget,
} from '@ringmaster/core';
import { recordAppends } from '@ringmaster/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresStore } from '../src/index.js';
import { type PostgresCluster, startPostgres } from '../src/testing/index.js';

const PIPELINES = 100;
const BIG_RING = 1_000;

let cluster: PostgresCluster;
let dir: string;
beforeAll(async () => {
  cluster = await startPostgres();
  dir = await mkdtemp(join(tmpdir(), 'rm-scale-'));
}, 60_000);
afterAll(async () => {
  await cluster?.destroy();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** One repository per pipeline, shared by the runners (as a real one would be). */
const repositories = new Map<string, Repository>();
const repositoryFor = (name: string): Repository => {
  const repository = repositories.get(name) ?? memoryRepository();
  repositories.set(name, repository);
  return repository;
};

/** The pipelines as one runner sees them; `fleet` is the hosts all runners share. */
function pipelines(fleet: SimulatedFleet, seed: number) {
  return Array.from({ length: PIPELINES }, (_, i) => {
    const name = i === 0 ? 'big' : `svc${i}`;
    const rings =
      i === 0
        ? [
            {
              name: 'prod',
              target: simulatedTarget({
                hosts: Array.from({ length: BIG_RING }, (_, h) => `big-${h + 1}`),
                latencyMs: [2, 8],
                failureRate: 0.003,
                seed,
                fleet,
              }),
              policy: auto(),
              rollout: batches('25%', { maxFailures: 20 }),
            },
          ]
        : ['eng', 'prod'].map((ring) => ({
            name: ring,
            target: simulatedTarget({
              hosts: Array.from({ length: ring === 'eng' ? 2 : 3 }, (_, h) => `${name}-${ring}-${h + 1}`),
              latencyMs: [1, 10],
              seed: seed * 1000 + i,
              fleet,
            }),
            policy: auto(),
          }));
    return pipeline({
      name,
      source: memorySource({ commits: [{ files: { a: name }, message: 'one' }] }),
      packager: simulatedPackager({ name }),
      repository: repositoryFor(name),
      rings,
    });
  });
}

describe('scale by simulation (three runners, PostgreSQL)', () => {
  it(`${PIPELINES} pipelines and a ${BIG_RING}-host ring: every host once, bounded memory, every runner busy, a ledger proportional to the work`, async () => {
    const db = await cluster.createDatabase('scale');
    const fleet: SimulatedFleet = new Map();
    const appended: LedgerRecord[][] = [[], [], []];
    const engines: Engine[] = appended.map((mine, i) =>
      createEngine({
        pipelines: pipelines(fleet, i + 1),
        store: recordAppends(postgresStore({ connectionString: db }), mine),
        owner: `runner-${i + 1}`,
        workDir: join(dir, `work-${i + 1}`),
        forks: 50,
      }),
    );
    const errors: string[] = [];
    for (const e of engines) e.on('error', (x) => errors.push(`${x.operation}: ${x.error.message}`));
    let peakHeap = 0;
    const sampler = setInterval(() => {
      peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
    }, 50);
    const check = postgresStore({ connectionString: db, notify: false });
    const stop = new AbortController();
    try {
      for (const e of engines) await e.start();
      const running = engines.map((e) => e.run({ intervalMs: 100, signal: stop.signal, guard: false }));
      let records: LedgerRecord[] = [];
      for (let i = 0; ; i++) {
        if (i > 1_200) throw new Error(`not finished in 120 s; errors: ${errors.slice(0, 5).join('; ')}`);
        await new Promise((r) => setTimeout(r, 100));
        records = await check.read();
        const verified = new Set(
          records
            .filter((r) => r.type === 'ring.verified' && r.data.ring === 'prod' && r.data.pipeline !== 'big')
            .map((r) => r.data.pipeline),
        );
        const bigDone = records.some((r) => r.type === 'rollout.finished' && r.data.pipeline === 'big');
        if (verified.size === PIPELINES - 1 && bigDone) break;
      }
      stop.abort();
      await Promise.all(running);

      // Every host deployed once (a retry would be a second host.finished for it in one rollout).
      const finished = records.filter((r) => r.type === 'host.finished' && r.data.phase === 'deploy');
      const keys = finished.map((r) => `${r.data.pipeline}/${r.data.rollout}/${r.data.host}`);
      expect(new Set(keys).size).toBe(keys.length);
      expect(finished).toHaveLength(BIG_RING + (PIPELINES - 1) * 5);
      // What the fleet runs is what the ledger says each host ended with.
      for (const r of finished) {
        const state = r.data.state as { status: string; version?: string };
        const host = fleet.get(r.data.host as string)?.get(r.data.pipeline as string);
        expect(host?.version, `${r.data.host}`).toBe(
          state.status === 'installed' ? state.version : undefined,
        );
      }

      // Every runner took its share of the pipelines and of the host steps (a third each on a quiet
      // machine; the floors leave room for a loaded one), and the big ring was shared: a runner
      // busy elsewhere while it ran is not idle, one that finished elsewhere joins it.
      for (const mine of appended) {
        const hosts = mine.filter((r) => r.type === 'host.finished');
        expect(hosts.length).toBeGreaterThan(finished.length * 0.05);
        const rolledOut = new Set(
          mine.filter((r) => r.type === 'rollout.started').map((r) => r.data.pipeline),
        );
        expect(rolledOut.size).toBeGreaterThan(5);
      }
      const onBig = appended.filter((mine) =>
        mine.some((r) => r.type === 'host.finished' && r.data.pipeline === 'big'),
      );
      expect(onBig.length).toBeGreaterThan(1);

      // The ledger grows with the work: a bound per host step and per pipeline, and idle passes add nothing.
      const batchesOpened = records.filter((r) => r.type === 'batch.started').length;
      expect(records.length).toBeLessThanOrEqual(2 * finished.length + 15 * PIPELINES + batchesOpened);
      const before = records.length;
      for (let pass = 0; pass < 3; pass++) await Promise.all(engines.map((e) => e.tick()));
      expect((await check.read()).length).toBe(before);

      // Memory stays bounded (three runners in this process, the whole ledger folded in each).
      expect(peakHeap / 1e6).toBeLessThan(600);
    } finally {
      clearInterval(sampler);
      stop.abort();
      for (const e of engines) await e.close();
      await check.close?.();
    }
  }, 180_000);
});
