#!/usr/bin/env node
// Web page benchmark, on a project of 50 pipelines × 3 rings × 100 simulated hosts whose file
// ledger (fsync'd) holds about 100,000 records, all written by the engine's own ticks (each
// commit built, released and rolled out to its 300 hosts, batches of 25%):
//   1. the server's time to render the project page: GET / over HTTP (the figure), the same
//      request through the app in-process (no socket), and `projectView` alone;
//   2. from a ledger append (a lock, then an unlock, of one ring) to the change in the DOM of a
//      headless Chromium following the page over Server-Sent Events (the page's own script:
//      /events says the seq moved, it fetches /live and swaps the view in place);
//   3. the server process's RSS with 100 SSE connections open (plain fetch streams in this
//      process, not 100 browsers: their bodies are drained and dropped), before and after, and
//      what one change costs when those 100 clients each fetch /live as the page's script does.
// Each measurement is repeated (BENCH_RUNS, default 5; the render 20 times) and reported as
// median (min–max), after a warm-up that is not counted.
//
//   npm run bench:web            BENCH_RUNS=3 BENCH_RECORDS=20000 npm run bench:web
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
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
import { createWebApp, projectView, serveWeb } from '@ringmaster/web';
import { launchBrowser } from '@ringmaster/web/testing';
import { load, median, spread } from './stats.mjs';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const RENDER_RUNS = Math.max(RUNS, Number(process.env.BENCH_RENDER_RUNS ?? 20));
const TARGET_RECORDS = Number(process.env.BENCH_RECORDS ?? 100_000);
const PIPELINES = 50;
const RINGS = ['eng', 'sandbox', 'prod'];
const HOSTS = 100;
const CLIENTS = 100;
const FANOUT_RUNS = Number(process.env.BENCH_FANOUT_RUNS ?? 3);
const GOALS = { render_ms: 50, sse_to_dom_ms: 200 };

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.timeOrigin + performance.now(); // epoch ms, sub-ms, comparable with the page's
const mb = (bytes) => bytes / 1e6;
/** RSS and heap after a settle and two full collections. */
const settled = async () => {
  gc();
  await sleep(500);
  gc();
  const m = process.memoryUsage();
  return { rss: mb(m.rss), heap: mb(m.heapUsed) };
};
const round = (x, digits = 1) => Number(x.toFixed(digits));

const benchStarted = performance.now();
console.log(
  `[bench] load at start: ${load()} (1, 5, 15 min); ${RUNS} runs of each measurement (render: ${RENDER_RUNS})`,
);

const dir = await mkdtemp(join(tmpdir(), 'rm-bench-web-'));

// ─── the world: 50 pipelines × 3 rings × 100 hosts, rolled out by real ticks ────────────────
const pipelines = Array.from({ length: PIPELINES }, (_, i) => {
  const name = `svc-${String(i + 1).padStart(2, '0')}`;
  const source = memorySource({
    commits: [{ files: { 'app.txt': '1' }, message: `${name}: first release`, author: 'alice' }],
  });
  return {
    name,
    source,
    pipeline: pipeline({
      name,
      source,
      packager: simulatedPackager({ name }),
      repository: memoryRepository(),
      rings: RINGS.map((ring, r) => ({
        name: ring,
        target: simulatedTarget({
          hosts: Array.from({ length: HOSTS }, (_, h) => `${name}-${ring}-${String(h + 1).padStart(3, '0')}`),
          name: `${name}-${ring}`,
          seed: i * RINGS.length + r + 1,
        }),
        rollout: batches('25%'),
        policy: auto(),
      })),
    }),
  };
});
const engine = createEngine({
  pipelines: pipelines.map((p) => p.pipeline),
  store: fileStore({ dir: join(dir, 'ledger') }),
  workDir: join(dir, 'work'),
});
engine.on('error', (e) => {
  console.error(`[bench] engine error in ${e.pipeline ?? '-'} ${e.operation}:`, e.error);
  process.exit(1);
});
let hostSteps = 0;
engine.on('host.finished', () => hostSteps++);
await engine.start();

