#!/usr/bin/env node
// Bench for @ringmaster/vcs-git, run against the BUILT package (packages/vcs-git/dist) beside
// the plain git client doing the same work in the same run:
//   - poll with one new commit on a 10,000-commit repository: source.log(cursor) vs `git fetch`;
//   - idle poll (nothing new) on a local path;
//   - checkout of a 2,000-file tree: source.checkout() vs `git archive | tar -x` (the goal's
//     peer: ≤ 1.2× in every run) and `git worktree add --detach`.
// BENCH_RUNS runs (default 5); each run is BENCH_PAIRS (default 6) interleaved rounds of ours
// and the peers, its ratio the run's median of ours over the run's median of the peer. A run's
// checkouts are removed at its end, not between its rounds: removing 2,000 files slows whatever
// creates files next. Reports median (min–max) and, for checkout, the worst run; ends with one
// JSON line.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load, median, spread } from './stats.mjs';

const COMMITS = 10_000;
const FILES = 2_000;
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 5));
const POLL_PAIRS = Number(process.env.BENCH_PAIRS ?? 6);
// Each of the three ways goes first equally often when this is a multiple of 3.
const CHECKOUT_PAIRS = Number(process.env.BENCH_PAIRS ?? 6);

function ensureTools() {
  const missing = ['git', 'tar'].filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
  if (missing.length === 0) return;
  console.log(`[bench] installing ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', ...missing], { stdio: 'inherit', env });
}

const env = { ...process.env, GIT_TERMINAL_PROMPT: '0' };
for (const name of ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE']) delete env[name];

function git(cwd, args, input) {
  return execFileSync('git', args, { cwd, env, input, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
}

/** Runs a command asynchronously (as the adapter does) and resolves when it exits 0. */
function run(argv, cwd) {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c) => {
      err += c;
    });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${argv.join(' ')}: ${err}`))));
  });
}

