#!/usr/bin/env node
// Bench for @ringmaster/vcs-git, run against the BUILT package (packages/vcs-git/dist) beside
// the plain git client doing the same work in the same run:
//   - poll with one new commit on a 10,000-commit repository: source.log(cursor) vs `git fetch`;
//   - idle poll (nothing new) on a local path;
//   - checkout of a 2,000-file tree: source.checkout() vs `git archive | tar -x` and
//     `git worktree add --detach`.
// Prints ratios (ours / plain) and ends with one JSON line.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const COMMITS = 10_000;
const FILES = 2_000;
const POLL_ROUNDS = 25;
const CHECKOUT_ROUNDS = 9;

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

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
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
    const ours = [];
    const theirs = [];
    for (let round = 0; round < POLL_ROUNDS; round++) {
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
      const b = async () => theirs.push(await time(() => run(['git', 'fetch', '--quiet', 'origin'], plain)));
      if (round % 2 === 0) {
        await a();
        await b();
      } else {
        await b();
        await a();
      }
    }
    const pollOurs = median(ours);
    const pollPlain = median(theirs);

    const idle = [];
    for (let round = 0; round < POLL_ROUNDS; round++) {
      let log;
      idle.push(
        await time(async () => {
          log = await source.log(cursor);
        }),
      );
      if (log.length !== 0) throw new Error('idle poll saw something');
    }
    const idleMs = median(idle);

    // Checkout of the 2,000-file tree.
    const head = cursor;
    const out = join(root, 'out');
    mkdirSync(out);
    const mirror = source.cacheDir;
    const co = { ours: [], archive: [], worktree: [] };
    for (let round = 0; round < CHECKOUT_ROUNDS; round++) {
      const d1 = join(out, `ours-${round}`);
      const d2 = join(out, `archive-${round}`);
      const d3 = join(out, `worktree-${round}`);
      const steps = [
        async () => co.ours.push(await time(() => source.checkout(head, d1))),
        async () =>
          co.archive.push(
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
          co.worktree.push(
            await time(() => run(['git', 'worktree', 'add', '--quiet', '--detach', d3, head], plain)),
          ),
      ];
      // Rotate who goes first, so page-cache warmth and background load are shared out.
      for (let i = 0; i < steps.length; i++) {
        // Start each from the same state: no dirty pages of the previous one left to write back.
        execFileSync('sync');
        await steps[(round + i) % steps.length]();
      }
      for (const d of [d1, d2]) rmSync(d, { recursive: true, force: true });
      git(plain, ['worktree', 'remove', '--force', d3]);
    }
    const coOurs = median(co.ours);
    const coArchive = median(co.archive);
    const coWorktree = median(co.worktree);
    const coPlain = Math.min(coArchive, coWorktree);

    const pollRatio = pollOurs / pollPlain;
    const checkoutRatio = coOurs / coPlain;
    console.log('');
    console.log(
      `poll, 1 new commit    ours ${fmt(pollOurs)}   git fetch ${fmt(pollPlain)}   ratio ${pollRatio.toFixed(2)}`,
    );
    console.log(`idle poll             ours ${fmt(idleMs)}   (goal < 50 ms)`);
    console.log(
      `checkout ${FILES} files   ours ${fmt(coOurs)}   git archive|tar ${fmt(coArchive)} (ratio ${(coOurs / coArchive).toFixed(2)})   ` +
        `git worktree add ${fmt(coWorktree)} (ratio ${(coOurs / coWorktree).toFixed(2)})`,
    );
    console.log(
      `medians of ${POLL_ROUNDS} polls and ${CHECKOUT_ROUNDS} checkouts; checkout ratio is against the faster plain way`,
    );
    console.log(
      JSON.stringify({
        bench: 'vcs-git',
        git_poll_ratio: Number(pollRatio.toFixed(3)),
        git_checkout_ratio: Number(checkoutRatio.toFixed(3)),
        git_idle_poll_ms: Number(idleMs.toFixed(2)),
      }),
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
