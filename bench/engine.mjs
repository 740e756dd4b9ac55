#!/usr/bin/env node
// Engine benchmark, on the file ledger (fsync'd) with in-memory source, packager, repository
// and hosts, so that what is measured is the engine itself. The engine has no peer tool: the
// figures are absolute, against the goals.
//
//   - host step: BENCH_RELEASES releases (default 200) through 3 rings of 50 hosts each, on a
//     fresh ledger per run; per host step, the decision, the two ledger records and the
//     bookkeeping, in ms (goal < 0.5 ms);
//   - status of that one pipeline (goal < 100 ms), and of a project of 100 pipelines × 3 rings
//     × 50 hosts, each with BENCH_STATUS_RELEASES releases of history (goal < 20 ms);
//   - replay of 1,000,000 records (goal < 5 s and < 1 GB peak RSS) and of 100,000 (goal
//     < 1 s), each in a fresh process: `engine.load()` of a journal made of the first run's
//     release cycles, repeated with fresh ids and consecutive seqs (each record re-encoded and
//     checksummed as the file store writes it).
//
// Every measurement is repeated BENCH_RUNS times (default 5): median (min–max).
//
//   npm run bench:engine            BENCH_RUNS=7 BENCH_RELEASES=100 npm run bench:engine
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32 } from 'node:zlib';
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
import { load, median, spread } from './stats.mjs';

const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 5));
const RELEASES = Number(process.env.BENCH_RELEASES ?? 200);
const STATUS_PIPELINES = Number(process.env.BENCH_STATUS_PIPELINES ?? 100);
const STATUS_RELEASES = Number(process.env.BENCH_STATUS_RELEASES ?? 10);
const REPLAY_RECORDS = Number(process.env.BENCH_REPLAY_RECORDS ?? 1_000_000);
const HOSTS = 50;
const RINGS = ['eng', 'sandbox', 'prod'];

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

/** A pipeline `name` building package `name` through the three rings, all automatic. */
function benchPipeline(name, source = memorySource({ commits: [{ files: { a: '0' }, message: 'c0' }] })) {
  return pipeline({
    name,
    source,
    packager: simulatedPackager({ name }),
    repository: memoryRepository(),
    rings: RINGS.map((ring) => ({
      name: ring,
      target: memoryTarget(ring),
      rollout: batches(10),
      policy: auto(),
    })),
  });
}

// Child mode: replay the journal in `dir` in this fresh process, print what it took.
if (process.argv[2] === '--replay') {
  const [dir, expected, pipelines] = process.argv.slice(3);
  const names =
    Number(pipelines) > 1 ? Array.from({ length: Number(pipelines) }, (_, i) => `p${i + 1}`) : ['bench'];
  const engine = createEngine({
    pipelines: names.map((n) => benchPipeline(n)),
    store: fileStore({ dir }),
    workDir: join(dir, 'work'),
  });
  const started = performance.now();
  await engine.load();
  const ms = performance.now() - started;
  if (engine.ledger.state.lastSeq !== Number(expected)) {
    throw new Error(`replay read ${engine.ledger.state.lastSeq} records, expected ${expected}`);
  }
  const statusRuns = [];
  if (names.length > 1) {
    for (let i = 0; i < Number(process.env.BENCH_RUNS ?? 5) + 1; i++) {
      const t = performance.now();
      const report = await engine.status();
      statusRuns.push(performance.now() - t);
      if (report.pipelines.length !== names.length) throw new Error('status lost pipelines');
    }
    statusRuns.shift(); // the first one warms the code up, as a long-running engine's is
  }
  await engine.close();
  console.log(JSON.stringify({ ms, maxRssMb: process.resourceUsage().maxRSS / 1024, statusRuns }));
  process.exit(0);
}

/** Runs this file in child mode in a fresh node; resolves with its JSON line. */
function child(args) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [fileURLToPath(import.meta.url), '--replay', ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    p.stdout.on('data', (c) => {
      out += c;
    });
    p.on('error', reject);
    p.on('close', (code) =>
      code === 0
        ? resolve(JSON.parse(out.trim().split('\n').at(-1)))
        : reject(new Error(`replay child exited ${code}`)),
    );
  });
}

