#!/usr/bin/env node
// Engine benchmark: N releases (default 1,000) through 3 rings of 50 hosts each, on the file
// ledger (fsync'd), with in-memory source, packager, repository and hosts so that what is
// measured is the engine itself: per host step, the decision, the two ledger records and the
// bookkeeping. Then `status` on the resulting ledger, and the replay of 100,000 records.
//
//   npm run bench:engine            BENCH_RELEASES=200 npm run bench:engine
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
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
} from '@ringmaster/core';
import { median } from './stats.mjs';

const RELEASES = Number(process.env.BENCH_RELEASES ?? 1000);
const HOSTS = 50;
const dir = await mkdtemp(join(tmpdir(), 'rm-bench-engine-'));

// In-memory adapters: a host is a map entry, a package is a string.
const memoryTarget = (ring) => {
  const installed = new Map();
  return {
    name: 'memory',
    hosts: Array.from({ length: HOSTS }, (_, i) => ({ name: `${ring}-${i + 1}` })),
    installed: async (host) => {
      const version = installed.get(host);
      return version === undefined ? undefined : { version, status: 'installed' };
    },
    install: async (host, artifact) => void installed.set(host, artifact.version),
    run: async () => ({ exitCode: 0, stdout: '', stderr: '' }),
  };
};
const packager = simulatedPackager({ name: 'bench' });
const repository = memoryRepository();

const source = memorySource({ commits: [{ files: { a: '0' }, message: 'c0' }] });
const app = pipeline({
  name: 'bench',
  source,
  packager,
  repository,
  rings: ['eng', 'sandbox', 'prod'].map((name) => ({
    name,
    target: memoryTarget(name),
    rollout: batches(10),
    policy: auto(),
  })),
});
const ledgerDir = join(dir, 'ledger');
const engine = createEngine({
  pipelines: [app],
  store: fileStore({ dir: ledgerDir }),
  workDir: join(dir, 'work'),
});
engine.on('error', (e) => {
  console.error(e.error);
  process.exit(1);
});
let hostSteps = 0;
engine.on('host.finished', () => hostSteps++);
await engine.start();

const started = performance.now();
let lastReport = started;
for (let i = 1; i <= RELEASES; i++) {
  if (i > 1) await source.commit({ a: String(i) }, `c${i}`);
  await engine.tick();
  if (performance.now() - lastReport > 5000) {
    lastReport = performance.now();
    console.log(`  … ${i}/${RELEASES} releases, ${hostSteps} host steps`);
  }
}
const totalMs = performance.now() - started;
const prod = engine.ledger.state.pipelines.get('bench').rings.get('prod');
if (hostSteps !== RELEASES * 3 * HOSTS || prod.current !== `1.0.${RELEASES}`) {
  console.error(
    `expected ${RELEASES * 3 * HOSTS} host steps and prod on 1.0.${RELEASES}; got ${hostSteps}, ${prod.current}`,
  );
  process.exit(1);
}

const statusRuns = [];
for (let i = 0; i < 10; i++) {
  const t = performance.now();
  await engine.status();
  statusRuns.push(performance.now() - t);
}
await engine.close();
const records = engine.ledger.state.lastSeq;

// Replay: a fresh engine loading the first 100,000 records of this ledger.
const lines = (await readFile(join(ledgerDir, 'journal.jsonl'), 'utf8')).split('\n');
const replayDir = join(dir, 'replay');
await mkdir(replayDir);
let replayCount = Math.min(100_000, lines.length - 1);
// Cut where an append ends: an append's lines but its last say "more", and a cut inside one is
// a torn append, dropped whole on replay.
while (replayCount > 0 && lines[replayCount - 1].includes('"more":true')) replayCount--;
await writeFile(join(replayDir, 'journal.jsonl'), `${lines.slice(0, replayCount).join('\n')}\n`);
const replayRuns = [];
for (let i = 0; i < 3; i++) {
  const fresh = createEngine({
    pipelines: [app],
    store: fileStore({ dir: replayDir }),
    workDir: join(dir, 'work'),
  });
  const t = performance.now();
  await fresh.load();
  replayRuns.push(performance.now() - t);
  if (fresh.ledger.state.lastSeq !== replayCount) throw new Error('replay lost records');
}
await rm(dir, { recursive: true, force: true });

const result = {
  bench: 'engine',
  host_step_overhead_ms: Number((totalMs / hostSteps).toFixed(4)),
  status_ms: Number(median(statusRuns).toFixed(2)),
  replay_100k_ms: Number(((median(replayRuns) * 100_000) / replayCount).toFixed(1)),
};
console.log(
  `${RELEASES} releases × 3 rings × ${HOSTS} hosts = ${hostSteps} host steps in ${(totalMs / 1000).toFixed(1)} s (${records} ledger records, fsync'd, group-committed)`,
);
console.log(`engine overhead per host step: ${result.host_step_overhead_ms} ms (goal < 1 ms)`);
console.log(`status: ${result.status_ms} ms (goal < 100 ms)`);
console.log(
  `replay of ${replayCount} records: ${median(replayRuns).toFixed(1)} ms → ${result.replay_100k_ms} ms per 100k (goal < 1000 ms)`,
);
console.log(JSON.stringify(result));
