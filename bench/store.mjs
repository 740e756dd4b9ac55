#!/usr/bin/env node
// Store benchmark, on a throwaway PostgreSQL cluster (Debian's postgresql, started and stopped
// here) and a file ledger on the same disk:
//   1. append latency and throughput: the file store, the postgres store, and the database's own
//      floor (a bare INSERT in a transaction over the same driver), with one writer and three;
//   2. a 1,000-host ring (simulated hosts that take 0.5–1 s each, and again 50–100 ms; forks 25
//      per runner) rolled out by one runner and by three sharing it: the ratio of wall times;
//   3. the engine's overhead per host step on postgres (hosts that take no time);
//   4. the process's peak RSS (the three runners run in this one process).
// Each measurement is repeated (BENCH_RUNS, default 5) with ours and the peer interleaved, and
// reported as median (min–max); ratios come from medians of the same run.
//
//   npm run bench:store            BENCH_RUNS=3 npm run bench:store
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  auto,
  batches,
  createEngine,
  fileStore,
  memoryRepository,
  memorySource,
  pipeline,
  simulatedPackager,
  simulatedTarget,
} from '@ringmaster/core';
import { postgresStore } from '@ringmaster/store-postgres';
import { startPostgres } from '@ringmaster/store-postgres/testing';
import pg from 'pg';
import { load, median, spread as spreadTo } from './stats.mjs';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const APPENDS = 400;
const RING_HOSTS = 1000;
const dir = await mkdtemp(join(tmpdir(), 'rm-bench-store-'));
console.log(`[bench] load at start: ${load()} (1, 5, 15 min); ${RUNS} runs of each measurement`);

let peakRss = 0;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 50);

const cluster = await startPostgres({ settings: { synchronous_commit: 'on' } });
let databases = 0;
const freshDb = () => cluster.createDatabase(`bench_${++databases}`);

const spread = (xs) => spreadTo(xs, 3);
const record = (i) => ({
  type: 'bench.record',
  time: new Date(0).toISOString(),
  data: { i, pad: 'x'.repeat(200) },
});

/** `writers` concurrent writers each appending APPENDS/writers single records; ms per append. */
async function appendRun(open, writers) {
  const handles = await Promise.all(Array.from({ length: writers }, () => open()));
  await handles[0].append([record(-1)]); // schema created, connections warm
  const started = performance.now();
  await Promise.all(
    handles.map(async (h, w) => {
      for (let i = 0; i < APPENDS / writers; i++) await h.append([record(w * APPENDS + i)]);
    }),
  );
  const ms = performance.now() - started;
  for (const h of handles) await h.close?.();
  return { perAppend: ms / APPENDS, perSecond: (APPENDS / ms) * 1000 };
}

/** The database's floor: BEGIN; INSERT one row; COMMIT, over pg, per writer connection. */
async function floorRun(writers) {
  const url = await freshDb();
  const setup = new pg.Client({ connectionString: url });
  await setup.connect();
  await setup.query('CREATE TABLE t (seq bigserial PRIMARY KEY, json text NOT NULL)');
  await setup.end();
  const clients = await Promise.all(
    Array.from({ length: writers }, async () => {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      return c;
    }),
  );
  const json = JSON.stringify(record(0));
  const started = performance.now();
  await Promise.all(
    clients.map(async (c) => {
      for (let i = 0; i < APPENDS / writers; i++) {
        await c.query('BEGIN');
        await c.query('INSERT INTO t (json) VALUES ($1)', [json]);
        await c.query('COMMIT');
      }
    }),
  );
  const ms = performance.now() - started;
  for (const c of clients) await c.end();
  return { perAppend: ms / APPENDS, perSecond: (APPENDS / ms) * 1000 };
}

const appendResults = {};
for (const writers of [1, 3]) {
  const file = [];
  const postgres = [];
  const floor = [];
  for (let run = 0; run < RUNS; run++) {
    const ledger = join(dir, `ledger-${writers}-${run}`);
    file.push(await appendRun(async () => fileStore({ dir: ledger }), writers));
    const url = await freshDb();
    postgres.push(
      await appendRun(async () => postgresStore({ connectionString: url, notify: true }), writers),
    );
    floor.push(await floorRun(writers));
  }
  appendResults[writers] = { file, postgres, floor };
  const ms = (xs) => spread(xs.map((x) => x.perAppend));
  const tput = (xs) => median(xs.map((x) => x.perSecond)).toFixed(0);
  console.log(
    `[bench] append, ${writers} writer(s): file ${ms(file)} ms (${tput(file)}/s), postgres ${ms(postgres)} ms (${tput(postgres)}/s), bare INSERT+COMMIT ${ms(floor)} ms (${tput(floor)}/s) → postgres store / floor ${(median(postgres.map((x) => x.perAppend)) / median(floor.map((x) => x.perAppend))).toFixed(2)}`,
  );
}