const authors = ['alice', 'bob', 'carol', 'dave'];
const worldStarted = performance.now();
let lastReport = worldStarted;
let releases = 0;
// Round 1 releases every pipeline's first commit; then each round commits to as many pipelines
// as it takes to reach the target (the last round to fewer), and one tick rolls each new commit
// through eng, sandbox and prod.
for (let round = 1; engine.ledger.state.lastSeq < TARGET_RECORDS; round++) {
  let touched = pipelines;
  if (round > 1) {
    const perRelease = engine.ledger.state.lastSeq / releases;
    const needed = Math.ceil((TARGET_RECORDS - engine.ledger.state.lastSeq) / perRelease);
    touched = pipelines.slice(0, Math.min(PIPELINES, needed));
    for (const [i, p] of touched.entries())
      await p.source.commit(
        { 'app.txt': String(round) },
        `${p.name}: change ${round}\n\nFixes the thing from round ${round - 1}.`,
        authors[(round + i) % authors.length],
      );
  }
  await engine.tick();
  releases += touched.length;
  if (performance.now() - lastReport > 5000) {
    lastReport = performance.now();
    console.log(
      `  … round ${round}: ${releases} releases, ${hostSteps} host steps, ${engine.ledger.state.lastSeq} records`,
    );
  }
}
const worldMs = performance.now() - worldStarted;
const records = engine.ledger.state.lastSeq;
// Every ring of every pipeline runs its newest release on every host.
for (const p of pipelines) {
  const state = engine.ledger.state.pipelines.get(p.name);
  const newest = Math.max(...[...state.releases.values()].map((r) => Number(r.version.split('.')[2])));
  for (const ring of RINGS) {
    const current = state.rings.get(ring)?.current;
    const version = state.releases.get(current)?.version ?? current;
    if (version !== `1.0.${newest}`) throw new Error(`${p.name}/${ring} runs ${version}, not 1.0.${newest}`);
  }
}
if (hostSteps !== releases * RINGS.length * HOSTS)
  throw new Error(`expected ${releases * RINGS.length * HOSTS} host steps, got ${hostSteps}`);
console.log(
  `[bench] world: ${PIPELINES} pipelines × ${RINGS.length} rings × ${HOSTS} hosts = ${PIPELINES * RINGS.length * HOSTS} hosts; ${releases} releases rolled out by the engine (${hostSteps} host steps) → ${records} ledger records in ${(worldMs / 1000).toFixed(1)} s`,
);

// ─── 1. the server's time to render the project page ───────────────────────────────────────
const web = await serveWeb({ engine, port: 0, title: 'bench' });
const url = web.url;

// The server's time: a bare node:http client (one kept-alive socket) that only collects the
// bytes, so that what is timed is the server's work until the last byte; and, as the issue
// says, with fetch, whose own decoding of the 2 MB body runs in this process too.
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
function timeGet(path) {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    http
      .get(`${url}${path}`, { agent }, (res) => {
        const chunks = [];
        let firstByte;
        res.on('data', (chunk) => {
          firstByte ??= performance.now() - t;
          chunks.push(chunk);
        });
        res.on('error', reject);
        res.on('end', () => {
          const ms = performance.now() - t;
          const body = Buffer.concat(chunks);
          if (res.statusCode !== 200)
            reject(new Error(`GET ${path}: ${res.statusCode} ${body.subarray(0, 200).toString()}`));
          else resolve({ ms, firstByte, bytes: body.length, body });
        });
      })
      .on('error', reject);
  });
}
async function timeFetch(path) {
  const t = performance.now();
  const res = await fetch(`${url}${path}`);
  await res.text();
  return performance.now() - t;
}

const first = await timeGet('/'); // warm-up, and the page's size
first.body = first.body.toString();
if (!first.body.includes(`data-seq="${records}"`)) throw new Error('the page does not show the ledger seq');
// Every ring is on the page; its host rows load when its hosts section is opened (GET /hosts).
const ringsOnPage = first.body.split('<article class="ring').length - 1;
if (ringsOnPage !== PIPELINES * RINGS.length)
  throw new Error(`expected ${PIPELINES * RINGS.length} ring columns on the page, found ${ringsOnPage}`);