async function time(fn) {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

const fmt = (ms) => `${ms.toFixed(1)} ms`;

/** A fast-import stream: one commit adding FILES files, then COMMITS-1 one-file commits. */
function fastImportStream() {
  const parts = [];
  const now = Math.floor(Date.now() / 1000) - COMMITS;
  const blob = (text) => `data ${Buffer.byteLength(text)}\n${text}\n`;
  parts.push(
    `commit refs/heads/main\nmark :1\ncommitter Bench <bench@example.com> ${now} +0000\n${blob('tree')}`,
  );
  for (let i = 0; i < FILES; i++) {
    const content = `// file ${i}\n${'x'.repeat(200 + (i % 7) * 300)}\n`;
    parts.push(`M 644 inline src/dir${String(i % 40).padStart(2, '0')}/file${i}.txt\n${blob(content)}`);
  }
  for (let n = 2; n <= COMMITS; n++) {
    parts.push(
      `commit refs/heads/main\nmark :${n}\ncommitter Dev${n % 13} <dev${n % 13}@example.com> ${now + n} +0000\n` +
        blob(`change ${n}\n\nbody of change ${n}`) +
        `from :${n - 1}\nM 644 inline CHANGES/${n % 100}.txt\n${blob(`change ${n}\n`)}`,
    );
  }
  return `${parts.join('')}done\n`;
}

async function main() {
  console.log(`[bench] load at start: ${load()}`);
  ensureTools();
  const { git: gitSource } = await import(new URL('../packages/vcs-git/dist/index.js', import.meta.url).href);
  const root = mkdtempSync(join(tmpdir(), 'rm-bench-git-'));
  try {
    const remote = join(root, 'remote.git');
    git(root, ['init', '--quiet', '--bare', '--initial-branch=main', remote]);
    let t = performance.now();
    git(remote, ['fast-import', '--quiet', '--done'], fastImportStream());
    git(remote, ['gc', '--quiet']);
    console.log(
      `[bench] ${COMMITS} commits, ${FILES}-file tree made with fast-import in ${fmt(performance.now() - t)}`,
    );

    const work = join(root, 'work');
    git(root, ['clone', '--quiet', remote, work]);
    git(work, ['config', 'user.name', 'Bench']);
    git(work, ['config', 'user.email', 'bench@example.com']);
    const plain = join(root, 'plain');
    git(root, ['clone', '--quiet', remote, plain]);

    const source = gitSource({ url: remote, cacheDir: join(root, 'mirror.git') });
    t = performance.now();
    let cursor = (await source.head()).id;
    console.log(`[bench] first use (clone --mirror + head): ${fmt(performance.now() - t)}`);

    // Poll with one new commit, ours and plain `git fetch`, alternating who goes first.
    let round = 0;
    const poll = { ours: [], plain: [], ratio: [], idle: [] };
    const pollRun = async () => {
      const ours = [];
      const theirs = [];
      for (let pair = 0; pair < POLL_PAIRS; pair++, round++) {
        writeFileSync(join(work, 'poll.txt'), `round ${round}\n`);
        git(work, ['add', 'poll.txt']);
        git(work, ['commit', '--quiet', '-m', `poll round ${round}`]);
        git(work, ['push', '--quiet', 'origin', 'HEAD:main']);
        const a = async () => {
          let log;
          ours.push(
            await time(async () => {
              log = await source.log(cursor);
            }),
          );
          if (log.length < 1) throw new Error('poll saw nothing new');
          cursor = log.at(-1).id;
        };
        const b = async () =>
          theirs.push(await time(() => run(['git', 'fetch', '--quiet', 'origin'], plain)));
        if (round % 2 === 0) {
          await a();
          await b();
        } else {
          await b();
          await a();
        }
      }
      for (let i = 0; i < POLL_PAIRS; i++) {
        let log;
        poll.idle.push(
          await time(async () => {
            log = await source.log(cursor);
          }),
        );
        if (log.length !== 0) throw new Error('idle poll saw something');
      }
      poll.ours.push(median(ours));
      poll.plain.push(median(theirs));
      poll.ratio.push(median(ours) / median(theirs));
    };

    // Checkout of the 2,000-file tree.
    const out = join(root, 'out');
    mkdirSync(out);
    const mirror = source.cacheDir;
    const co = { ours: [], archive: [], worktree: [], ratio: [], worktreeRatio: [] };
    let cos = 0;
    const checkoutRun = async (head, runIndex) => {
      const times = { ours: [], archive: [], worktree: [] };
      const made = [];
      for (let pair = 0; pair < CHECKOUT_PAIRS; pair++, cos++) {
        const d1 = join(out, `ours-${cos}`);
        const d2 = join(out, `archive-${cos}`);
        const d3 = join(out, `worktree-${cos}`);
        const steps = [
          async () => times.ours.push(await time(() => source.checkout(head, d1))),
          async () =>
            times.archive.push(
              await time(async () => {
                mkdirSync(d2);
                await run([
                  'sh',
                  '-c',
                  'git --git-dir="$0" archive --format=tar "$1" | tar -x -C "$2"',
                  mirror,
                  head,
                  d2,
                ]);
              }),
            ),
          async () =>
            times.worktree.push(
              await time(() => run(['git', 'worktree', 'add', '--quiet', '--detach', d3, head], plain)),
            ),
        ];
        // Rotate who goes first (in the run's first round too, the one after the last run's
        // removals), so page-cache warmth and background load are shared out.
        for (let i = 0; i < steps.length; i++) {
          // Start each from the same state: no dirty pages of the previous one left to write back.
          execFileSync('sync');
          await steps[(pair + runIndex + i) % steps.length]();
        }
        made.push([d1, d2, d3]);
      }
      for (const [d1, d2, d3] of made) {
        for (const d of [d1, d2]) rmSync(d, { recursive: true, force: true });
        git(plain, ['worktree', 'remove', '--force', d3]);
      }
      execFileSync('sync');
      const ms = (xs) => xs.map((x) => x.toFixed(0)).join(' ');
      console.log(
        `[bench]   checkouts (ms): ours ${ms(times.ours)} | archive|tar ${ms(times.archive)} | worktree add ${ms(times.worktree)}`,
      );
      for (const k of ['ours', 'archive', 'worktree']) co[k].push(median(times[k]));
      co.ratio.push(median(times.ours) / median(times.archive));
      co.worktreeRatio.push(median(times.ours) / median(times.worktree));
    };

    for (let r = 0; r < RUNS; r++) {
      await pollRun();
      await checkoutRun(cursor, r);
      console.log(
        `[bench] run ${r + 1}/${RUNS}: poll ratio ${poll.ratio.at(-1).toFixed(2)}, checkout ours ${fmt(co.ours.at(-1))} / archive|tar ${fmt(co.archive.at(-1))} = ${co.ratio.at(-1).toFixed(2)} (load ${load()})`,
      );
    }

    const ms = (xs) => `${spread(xs)} ms`;
    console.log('');
    console.log(
      `poll, 1 new commit    ours ${ms(poll.ours)}   git fetch ${ms(poll.plain)}   ratio ${spread(poll.ratio, 2)}`,
    );
    console.log(`idle poll             ours ${ms(poll.idle)}   (goal < 50 ms)`);
    console.log(
      `checkout ${FILES} files   ours ${ms(co.ours)}   git archive|tar ${ms(co.archive)}   git worktree add ${ms(co.worktree)}`,
    );
    console.log(
      `checkout ratio        vs archive|tar ${spread(co.ratio, 2)}, worst run ${Math.max(...co.ratio).toFixed(2)} (goal ≤ 1.2 in every run)   vs worktree add ${spread(co.worktreeRatio, 2)}`,
    );
    console.log(
      `${RUNS} runs of ${POLL_PAIRS} interleaved polls and ${CHECKOUT_PAIRS} interleaved checkouts; a run's ratio is of its medians. Load at end: ${load()}`,
    );
    console.log(
      JSON.stringify({
        bench: 'vcs-git',
        git_poll_ratio: Number(median(poll.ratio).toFixed(3)),
        git_checkout_ratio: Number(median(co.ratio).toFixed(3)),
        git_checkout_ratio_min: Number(Math.min(...co.ratio).toFixed(3)),
        git_checkout_ratio_max: Number(Math.max(...co.ratio).toFixed(3)),
        git_checkout_worktree_ratio: Number(median(co.worktreeRatio).toFixed(3)),
        git_idle_poll_ms: Number(median(poll.idle).toFixed(2)),
      }),
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