// ─── a 1,000-host ring: one runner against three ────────────────────────────────────────────

/** Rolls one release out to RING_HOSTS simulated hosts with `runners` engines; wall ms. */
async function ringRun(runners, latencyMs, hosts = RING_HOSTS, forks = 25) {
  const url = await freshDb();
  const fleet = new Map();
  const source = memorySource({ commits: [{ files: { a: '1' }, message: 'one' }] });
  const repository = memoryRepository();
  const engines = Array.from({ length: runners }, (_, i) =>
    createEngine({
      pipelines: [
        pipeline({
          name: 'fleet',
          source,
          packager: simulatedPackager({ name: 'fleet' }),
          repository,
          rings: [
            {
              name: 'prod',
              target: simulatedTarget({ hosts, latencyMs, fleet, seed: i + 1 }),
              rollout: batches('25%'),
              policy: auto(),
            },
          ],
        }),
      ],
      store: postgresStore({ connectionString: url }),
      owner: `runner-${i + 1}`,
      workDir: join(dir, `work-${i}`),
      forks,
    }),
  );
  for (const e of engines) {
    e.on('error', (err) => console.error(`[bench] ${err.operation}: ${err.error.message}`));
    await e.start();
  }
  // Built before the clock starts: what is timed is the rollout.
  await engines[0].build();
  const stop = new AbortController();
  const started = performance.now();
  const running = engines.map((e) => e.run({ intervalMs: 200, signal: stop.signal, guard: false }));
  const check = postgresStore({ connectionString: url, notify: false });
  let steps = 0;
  for (let i = 0; ; i++) {
    if (i > 6_000) throw new Error('the rollout did not finish in 10 minutes');
    await new Promise((r) => setTimeout(r, 100));
    const records = await check.read();
    if (records.some((r) => r.type === 'rollout.finished')) {
      steps = records.filter((r) => r.type === 'host.finished').length;
      break;
    }
  }
  const ms = performance.now() - started;
  stop.abort();
  await Promise.all(running);
  for (const e of engines) await e.close();
  await check.close();
  if (steps !== hosts) throw new Error(`expected ${hosts} host steps, found ${steps}`);
  return ms;
}

/** One runner against three on the ring, hosts taking `latency` ms; the ratio of median wall times. */
async function oneVsThree(latency) {
  const one = [];
  const three = [];
  for (let run = 0; run < RUNS; run++) {
    one.push(await ringRun(1, latency));
    three.push(await ringRun(3, latency));
  }
  const ratio = median(three) / median(one);
  console.log(
    `[bench] ${RING_HOSTS}-host ring (hosts ${latency[0]}–${latency[1]} ms each, batches of 25%, forks 25 per runner): one runner ${spread(one.map((x) => x / 1000))} s, three ${spread(three.map((x) => x / 1000))} s → three/one ${ratio.toFixed(2)} (goal ≤ 0.45; the floor is about 0.4: 250 hosts a batch over 75 forks is 3⅓ rounds against 10)`,
  );
  return ratio;
}
// Hosts as a small dpkg install takes them (the goal's case: hosts, not the engine, the limit),
// and hosts ten times faster, where the engine's own costs show.
const threeVsOne = await oneVsThree([500, 1000]);
const threeVsOneFast = await oneVsThree([50, 100]);

// ─── engine overhead per host step on postgres: hosts that take no time ─────────────────────
const overhead = [];
for (let run = 0; run < RUNS; run++) overhead.push((await ringRun(1, 0, 300, 300)) / 300);
console.log(
  `[bench] engine overhead per host step on postgres (one runner, instant hosts): ${spread(overhead)} ms (goal < 2 ms)`,
);

clearInterval(sampler);
await cluster.destroy();
await rm(dir, { recursive: true, force: true });
console.log(
  `[bench] peak RSS of this process (three runners in it at once): ${(peakRss / 1e6).toFixed(0)} MB (goal < 300 MB per runner)`,
);
console.log(`[bench] load at end: ${load()}`);
const r3 = (x) => Number(x.toFixed(3));
console.log(
  JSON.stringify({
    bench: 'store',
    append_ms_file: r3(median(appendResults[1].file.map((x) => x.perAppend))),
    append_ms_pg: r3(median(appendResults[1].postgres.map((x) => x.perAppend))),
    append_ms_pg_floor: r3(median(appendResults[1].floor.map((x) => x.perAppend))),
    append_ms_file_3_writers: r3(median(appendResults[3].file.map((x) => x.perAppend))),
    append_ms_pg_3_writers: r3(median(appendResults[3].postgres.map((x) => x.perAppend))),
    three_vs_one_runner: r3(threeVsOne),
    three_vs_one_runner_fast_hosts: r3(threeVsOneFast),
    host_step_overhead_ms_pg: r3(median(overhead)),
    peak_rss_mb: Math.round(peakRss / 1e6),
  }),
);