const rowsOnPage = first.body.split('<tr class=').length - 1;
const pageBytes = first.bytes;
const httpRuns = [];
const firstByteRuns = [];
for (let i = 0; i < RENDER_RUNS; i++) {
  const r = await timeGet('/');
  httpRuns.push(r.ms);
  firstByteRuns.push(r.firstByte);
}
await timeFetch('/');
const fetchRuns = [];
for (let i = 0; i < RENDER_RUNS; i++) fetchRuns.push(await timeFetch('/'));
// The view is drawn once per seq and second (what many readers of one state share): a cold
// render is the first request after the second turns.
const coldRuns = [];
for (let i = 0; i < RUNS; i++) {
  await sleep(1000 - (Date.now() % 1000) + 5);
  coldRuns.push((await timeGet('/')).ms);
}
// One ring's host rows, as the page loads them when its section is opened.
const hostsPath = `/hosts?pipeline=${pipelines[0].name}&ring=prod`;
const hostsFirst = await timeGet(hostsPath);
if ((hostsFirst.body.toString().match(/<tr class=/g) ?? []).length !== HOSTS)
  throw new Error(`expected ${HOSTS} host rows from ${hostsPath}`);
const hostsRuns = [];
for (let i = 0; i < RUNS; i++) hostsRuns.push((await timeGet(hostsPath)).ms);
await timeGet('/live');
const liveRuns = [];
let liveBytes = 0;
for (let i = 0; i < RUNS; i++) {
  const r = await timeGet('/live');
  liveRuns.push(r.ms);
  liveBytes = r.bytes;
}

// The same request through the app, in-process (no socket, no client), and the view alone.
const inproc = createWebApp({ engine, title: 'bench' });
const inprocGet = async () => {
  const t = performance.now();
  const res = await inproc.app.fetch(new Request('http://127.0.0.1/'));
  await res.text();
  return performance.now() - t;
};
await inprocGet();
const inprocRuns = [];
for (let i = 0; i < RENDER_RUNS; i++) inprocRuns.push(await inprocGet());
projectView(engine);
const viewRuns = [];
for (let i = 0; i < RENDER_RUNS; i++) {
  const t = performance.now();
  projectView(engine);
  viewRuns.push(performance.now() - t);
}
inproc.close();

// /history reads and describes the whole ledger (not the project page; shown for scale).
await timeGet('/history');
const historyRuns = [];
for (let i = 0; i < Math.min(RUNS, 3); i++) historyRuns.push((await timeGet('/history')).ms);
agent.destroy();

// The headline is the cold render: the view drawn afresh, as after every change of the ledger.
const renderMs = median(coldRuns);
console.log(
  `[bench] render GET /: ${spread(httpRuns)} ms over HTTP to the last byte (first byte ${spread(firstByteRuns)} ms; ${(pageBytes / 1e6).toFixed(2)} MB, ${ringsOnPage} rings, ${rowsOnPage} host rows: they load when opened); cold (first after the second turns) ${spread(coldRuns)} ms; one ring's hosts (GET /hosts, ${HOSTS} rows) ${spread(hostsRuns)} ms; with fetch ${spread(fetchRuns)} ms; in-process app.fetch ${spread(inprocRuns)} ms; projectView alone ${spread(viewRuns)} ms; GET /live (the fragment the page refetches) ${spread(liveRuns)} ms (${(liveBytes / 1e6).toFixed(2)} MB); GET /history ${spread(historyRuns)} ms`,
);

