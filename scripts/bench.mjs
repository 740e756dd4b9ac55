#!/usr/bin/env node
// `npm run bench`: runs every benchmark in bench/ one after another (never two at once: they
// measure wall time on the same cores), shows each one's own output as it goes, and ends with
// one table of every figure against its goal, read from the JSON line each benchmark ends with.
//
//   npm run bench                  all of them (ssh, deb, engine and vcs-git took 20 min on 2 cores)
//   npm run bench -- ssh deb       only these
//
// The figures and goals are the ones the project's issues set; a figure with no goal is shown
// for reference. A benchmark that fails, or ends without its JSON line, is reported as such and
// makes the exit code 1; a goal missed does not (it is a measurement, not a test).
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { load } from '../bench/stats.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Each figure: its JSON key, what it is, and its goal (`max`: at most; `below`: less than). */
const FIGURES = {
  ssh: [
    // The goal is the issue's; on a machine whose cores the test hosts share, the floor below is above it.
    ['ratio_vs_limit', 'fan-out to 30 hosts / the no-SSH limit', { max: 1.15 }],
    ['ratio_vs_limit_100', 'fan-out to 100 hosts / the limit', { max: 1.25 }],
    [
      'floor_ratio_vs_limit',
      'the floor here (limit + one SSH connection a host) / the limit, 30 hosts',
      null,
    ],
    ['floor_ratio_vs_limit_100', 'the floor / the limit, 100 hosts', null],
    ['ratio_vs_floor', 'fan-out to 30 hosts / the floor', null],
    ['peak_rss_mb_100', 'peak RSS at 100 hosts (MB)', { below: 200 }],
    ['apt_mode_ratio_vs_limit', 'apt install mode at 30 hosts / the limit', null],
    ['ratio_vs_pssh', 'fan-out to 30 hosts / parallel-ssh', null],
    ['ratio_vs_ansible', 'fan-out to 30 hosts / Ansible', null],
    ['controller_cpu_ms_per_host', "controller's CPU per host (ms)", null],
  ],
  deb: [
    ['build_ratio_gzip', 'build, gzip / dpkg-deb', { max: 1.0 }],
    ['build_ratio_xz', 'build, xz / dpkg-deb', { max: 1.0 }],
    ['build_ratio_zstd', 'build, zstd / dpkg-deb', { max: 1.0 }],
    // dpkg-deb writes no md5sums; deb() hashes every file for it, as dh_md5sums would first.
    ['build_ratio_gzip_vs_md5sum_dpkg', 'build, gzip / (dpkg-deb + md5sum of the tree)', null],
    ['build_ratio_xz_vs_md5sum_dpkg', 'build, xz / (dpkg-deb + md5sum of the tree)', null],
    ['build_ratio_zstd_vs_md5sum_dpkg', 'build, zstd / (dpkg-deb + md5sum of the tree)', null],
    ['peak_rss_mb', 'peak RSS of a build (MB)', { below: 150 }],
    ['reindex_ratio_vs_apt_ftparchive', 're-index 500 / apt-ftparchive', { max: 1.0 }],
    ['publish_ratio_vs_reprepro', 'publish 500 / reprepro includedeb', { max: 1.0 }],
    ['add_one_to_5000_ms', 'add one to 5,000, signed (ms)', { below: 30 }],
    ['suite_update_ms', "one release into a ring's suite of 5,000 (ms)", { below: 50 }],
    ['relation_check_ms', 'relation check against 5,000 (ms)', { below: 5 }],
  ],
  'vcs-git': [
    ['git_checkout_ratio_max', 'checkout / git archive | tar, worst run', { max: 1.2 }],
    ['git_poll_ratio', 'poll / git fetch', null],
    ['git_idle_poll_ms', 'idle poll (ms)', { below: 50 }],
  ],
  'vcs-svn': [
    ['svn_poll_ratio', 'poll / svn', null],
    ['svn_checkout_ratio', 'checkout / svn export', null],
  ],
  engine: [
    ['host_step_overhead_ms', 'engine overhead per host step, file store (ms)', { below: 0.5 }],
    ['replay_1m_ms', 'replay of 1,000,000 records (ms)', { below: 5000 }],
    ['replay_1m_rss_mb', 'peak RSS of that replay (MB)', { below: 1024 }],
    ['status_100_pipelines_ms', 'status, 100 pipelines × 3 rings (ms)', { below: 20 }],
  ],
  store: [
    ['three_vs_one_runner', 'three runners / one, 250-host rings', { max: 0.45 }],
    ['host_step_overhead_ms_pg', 'engine overhead per host step, PostgreSQL (ms)', { below: 2 }],
  ],
  web: [
    ['render_ms', 'render GET / (ms)', null],
    ['sse_to_dom_ms', 'append → DOM over SSE (ms)', null],
  ],
};

const asked = process.argv.slice(2);
const unknown = asked.filter((name) => !(name in FIGURES));
if (unknown.length > 0) {
  console.error(`no such benchmark: ${unknown.join(', ')} (there are: ${Object.keys(FIGURES).join(', ')})`);
  process.exit(2);
}
const names = asked.length > 0 ? asked : Object.keys(FIGURES);

/** Runs one benchmark, its output on ours; resolves with its exit code and its last JSON line. */
function runBench(name) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(root, 'bench', `${name}.mjs`)], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
      // The peer tools at 30 hosts only, unless asked otherwise: Ansible takes minutes a run at 100.
      env: { BENCH_SSH_PEER_SIZES: '30', ...process.env },
    });
    let json;
    let pending = '';
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop();
      for (const line of lines) {
        if (line.startsWith('{') && line.includes('"bench"')) {
          try {
            json = JSON.parse(line);
          } catch {
            // not the JSON line after all
          }
        }
      }
    });
    child.on('close', (code) => resolve({ code, json }));
  });
}

const verdict = (value, goal) => {
  if (goal === null) return '';
  if (typeof value !== 'number') return 'not measured';
  return ('max' in goal ? value <= goal.max : value < goal.below) ? 'met' : 'MISSED';
};
const goalText = (goal) => (goal === null ? '—' : 'max' in goal ? `≤ ${goal.max}` : `< ${goal.below}`);

const started = performance.now();
const loadStart = load();
const rows = [];
let failed = false;
for (const name of names) {
  console.log(`\n━━ bench:${name} ━━`);
  const t = performance.now();
  const { code, json } = await runBench(name);
  const took = `${((performance.now() - t) / 1000).toFixed(0)} s`;
  if (code !== 0 || json === undefined) {
    failed = true;
    rows.push([name, code !== 0 ? `failed (exit ${code})` : 'ended without its JSON line', '', '', '', took]);
    continue;
  }
  for (const [key, what, goal] of FIGURES[name]) {
    const value = json[key];
    rows.push([
      name,
      what,
      value === undefined || value === null ? 'n/a' : String(value),
      goalText(goal),
      verdict(value, goal),
      took,
    ]);
  }
}

const header = ['bench', 'figure', 'value', 'goal', '', 'took'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (r) => r.map((c, i) => (i === 2 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
console.log(`\n${line(header)}`);
for (const r of rows) console.log(line(r));
const missed = rows.filter((r) => r[4] === 'MISSED').length;
const met = rows.filter((r) => r[4] === 'met').length;
console.log(
  `\n${met} goals met, ${missed} missed; ${((performance.now() - started) / 60000).toFixed(1)} min; load at start ${loadStart}, at end ${load()}`,
);
process.exit(failed ? 1 : 0);