/** One host-step run: RELEASES releases on a fresh ledger in `dir`. */
async function hostStepRun(dir) {
  const source = memorySource({ commits: [{ files: { a: '0' }, message: 'c0' }] });
  const engine = createEngine({
    pipelines: [benchPipeline('bench', source)],
    store: fileStore({ dir: join(dir, 'ledger') }),
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
  for (let i = 1; i <= RELEASES; i++) {
    if (i > 1) await source.commit({ a: String(i) }, `c${i}`);
    await engine.tick();
  }
  const ms = performance.now() - started;
  const prod = engine.ledger.state.pipelines.get('bench').rings.get('prod');
  if (hostSteps !== RELEASES * RINGS.length * HOSTS || prod.current !== `1.0.${RELEASES}`) {
    throw new Error(
      `expected ${RELEASES * RINGS.length * HOSTS} host steps and prod on 1.0.${RELEASES}; got ${hostSteps}, ${prod.current}`,
    );
  }
  const statusRuns = [];
  for (let i = 0; i < 10; i++) {
    const t = performance.now();
    await engine.status();
    statusRuns.push(performance.now() - t);
  }
  await engine.close();
  return {
    perStep: ms / hostSteps,
    hostSteps,
    ms,
    records: engine.ledger.state.lastSeq,
    status: median(statusRuns),
  };
}

/** A journal line as the file store writes it: `<crc32 hex> <json>`. */
const line = (json) => `${crc32(json).toString(16).padStart(8, '0')} ${json}\n`;

/**
 * Writes a journal to `dir`: the template's first release cycle, then its other cycles again
 * and again with fresh ids (versions, rollouts, revisions, notifications) and consecutive seqs,
 * until at least `count` records, cut where an append ends. With `pipelines`, each cycle is
 * written once per pipeline, renamed to it (the template's cycles once each, `count` aside).
 * Returns the number of records written.
 */
async function writeJournal(template, dir, count, pipelines) {
  // Release cycles: a cycle starts at a revision.seen, and appends never straddle two.
  const cycles = [];
  for (const l of template) {
    const json = l.slice(9);
    if (json.includes('"type":"revision.seen"')) cycles.push([]);
    cycles.at(-1).push(json);
  }
  const releases = cycles.length;
  const stream = createWriteStream(join(dir, 'journal.jsonl'));
  let buffered = [];
  const flush = async () => {
    if (!stream.write(buffered.join(''))) await new Promise((r) => stream.once('drain', r));
    buffered = [];
  };
  // Within one cycle, an id and its short form map to the same fresh id.
  let ids = new Map();
  const fresh = (hex, round) => {
    let id = ids.get(hex);
    if (!id) {
      id = createHash(hex.length === 64 ? 'sha256' : 'sha1')
        .update(`${hex}/${round}`)
        .digest('hex');
      ids.set(hex, id);
      ids.set(hex.slice(0, 12), id);
    }
    return id;
  };
  let seq = 0;
  for (let round = 0; round === 0 || seq < count; round++) {
    for (const [c, cycle] of cycles.entries()) {
      if (round > 0 && c === 0) continue; // the first release happens once
      const shift = round * (releases - 1);
      for (const name of pipelines ?? [undefined]) {
        ids = new Map();
        for (let json of cycle) {
          if (shift > 0) {
            json = json
              .replace(/[0-9a-f]{64}|[0-9a-f]{40}/g, (hex) => fresh(hex, round))
              .replace(
                /\b([0-9a-f]{12}) passed/g,
                (_, short) => `${(ids.get(short) ?? short).slice(0, 12)} passed`,
              )
              .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, () => randomUUID())
              .replace(/(?<![\d.])1\.0\.(\d+)/g, (_, n) => `1.0.${Number(n) + shift}`)
              .replace(/\b(eng|sandbox|prod)#(\d+)/g, (_, r, n) => `${r}#${Number(n) + shift}`)
              .replace(/"message":"c(\d+)"/g, (_, n) => `"message":"c${Number(n) + shift}"`)
              .replace(/"number":(\d+)/g, (_, n) => `"number":${Number(n) + shift}`);
          }
          if (name) json = json.replaceAll('"bench"', `"${name}"`).replaceAll('bench_1.0.', `${name}_1.0.`);
          seq++;
          buffered.push(line(json.replace(/^\{"seq":\d+,/, `{"seq":${seq},`)));
        }
        if (buffered.length > 20_000) await flush();
      }
      if (!pipelines && seq >= count) break;
    }
    if (pipelines) break;
  }
  await flush();
  await new Promise((resolve, reject) => stream.end((e) => (e ? reject(e) : resolve())));
  return seq;
}

console.log(`[bench] load at start: ${load()}`);
const dir = await mkdtemp(join(tmpdir(), 'rm-bench-engine-'));
try {
  // 1. Host step overhead, one fresh ledger per run.
  const runs = [];
  for (let r = 0; r < RUNS; r++) {
    const run = await hostStepRun(join(dir, `run-${r}`));
    runs.push(run);
    console.log(
      `  run ${r + 1}/${RUNS}: ${run.hostSteps} host steps in ${(run.ms / 1000).toFixed(1)} s = ${run.perStep.toFixed(4)} ms/step, status ${run.status.toFixed(2)} ms (load ${load()})`,
    );
  }
  const perStep = runs.map((r) => r.perStep);
  const status1 = runs.map((r) => r.status);
  const template = (await readFile(join(dir, 'run-0', 'ledger', 'journal.jsonl'), 'utf8'))
    .split('\n')
    .filter(Boolean);
  for (let r = 1; r < RUNS; r++) await rm(join(dir, `run-${r}`), { recursive: true, force: true });

  // 2. Replay in fresh processes: 100,000 and 1,000,000 records.
  const replays = {};
  for (const count of [100_000, REPLAY_RECORDS]) {
    const replayDir = join(dir, `replay-${count}`);
    await mkdir(replayDir);
    const t = performance.now();
    const written = await writeJournal(template, replayDir, count);
    console.log(
      `  journal of ${written} records written in ${((performance.now() - t) / 1000).toFixed(1)} s`,
    );
    const ms = [];
    const rss = [];
    for (let r = 0; r < RUNS; r++) {
      const result = await child([replayDir, String(written), '1']);
      ms.push(result.ms);
      rss.push(result.maxRssMb);
      console.log(
        `  replay ${r + 1}/${RUNS} of ${written} records: ${result.ms.toFixed(0)} ms, peak RSS ${result.maxRssMb.toFixed(0)} MB (load ${load()})`,
      );
    }
    replays[count] = { written, ms, rss };
    await rm(replayDir, { recursive: true, force: true });
  }

  // 3. Status of a project of STATUS_PIPELINES pipelines × 3 rings, in a fresh process.
  const statusDir = join(dir, 'status');
  await mkdir(statusDir);
  const firstReleases = [];
  let cycle = 0;
  for (const l of template) {
    if (l.includes('"type":"revision.seen"') && ++cycle > STATUS_RELEASES) break;
    firstReleases.push(l);
  }
  const names = Array.from({ length: STATUS_PIPELINES }, (_, i) => `p${i + 1}`);
  const statusRecords = await writeJournal(firstReleases, statusDir, 0, names);
  const project = await child([statusDir, String(statusRecords), String(STATUS_PIPELINES)]);
  const statusMany = project.statusRuns;

  const host = perStep;
  const r1m = replays[REPLAY_RECORDS];
  const r100k = replays[100_000];
  const result = {
    bench: 'engine',
    host_step_overhead_ms: Number(median(host).toFixed(4)),
    host_step_overhead_min_ms: Number(Math.min(...host).toFixed(4)),
    host_step_overhead_max_ms: Number(Math.max(...host).toFixed(4)),
    status_ms: Number(median(status1).toFixed(2)),
    status_100_pipelines_ms: Number(median(statusMany).toFixed(2)),
    replay_100k_ms: Number(((median(r100k.ms) * 100_000) / r100k.written).toFixed(1)),
    replay_1m_ms: Number(((median(r1m.ms) * 1_000_000) / r1m.written).toFixed(1)),
    replay_1m_rss_mb: Number(median(r1m.rss).toFixed(1)),
  };
  console.log('');
  console.log(
    `host step (${RELEASES} releases × 3 rings × ${HOSTS} hosts, fsync'd, group-committed): ${spread(host, 4)} ms (goal < 0.5 ms)`,
  );
  console.log(`status, 1 pipeline with ${RELEASES} releases: ${spread(status1, 2)} ms (goal < 100 ms)`);
  console.log(
    `status, ${STATUS_PIPELINES} pipelines × 3 rings × ${HOSTS} hosts (${statusRecords} records): ${spread(statusMany, 2)} ms (goal < 20 ms)`,
  );
  console.log(
    `replay of ${r100k.written} records: ${spread(r100k.ms, 0)} ms (goal < 1000 ms), peak RSS ${spread(r100k.rss, 0)} MB`,
  );
  console.log(
    `replay of ${r1m.written} records: ${spread(r1m.ms, 0)} ms (goal < 5000 ms), peak RSS ${spread(r1m.rss, 0)} MB (goal < 1024 MB)`,
  );
  console.log(`[bench] ${RUNS} runs each; load at end: ${load()}`);
  console.log(JSON.stringify(result));
} finally {
  await rm(dir, { recursive: true, force: true });
}