// ─── 2. from a ledger append to the DOM of a browser following the page ───────────────────
const browser = await launchBrowser();
const context = await browser.newContext();
const page = await context.newPage();
// Timestamps of the page's own /live fetches (its script is unchanged; only fetch is observed).
await page.addInitScript(() => {
  const original = window.fetch.bind(window);
  const stamp = () => performance.timeOrigin + performance.now();
  window.__liveFetches = [];
  window.fetch = async (input, init) => {
    if (!String(input).includes('/live')) return original(input, init);
    const mark = { start: stamp() };
    window.__liveFetches.push(mark);
    const res = await original(input, init);
    mark.headers = stamp();
    const text = res.text.bind(res);
    res.text = async () => {
      const body = await text();
      mark.body = stamp();
      return body;
    };
    return res;
  };
});
const pageLoadStarted = performance.now();
await page.goto(`${url}/`, { waitUntil: 'load', timeout: 120_000 });
await page.waitForFunction(() => document.getElementById('live-status')?.textContent === 'live', null, {
  timeout: 60_000,
});
const pageLoadMs = performance.now() - pageLoadStarted;
if (web.clients !== 1) throw new Error(`expected the browser's one live connection, found ${web.clients}`);

/** One append (a lock or an unlock of `ring`) and the wait for the page to show it. */
async function appendToDom(pipelineName, ring, lock) {
  const id = `ring-${pipelineName}-${ring}`;
  await page.evaluate(
    ({ id, lock }) => {
      window.__liveFetches.length = 0;
      window.__bench = new Promise((resolve) => {
        const shows = () =>
          (document.getElementById(id)?.querySelector('[data-testid=state]')?.textContent ?? '').startsWith(
            'locked by',
          ) === lock;
        const on = () => {
          if (!shows()) return;
          document.removeEventListener('ringmaster:updated', on);
          const dom = performance.timeOrigin + performance.now();
          resolve({
            dom,
            fetches: window.__liveFetches.slice(),
            seq: Number(document.getElementById('live').dataset.seq),
          });
          // …and the frame after it, when it has been painted.
          window.__painted = new Promise((painted) =>
            requestAnimationFrame(() =>
              setTimeout(() => painted(performance.timeOrigin + performance.now())),
            ),
          );
        };
        document.addEventListener('ringmaster:updated', on);
      });
    },
    { id, lock },
  );
  const t0 = now();
  if (lock) await engine.lock({ pipeline: pipelineName, ring, reason: 'bench: incident 42', by: 'bench' });
  else await engine.unlock({ pipeline: pipelineName, ring, by: 'bench' });
  const appended = now();
  const seen = await page.evaluate(() => window.__bench);
  const t1 = now();
  const painted = await page.evaluate(() => window.__painted);
  const fetch = seen.fetches.at(-1);
  return {
    total: t1 - t0, // this process's clock: before the append → the page said the DOM shows it
    dom: seen.dom - t0, // the page's clock (same machine)
    painted: painted - t0,
    append: appended - t0,
    toFetch: fetch ? fetch.start - t0 : Number.NaN, // the SSE event reached the page, which asks for /live
    fetch: fetch ? fetch.body - fetch.start : Number.NaN, // /live rendered and transferred
    swap: fetch ? seen.dom - fetch.body : Number.NaN, // parse and replace in the DOM
    fetches: seen.fetches.length,
    seq: seen.seq,
  };
}

const sse = [];
for (let run = -1; run < RUNS; run++) {
  // A different pipeline each run (the warm-up, -1, not counted); lock, then unlock, its prod.
  const p = pipelines[(run + 1 + 25) % PIPELINES].name;
  for (const lock of [true, false]) {
    const r = await appendToDom(p, 'prod', lock);
    if (r.seq !== engine.ledger.state.lastSeq) throw new Error(`the page shows seq ${r.seq}`);
    if (run >= 0) sse.push(r);
    await sleep(300); // the page idle again
  }
}
await context.close();
await browser.close();
const pick = (k) => sse.map((r) => r[k]);
const sseMs = median(pick('total'));
console.log(
  `[bench] append → DOM (${sse.length} appends, ${RUNS} locks and ${RUNS} unlocks of a prod ring; first page load ${(pageLoadMs / 1000).toFixed(2)} s): ${spread(pick('total'))} ms; in the page's clock: DOM ${spread(pick('dom'))} ms, painted ${spread(pick('painted'))} ms`,
);
console.log(
  `[bench]   of which: the append (fsync'd) ${spread(pick('append'))} ms; to the page's /live request (SSE, 20 ms debounce) ${spread(pick('toFetch'))} ms; /live rendered and received ${spread(pick('fetch'))} ms; parse and swap ${spread(pick('swap'))} ms; /live fetches per change ${spread(pick('fetches'), 0)}`,
);

// ─── 3. memory with 100 open pages (SSE connections) ───────────────────────────────────────
await sleep(500);
const { rss: rssBefore, heap: heapBefore } = await settled();
const decoder = new TextDecoder();

/**
 * A live client: an SSE connection on /events. With `follow`, it does what the page's script
 * does: at a seq it does not show, it fetches /live (one at a time, folding what came meanwhile);
 * the fragment's bytes are read and dropped (only its data-seq is kept).
 */
function client() {
  const abort = new AbortController();
  const c = { abort, seq: records, latest: records, follow: false, busy: false, fetched: 0, bytes: 0 };
  c.fetchLive = async () => {
    if (c.busy) return;
    c.busy = true;
    try {
      while (c.follow && c.latest !== c.seq) {
        const res = await fetch(`${url}/live`, { signal: abort.signal });
        const reader = res.body.getReader();
        let head = '';
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          c.bytes += value.length;
          if (head.length < 200) head += decoder.decode(value.subarray(0, 200));
        }
        c.seq = Number(/data-seq="(\d+)"/.exec(head)?.[1]);
        c.fetched++;
      }
    } finally {
      c.busy = false;
    }
  };
  c.done = (async () => {
    const res = await fetch(`${url}/events`, {
      signal: abort.signal,
      headers: { accept: 'text/event-stream' },
    });
    let buffer = '';
    for await (const chunk of res.body) {
      buffer += decoder.decode(chunk, { stream: true });
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        const data = /^data: (.*)$/m.exec(buffer.slice(0, end))?.[1];
        buffer = buffer.slice(end + 2);
        if (data) {
          c.latest = JSON.parse(data).seq;
          if (c.follow) void c.fetchLive();
        }
        end = buffer.indexOf('\n\n');
      }
    }
  })().catch((error) => {
    if (error.name !== 'AbortError') throw error;
  });
  return c;
}

const clients = Array.from({ length: CLIENTS }, client);
for (let i = 0; web.clients < CLIENTS; i++) {
  if (i > 600) throw new Error(`only ${web.clients} of ${CLIENTS} live connections after 60 s`);
  await sleep(100);
}
await sleep(1000);
const { rss: rssOpen, heap: heapOpen } = await settled();
console.log(
  `[bench] ${CLIENTS} SSE connections open (fetch streams in this process): RSS ${rssBefore.toFixed(0)} → ${rssOpen.toFixed(0)} MB (heap ${heapBefore.toFixed(0)} → ${heapOpen.toFixed(0)} MB); the server counts ${web.clients} clients`,
);

// One change, followed by all 100: each fetches /live, as the page's script does.
let peak = 0;
const sampler = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage().rss);
}, 20);
for (const c of clients) c.follow = true;
const fanout = [];
for (let run = 0; run < FANOUT_RUNS; run++) {
  const lock = run % 2 === 0;
  const target = engine.ledger.state.lastSeq + 1;
  const t0 = performance.now();
  if (lock) await engine.lock({ pipeline: pipelines[0].name, ring: 'eng', reason: 'bench', by: 'bench' });
  else await engine.unlock({ pipeline: pipelines[0].name, ring: 'eng', by: 'bench' });
  for (let i = 0; clients.some((c) => c.seq < target || c.busy); i++) {
    if (i > 60_000) throw new Error('the clients did not catch up in 10 minutes');
    await sleep(10);
  }
  fanout.push(performance.now() - t0);
}
clearInterval(sampler);
const peakFanout = mb(peak);
const fetchedPerChange = clients.reduce((n, c) => n + c.fetched, 0) / FANOUT_RUNS;
console.log(
  `[bench] one change followed by ${CLIENTS} clients (each fetches /live): all have it after ${spread(
    fanout.map((x) => x / 1000),
    2,
  )} s (${fetchedPerChange.toFixed(0)} /live fetches a change, served from one render, ${(clients.reduce((n, c) => n + c.bytes, 0) / FANOUT_RUNS / 1e6).toFixed(0)} MB sent); peak RSS meanwhile ${peakFanout.toFixed(0)} MB`,
);
for (const c of clients) c.abort.abort();
await Promise.all(clients.map((c) => c.done));

// ─── the end ────────────────────────────────────────────────────────────────────────────────
await web.close();
await engine.close();
await rm(dir, { recursive: true, force: true });

const ratio = (value, goal) => (value / goal).toFixed(2);
const table = [
  [
    'render GET / (server, HTTP, cold)',
    `${renderMs.toFixed(1)} ms`,
    `< ${GOALS.render_ms} ms`,
    ratio(renderMs, GOALS.render_ms),
  ],
  ['  warm (view drawn this second)', `${median(httpRuns).toFixed(1)} ms`, '', ''],
  [`  one ring's hosts (GET /hosts)`, `${median(hostsRuns).toFixed(1)} ms`, '', ''],
  ['  same, timed with fetch', `${median(fetchRuns).toFixed(1)} ms`, '', ''],
  ['  in-process app.fetch (no socket)', `${median(inprocRuns).toFixed(1)} ms`, '', ''],
  ['  projectView alone', `${median(viewRuns).toFixed(1)} ms`, '', ''],
  [
    'append → DOM over SSE',
    `${sseMs.toFixed(1)} ms`,
    `< ${GOALS.sse_to_dom_ms} ms`,
    ratio(sseMs, GOALS.sse_to_dom_ms),
  ],
  [`RSS, ${CLIENTS} SSE clients open`, `${rssOpen.toFixed(0)} MB`, '(none)', ''],
  ['  RSS before them', `${rssBefore.toFixed(0)} MB`, '', ''],
  [`  peak RSS, a change × ${CLIENTS} /live`, `${peakFanout.toFixed(0)} MB`, '', ''],
  [`  a change reaching all ${CLIENTS}`, `${(median(fanout) / 1000).toFixed(2)} s`, '', ''],
];
const widths = [0, 1, 2, 3].map((i) =>
  Math.max(...table.map((row) => row[i].length), ['figure', 'value', 'goal', 'value/goal'][i].length),
);
const line = (row) =>
  row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
console.log(`\n${line(['figure', 'value', 'goal', 'value/goal'])}`);
for (const row of table) console.log(line(row));
console.log(
  `\n${records} records, ${releases} releases, ${PIPELINES * RINGS.length * HOSTS} hosts; bench took ${((performance.now() - benchStarted) / 1000).toFixed(0)} s`,
);
console.log(`[bench] load at end: ${load()}`);
console.log(
  JSON.stringify({
    bench: 'web',
    render_ms: round(renderMs),
    sse_to_dom_ms: round(sseMs),
    rss_mb_100_clients: Math.round(rssOpen),
    render_min_ms: round(Math.min(...coldRuns)),
    render_max_ms: round(Math.max(...coldRuns)),
    render_warm_ms: round(median(httpRuns)),
    render_cold_ms: round(median(coldRuns)),
    hosts_fragment_ms: round(median(hostsRuns)),
    render_first_byte_ms: round(median(firstByteRuns)),
    render_fetch_ms: round(median(fetchRuns)),
    render_inprocess_ms: round(median(inprocRuns)),
    project_view_ms: round(median(viewRuns)),
    live_fragment_ms: round(median(liveRuns)),
    page_mb: round(mb(pageBytes), 2),
    sse_to_dom_min_ms: round(Math.min(...pick('total'))),
    sse_to_dom_max_ms: round(Math.max(...pick('total'))),
    sse_to_paint_ms: round(median(pick('painted'))),
    rss_mb_before_clients: Math.round(rssBefore),
    rss_mb_peak_fanout: Math.round(peakFanout),
    fanout_100_clients_ms: Math.round(median(fanout)),
    history_ms: round(median(historyRuns)),
    records,
    releases,
    hosts: PIPELINES * RINGS.length * HOSTS,
    pipelines: PIPELINES,
    runs: RUNS,
  }),
);
