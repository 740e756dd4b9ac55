#!/usr/bin/env node
// Benchmark of @ringmaster/pkg-deb (the BUILT package in packages/pkg-deb/dist) against the Debian
// tools, side by side in one run:
//   1. build a 2,000-file / 40 MB tree with deb() and with `dpkg-deb --build -Z<c> -z<level>` for
//      gzip 9, xz 6 and zstd 3 (dpkg-deb's defaults, the same level on both sides), BENCH_RUNS runs
//      (default 5) interleaved (build_ratio_gzip/xz/zstd), and the build's peak RSS, its xz or
//      zstd child's included (peak_rss_mb); run only this part with BENCH_ONLY=build;
//   2. re-index a pool of 500 packages (reindex()) vs apt-ftparchive packages + gzip -9 + release,
//      and publish 500 into an empty repository vs reprepro includedeb, every side a whole process;
//   3. add one package to a 5,000-package signed repository (add_one_to_5000_ms; run only this part
//      with BENCH_ONLY=add-one, 2 and 3 with BENCH_ONLY=index);
//   5. admit one release to a ring's suite of 5,000 packages, signed (suite_update_ms; run only
//      this part with BENCH_ONLY=suite);
//   6. check one release's relations against a set of 5,000 packages, in memory (relation_check_ms;
//      run only this part with BENCH_ONLY=relations).
// Ends with one JSON line. Ratios are our time over the peer's (below 1.0 means we are faster).
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { load, median, spread } from './stats.mjs';

const distUrl = new URL('../packages/pkg-deb/dist/index.js', import.meta.url);
const dist = fileURLToPath(distUrl);
if (!existsSync(dist)) {
  console.error('[bench] packages/pkg-deb/dist is missing: run `npm run build` first');
  process.exit(1);
}

/** Installs the Debian peer tools this bench compares against, if missing (we run as root). */
function ensureTools(tools) {
  const missing = Object.entries(tools)
    .filter(([command]) => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status !== 0)
    .map(([, pkg]) => pkg);
  if (missing.length === 0) return;
  console.log(`[bench] installing ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  // The dpkg lock may be held by another installer for a while: retry, bounded.
  for (let attempt = 1; attempt <= 20; attempt++) {
    const r = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], {
      stdio: 'inherit',
      env,
    });
    if (r.status === 0) return;
    if (attempt === 1) spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    execFileSync('sleep', ['3']);
  }
  throw new Error(`cannot install ${missing.join(' ')}`);
}

ensureTools({
  'dpkg-deb': 'dpkg',
  'dpkg-scanpackages': 'dpkg-dev',
  'apt-ftparchive': 'apt-utils',
  xz: 'xz-utils',
  gpg: 'gnupg',
});

const { aptRepository, deb } = await import(distUrl.href);

const round = (x, d = 3) => (x === null ? null : Math.round(x * 10 ** d) / 10 ** d);

/** Wall time of a command, in ms (stdout discarded unless `out` is given). */
function timeCommand(argv, options = {}) {
  const start = performance.now();
  const r = spawnSync(argv[0], argv.slice(1), {
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 1 << 30,
    ...options,
  });
  const ms = performance.now() - start;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed: ${r.stderr}`);
  return { ms, stdout: r.stdout };
}

/** xorshift32: fast deterministic bytes, so each run builds the same tree. */
function prng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

const WORDS = Array.from({ length: 300 }, (_, i) => `w${(i * 7919).toString(36)}`);

/** 2,000 files, 40 MB: mostly text-like (compressible) content, a quarter random bytes. */
async function makeTree(dir) {
  const rand = prng(42);
  let total = 0;
  for (let i = 0; i < 2000; i++) {
    const size = i % 20 === 0 ? 200_000 + (rand() % 40_000) : 9_500 + (rand() % 2_000);
    let data;
    if (i % 4 === 3) {
      data = Buffer.allocUnsafe(size);
      for (let j = 0; j < size; j += 4) data.writeUInt32LE(rand(), Math.min(j, size - 4));
    } else {
      const parts = [];
      let n = 0;
      while (n < size) {
        const w = WORDS[rand() % WORDS.length];
        parts.push(w);
        n += w.length + 1;
      }
      data = Buffer.from(parts.join(rand() % 9 === 0 ? '\n' : ' ').slice(0, size));
    }
    const sub = join(dir, 'opt', 'app', `d${i % 40}`);
    await mkdir(sub, { recursive: true });
    await writeFile(join(sub, `file-${i}.dat`), data);
    total += size;
  }
  return total;
}

/**
 * suite_update_ms: what promoting one package to a ring costs the repository. A ring's suite
 * lists 5,000 packages (each published, then admitted in one call); each run publishes a new
 * version of one of them (not timed) and times `admit(ring, [it])`: the suite's Packages,
 * Packages.gz, by-hash and Release rewritten, InRelease and Release.gpg signed by gpg.
 */
/** A throwaway ed25519 signing key without a passphrase in the GnuPG home `gpgHome`. */
function makeSigningKey(gpgHome) {
  execFileSync(
    'gpg',
    [
      '--homedir',
      gpgHome,
      '--batch',
      '--passphrase',
      '',
      '--quick-gen-key',
      'Bench <bench@example.com>',
      'ed25519',
      'sign',
      'never',
    ],
    { stdio: 'ignore' },
  );
}

async function benchSuiteUpdate(work, runs = 7) {
  const dir = join(work, 'suite-update');
  const gpgHome = join(dir, 'gpg');
  await mkdir(gpgHome, { recursive: true, mode: 0o700 });
  makeSigningKey(gpgHome);
  const tree = join(dir, 'tree');
  await mkdir(join(tree, 'usr/share/pkg'), { recursive: true });
  await writeFile(join(tree, 'usr/share/pkg/README'), 'suite bench\n');
  const build = (name, number) =>
    deb({ ...options, name, depends: ['libc6 (>= 2.36)'] }).package({
      dir: tree,
      outDir: join(dir, `debs-${number}`),
      revision: { ...revision, number },
    });
  const artifacts = [];
  for (let i = 0; i < 5000; i++) artifacts.push(await build(`ring${i}`, 1));
  const repo = aptRepository({ dir: join(dir, 'repo'), signingKey: { homedir: gpgHome } });
  try {
    await repo.publishMany(artifacts);
    const listed = await repo.admit('prod', artifacts);
    const ms = [];
    for (let run = 0; run < runs; run++) {
      const next = await build(`ring${run * 701}`, 2);
      await repo.publish(next);
      const t = performance.now();
      await repo.admit('prod', [next]);
      ms.push(performance.now() - t);
    }
    console.log(
      `[bench] suite update: admit one release to a ring suite of ${Object.keys(listed.packages).length} packages, signed: ${spread(ms)} ms, median (min–max) of ${runs} (goal < 50 ms)`,
    );
    return { median: median(ms), min: Math.min(...ms), max: Math.max(...ms) };
  } finally {
    await repo.close();
    execFileSync('gpgconf', ['--homedir', gpgHome, '--kill', 'gpg-agent']);
  }
}

/**
 * relation_check_ms: what checking one release's relations costs before it joins a ring.
 * The set is 5,000 artifacts in memory (each a Depends on the next, one on libc6, a versioned
 * Provides); each run checks a new release (5 relations: 3 Depends, a Breaks, a Conflicts; a
 * Provides) replacing one of them, against the same set. The first check also parses and indexes
 * the set: it is reported on its own, not in the median.
 */
async function benchRelationCheck(runs = 9) {
  const { relationProblems } = await import(distUrl.href);
  const artifact = (name, version, relations) => ({
    name,
    version,
    architecture: 'all',
    dependencies: [],
    file: `/bench/${name}_${version}_all.deb`,
    sha256: '0'.repeat(64),
    size: 0,
    format: 'deb',
    relations,
  });
  const N = 5000;
  const set = Array.from({ length: N }, (_, i) =>
    artifact(`app${i}`, `1.${i}`, {
      depends: [`app${(i + 1) % N} (>= 1.0)`, 'libc6 (>= 2.36)'],
      provides: [`app${i}-api (= 1.${i})`],
    }),
  );
  const managed = new Set(set.map((a) => a.name));
  const release = (run) =>
    artifact('app2500', `2.${run}`, {
      depends: ['app2501 (>= 1.2501)', 'app2502 | app2503', 'app17-api (>= 1.17)'],
      breaks: ['app2504 (<< 1.0)'],
      conflicts: ['app2505 (<< 1.0)'],
      provides: ['app2500-api (= 2.0)'],
    });
  let t = performance.now();
  let problems = relationProblems({ subject: release(0), set, managed });
  const first = performance.now() - t;
  const ms = [];
  for (let run = 1; run <= runs; run++) {
    const subject = release(run);
    t = performance.now();
    problems = relationProblems({ subject, set, managed });
    ms.push(performance.now() - t);
    if (problems.length !== 0) throw new Error(`relation check found ${problems[0].message}`);
  }
  console.log(
    `[bench] relation check: one release (5 relations) against ${N} packages: ${spread(ms, 3)} ms, median (min–max) of ${runs} (goal < 5 ms); the first check, parsing and indexing the set, ${first.toFixed(1)} ms`,
  );
  return { median: median(ms), min: Math.min(...ms), max: Math.max(...ms), first };
}

// ---- section 1: build (BENCH_ONLY=build runs only this) ---------------------------------------------
/**
 * The compressors of the build section, each at dpkg-deb's default level (`man dpkg-deb`, -z);
 * BENCH_COMPRESSION=zstd (or a comma-separated list) measures only those.
 */
const BUILD_COMPRESSORS = [
  ['gzip', 9],
  ['xz', 6],
  ['zstd', 3],
].filter(([c]) => !process.env.BENCH_COMPRESSION || process.env.BENCH_COMPRESSION.split(',').includes(c));

/**
 * The 2,000-file / 40 MB tree built by deb() and by `dpkg-deb --root-owner-group -Z<c> -z<level>
 * --build`, for each compressor at the same level, BENCH_RUNS runs (default 5), ours and
 * dpkg-deb's in each run (which goes first alternates). deb() builds in a process of its own and
 * times itself (import and startup excluded; the process's wall time is reported too). Its peak
 * RSS, from one more build of each compressor that is not timed, is the process's own maxRSS plus
 * its compressor children's (xz and zstd are found through wrappers on PATH that run them under
 * `/usr/bin/time -f %M`): control.tar's compressor runs
 * alongside data.tar's, so all of them are added, and the sum bounds the build's total from
 * above. dpkg-deb's peak is `/usr/bin/time -f %M` of it: the largest of its processes (it forks
 * tar and a compressor), not their sum.
 *
 * deb() writes DEBIAN/md5sums, so it hashes all 40 MB; dpkg-deb only packs what the tree holds (in
 * a Debian build dh_md5sums hashes the files before it). For reference each run also times
 * `find | xargs md5sum` of the tree after dpkg-deb, and build_ratio_<c>_vs_md5sum_dpkg compares
 * deb() with the two together; build_ratio_<c> stays the goal's ratio.
 */
async function benchBuild(work) {
  ensureTools({ zstd: 'zstd', '/usr/bin/time': 'time' });
  const { readFileSync } = await import('node:fs');
  const runs = Math.max(1, Number(process.env.BENCH_RUNS ?? 5));
  const tree = join(work, 'tree');
  const bytes = await makeTree(tree);
  const dpkgTree = join(work, 'dpkgtree');
  execFileSync('cp', ['-al', tree, dpkgTree]);
  await mkdir(join(dpkgTree, 'DEBIAN'));
  await writeFile(
    join(dpkgTree, 'DEBIAN/control'),
    'Package: benchapp\nVersion: 0.0.1\nArchitecture: all\nMaintainer: Bench <bench@example.com>\nDescription: Benchmark package\n',
  );
  console.log(
    `[bench] build: tree of 2000 files, ${(bytes / 1e6).toFixed(1)} MB; ${runs} runs; load ${load()}`,
  );

  // xz and zstd as deb() finds them on PATH, each under /usr/bin/time, which appends its max RSS to a log.
  const bin = join(work, 'bin');
  await mkdir(bin);
  for (const tool of ['xz', 'zstd']) {
    const real = execFileSync('sh', ['-c', `command -v ${tool}`])
      .toString()
      .trim();
    await writeFile(
      join(bin, tool),
      `#!/bin/sh\nexec /usr/bin/time -a -o "$BENCH_RSS_LOG" -f %M ${real} "$@"\n`,
      { mode: 0o755 },
    );
  }
  const child = `
    const { deb } = await import(${JSON.stringify(distUrl.href)});
    const [dir, outDir, compression, level] = process.argv.slice(1);
    const packager = deb({ ...${JSON.stringify(options)}, compression, compressionLevel: Number(level) });
    const t = performance.now();
    const a = await packager.package({ dir, outDir, revision: ${JSON.stringify(revision)} });
    const ms = performance.now() - t;
    console.log(JSON.stringify({ ms, size: a.size, maxRssMb: process.resourceUsage().maxRSS / 1024 }));
  `;
  const results = {};
  for (const [compression] of BUILD_COMPRESSORS) {
    results[compression] = {
      ours: [],
      process: [],
      dpkg: [],
      md5dpkg: [],
      peak: [],
      node: [],
      tool: [],
      dpkgPeak: [],
    };
  }
  /**
   * One build by deb() in a process of its own. Timed (`rss` false): the compressors as they are
   * on PATH. For the peak RSS (`rss` true, untimed): xz and zstd through the /usr/bin/time wrappers,
   * whose sh and time would otherwise add to the timed build.
   */
  const oursBuild = async (compression, level, tag, rss) => {
    const r = results[compression];
    const out = join(work, `out-${compression}-${tag}`);
    await mkdir(out);
    const log = join(work, `rss-${compression}-${tag}.log`);
    const p = timeCommand(
      [process.execPath, '--input-type=module', '-e', child, tree, out, compression, String(level)],
      rss ? { env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, BENCH_RSS_LOG: log } } : {},
    );
    const o = JSON.parse(p.stdout.toString());
    if (rss) {
      // One line per compressor run (control.tar's and data.tar's, at the same time), in KB.
      const tool = existsSync(log)
        ? readFileSync(log, 'utf8')
            .trim()
            .split('\n')
            .reduce((sum, kb) => sum + Number(kb), 0) / 1024
        : 0;
      r.node.push(o.maxRssMb);
      r.tool.push(tool);
      r.peak.push(o.maxRssMb + tool);
    } else {
      r.ours.push(o.ms);
      r.process.push(p.ms);
      r.size = o.size;
    }
    await rm(out, { recursive: true, force: true });
  };
  for (const [compression, level] of BUILD_COMPRESSORS) await oursBuild(compression, level, 'rss', true);
  for (let run = 0; run < runs; run++) {
    for (const [compression, level] of BUILD_COMPRESSORS) {
      const r = results[compression];
      const ours = () => oursBuild(compression, level, String(run), false);
      const dpkg = () => {
        const file = join(work, `dpkg-${compression}-${run}.deb`);
        const argv = [
          'dpkg-deb',
          '--root-owner-group',
          `-Z${compression}`,
          `-z${level}`,
          '--build',
          dpkgTree,
          file,
        ];
        const start = performance.now();
        const d = spawnSync('/usr/bin/time', ['-f', '%M', ...argv], { stdio: ['ignore', 'ignore', 'pipe'] });
        const ms = performance.now() - start;
        if (d.status !== 0) throw new Error(`${argv.join(' ')} failed: ${d.stderr}`);
        r.dpkg.push(ms);
        // /usr/bin/time's last line on stderr: the max RSS in KB.
        r.dpkgPeak.push(Number(d.stderr.toString().trim().split('\n').at(-1)) / 1024);
        r.dpkgSize = statSync(file).size;
        execFileSync('rm', ['-f', file]);
        // For reference: the MD5 of every file, which deb() writes to md5sums and dpkg-deb does
        // not (dh_md5sums does it before dh_builddeb in a Debian build), as dh_md5sums runs it.
        // Written outside the tree, so dpkg-deb's runs stay the same: dpkg-deb does not pack the
        // ~100 KB md5sums deb() does, and the shell and its tools' starts count on md5sum's side.
        // Both are a few ms.
        const sums = performance.now();
        const s = spawnSync(
          'sh',
          [
            '-c',
            'cd "$1" && find . -type f ! -path "./DEBIAN/*" -printf "%P\\0" | LC_ALL=C sort -z | xargs -0r md5sum >"$2"',
            'sh',
            dpkgTree,
            join(work, 'md5sums'),
          ],
          { stdio: ['ignore', 'ignore', 'pipe'] },
        );
        if (s.status !== 0) throw new Error(`md5sum of the tree failed: ${s.stderr}`);
        r.md5dpkg.push(ms + performance.now() - sums);
      };
      if (run % 2 === 0) {
        await ours();
        dpkg();
      } else {
        dpkg();
        await ours();
      }
    }
  }
  const json = {};
  let peak = 0;
  for (const [compression, level] of BUILD_COMPRESSORS) {
    const r = results[compression];
    const ratio = median(r.ours) / median(r.dpkg);
    const processRatio = median(r.process) / median(r.dpkg);
    const worst = r.peak.indexOf(Math.max(...r.peak));
    peak = Math.max(peak, r.peak[worst]);
    const tool = compression === 'gzip' ? 'gzip in-process' : `${compression} ${r.tool[worst].toFixed(0)} MB`;
    console.log(
      `[bench] build ${compression} -${level}: deb() ${spread(r.ours, 0)} ms in-process (${spread(r.process, 0)} ms as a process), dpkg-deb ${spread(r.dpkg, 0)} ms, median (min–max) of ${runs} → ratio ${ratio.toFixed(2)} (process ${processRatio.toFixed(2)})`,
    );
    const md5Ratio = median(r.ours) / median(r.md5dpkg);
    console.log(
      `[bench]   for reference, with the md5sums deb() writes and dpkg-deb does not: dpkg-deb + md5sum of the tree ${spread(r.md5dpkg, 0)} ms → ratio ${md5Ratio.toFixed(2)}`,
    );
    console.log(
      `[bench]   ${compression} sizes: deb() ${(r.size / 1e6).toFixed(2)} MB, dpkg-deb ${(r.dpkgSize / 1e6).toFixed(2)} MB; peak RSS: deb() ${r.peak[worst].toFixed(0)} MB (process ${r.node[worst].toFixed(0)} MB + ${tool}), dpkg-deb ${Math.max(...r.dpkgPeak).toFixed(0)} MB (its largest process)`,
    );
    json[`build_ratio_${compression}`] = round(ratio);
    json[`build_ratio_${compression}_vs_md5sum_dpkg`] = round(md5Ratio);
    json[`peak_rss_mb_${compression}`] = round(r.peak[worst], 1);
  }
  json.peak_rss_mb = round(peak, 1);
  console.log(`[bench] build done: load ${load()}`);
  return { json };
}

// ---- sections 2 and 3: apt indexing (BENCH_ONLY=index runs only these) ------------------------------
/** Runs of each indexing measurement, ours and the peer's interleaved in each. */
const INDEX_RUNS = Math.max(5, Number(process.env.BENCH_RUNS ?? 5));

/**
 * Wall time of a process in ms; its stdout goes to `stdoutFile` when given (the peer writes its
 * index). With `report`, resolves with `{ ms, out }`: its stdout's last line, parsed as JSON (what
 * our scripts measured inside the process).
 */
function timeProcess(argv, { cwd, stdoutFile, report } = {}) {
  const out = stdoutFile ? openSync(stdoutFile, 'w') : report ? 'pipe' : 'ignore';
  try {
    const start = performance.now();
    const r = spawnSync(argv[0], argv.slice(1), { cwd, stdio: ['ignore', out, 'pipe'] });
    const ms = performance.now() - start;
    if (r.status !== 0) throw new Error(`${argv.slice(0, 4).join(' ')}… failed: ${r.stderr}`);
    return report ? { ms, out: JSON.parse(r.stdout.toString().trim().split('\n').at(-1)) } : ms;
  } finally {
    if (stdoutFile) closeSync(out);
  }
}

/**
 * `node -e <script> …args` as a process, the script importing the built package as a user would;
 * it prints `{ importMs, workMs }` (`work` is the time of the script's own statements).
 */
const nodeScript = (script, ...args) => [
  process.execPath,
  '--input-type=module',
  '-e',
  `const t0 = performance.now();
const { aptRepository } = await import(${JSON.stringify(distUrl.href)});
const t1 = performance.now();
${script}
console.log(JSON.stringify({ importMs: t1 - t0, workMs: performance.now() - t1 }));`,
  ...args,
];

/** 500 small packages, as section 2 always indexed (each a README and 4 KB of data). */
async function buildSmallPackages(dir, count, prefix, depends = ['libc6 (>= 2.36)']) {
  const artifacts = [];
  for (let i = 0; i < count; i++) {
    const tree = join(dir, 'trees', String(i));
    await mkdir(join(tree, 'usr/share/pkg'), { recursive: true });
    await writeFile(join(tree, 'usr/share/pkg/README'), `package ${i}\n`.repeat(50));
    await writeFile(join(tree, 'usr/share/pkg/data'), Buffer.alloc(4096 + (i % 500), i % 256));
    artifacts.push(
      await deb({ ...options, name: `${prefix}${i}`, depends }).package({
        dir: tree,
        outDir: join(dir, 'debs'),
        revision,
      }),
    );
  }
  return artifacts;
}

/**
 * reindex_ratio_vs_apt_ftparchive and publish_ratio_vs_reprepro: 500 packages, every side a whole
 * process, unsigned on both sides (apt-ftparchive and reprepro sign only through gpg, as we do).
 *   re-index: a repository whose pool holds the 500 and whose indexes were lost (dists/ removed):
 *     `reindex()` walks the pool (a file whose catalogue record's stat key matches is not read; the
 *     first run records the keys, the later ones use them) and writes Packages, Packages.gz and
 *     Release — against `apt-ftparchive packages` of the same pool, `gzip -9` of its output and
 *     `apt-ftparchive release`, summed. For reference: reindex() with its catalogue lost too
 *     (every package read and checked in full), apt-ftparchive with a warm --db (its own cache,
 *     keyed by path), and a process that only imports the package.
 *   floor: a bare `node -e 0`, timed in the same runs: what any Node process costs before it does
 *     anything (node_floor_ratio_vs_apt_ftparchive); and reindex()'s own time inside its process,
 *     after the import, against the peer's whole run (reindex_work_ratio_vs_apt_ftparchive).
 *   publish: the 500 into an empty repository (checked, copied into the pool, fsynced, indexed)
 *     against `reprepro includedeb` of the same files into an empty repository.
 */
async function benchIndex(work) {
  ensureTools({ reprepro: 'reprepro', gzip: 'gzip', 'apt-ftparchive': 'apt-utils' });
  const dir = join(work, 'index');
  const artifacts = await buildSmallPackages(dir, 500, 'pkg');
  const artifactsFile = join(dir, 'artifacts.json');
  await writeFile(artifactsFile, JSON.stringify(artifacts));
  const warm = join(dir, 'warm');
  const cold = join(dir, 'cold');
  for (const repo of [warm, cold]) await aptRepository({ dir: repo }).publishMany(artifacts);
  const ftp = join(dir, 'ftp');
  const ftpIndex = join(ftp, 'dists/stable/main/binary-amd64');
  await mkdir(ftpIndex, { recursive: true });
  const ftpDb = join(dir, 'ftp.db');
  timeProcess(['apt-ftparchive', '--db', ftpDb, 'packages', 'pool/main'], { cwd: warm }); // warms its db
  const reindexScript = nodeScript('await aptRepository({ dir: process.argv[1] }).reindex();');
  const ms = {
    ftp: [],
    ftpDb: [],
    warm: [],
    warmWork: [],
    warmImport: [],
    cold: [],
    imports: [],
    bare: [],
    publish: [],
    publishWork: [],
    reprepro: [],
  };
  const debFiles = artifacts.map((a) => a.file);
  for (let run = 0; run < INDEX_RUNS; run++) {
    // The peer: its Packages of our pool (same files, same paths), compressed, then its Release.
    ms.ftp.push(
      timeProcess(['apt-ftparchive', 'packages', 'pool/main'], {
        cwd: warm,
        stdoutFile: join(ftpIndex, 'Packages'),
      }) +
        timeProcess(['gzip', '-9', '-n', '-k', '-f', join(ftpIndex, 'Packages')]) +
        timeProcess(['apt-ftparchive', 'release', 'dists/stable'], {
          cwd: ftp,
          stdoutFile: join(ftp, 'Release'),
        }),
    );
    await rm(join(warm, 'dists'), { recursive: true, force: true });
    const reindexed = timeProcess([...reindexScript, warm], { report: true });
    ms.warm.push(reindexed.ms);
    ms.warmWork.push(reindexed.out.workMs);
    ms.warmImport.push(reindexed.out.importMs);
    ms.bare.push(timeProcess([process.execPath, '-e', '0']));
    ms.ftpDb.push(
      timeProcess(['apt-ftparchive', '--db', ftpDb, 'packages', 'pool/main'], {
        cwd: warm,
        stdoutFile: join(ftpIndex, 'Packages'),
      }) +
        timeProcess(['gzip', '-9', '-n', '-k', '-f', join(ftpIndex, 'Packages')]) +
        timeProcess(['apt-ftparchive', 'release', 'dists/stable'], {
          cwd: ftp,
          stdoutFile: join(ftp, 'Release'),
        }),
    );
    for (const lost of ['dists', '.ringmaster']) await rm(join(cold, lost), { recursive: true, force: true });
    ms.cold.push(timeProcess([...reindexScript, cold]));
    ms.imports.push(timeProcess(nodeScript('void aptRepository;')));

    const ours = join(dir, `publish-${run}`);
    const publishing = timeProcess(
      [
        ...nodeScript(
          "const { readFile } = await import('node:fs/promises');\nawait aptRepository({ dir: process.argv[1] }).publishMany(JSON.parse(await readFile(process.argv[2], 'utf8')));",
        ),
        ours,
        artifactsFile,
      ],
      { report: true },
    );
    ms.publish.push(publishing.ms);
    ms.publishWork.push(publishing.out.workMs);
    const reprepro = join(dir, `reprepro-${run}`);
    await mkdir(join(reprepro, 'conf'), { recursive: true });
    await writeFile(
      join(reprepro, 'conf/distributions'),
      'Origin: Bench\nLabel: Bench\nSuite: stable\nCodename: stable\nArchitectures: amd64\nComponents: main\n',
    );
    ms.reprepro.push(
      timeProcess(['reprepro', '-b', reprepro, '--silent', 'includedeb', 'stable', ...debFiles]),
    );
    for (const d of [ours, reprepro]) await rm(d, { recursive: true, force: true });
  }
  const reindexRatio = median(ms.warm) / median(ms.ftp);
  const workRatio = median(ms.warmWork) / median(ms.ftp);
  const floorRatio = median(ms.bare) / median(ms.ftp);
  const publishRatio = median(ms.publish) / median(ms.reprepro);
  const of = `median (min–max) of ${INDEX_RUNS}`;
  console.log(
    `[bench] re-index 500, as processes, ms, ${of}: reindex() ${spread(ms.warm, 0)} (the first run, recording stat keys: ${ms.warm[0].toFixed(0)}; catalogue lost too: ${spread(ms.cold, 0)}); apt-ftparchive packages + gzip -9 + release ${spread(ms.ftp, 0)} (with a warm --db: ${spread(ms.ftpDb, 0)}); a process only importing @ringmaster/pkg-deb ${spread(ms.imports, 0)}`,
  );
  console.log(
    `[bench] re-index ratio ${reindexRatio.toFixed(2)} (goal ≤ 1.0; catalogue lost ${(median(ms.cold) / median(ms.ftp)).toFixed(2)}; vs apt-ftparchive --db ${(median(ms.warm) / median(ms.ftpDb)).toFixed(2)})`,
  );
  console.log(
    `[bench] the floor: a bare \`node -e 0\` ${spread(ms.bare, 0)} ms, ${floorRatio.toFixed(2)}× the peer's whole run; inside reindex()'s process: importing @ringmaster/pkg-deb ${spread(ms.warmImport, 0)} ms, reindex() itself ${spread(ms.warmWork, 0)} ms (the first run ${ms.warmWork[0].toFixed(0)}) → ${workRatio.toFixed(2)}× the peer's whole run`,
  );
  console.log(
    `[bench] publish 500 into an empty repository, as processes, ms, ${of}: publishMany() ${spread(ms.publish, 0)} (inside its process, after the import: ${spread(ms.publishWork, 0)}), reprepro includedeb ${spread(ms.reprepro, 0)} → ratio ${publishRatio.toFixed(2)} (goal ≤ 1.0)`,
  );
  return { reindexRatio, publishRatio, workRatio, floorRatio };
}

/**
 * add_one_to_5000_ms: publishing one package into a signed repository of 5,000 (the repository
 * object kept, as a publisher process keeps it): the pool file, its record, Packages,
 * Packages.gz, by-hash and Release rewritten, InRelease and Release.gpg signed by gpg. For
 * reference, the same from a fresh process (which reads the 5,000 records and compresses the
 * whole index once).
 */
async function benchAddOne(work) {
  const dir = join(work, 'add-one');
  const gpgHome = join(dir, 'gpg');
  await mkdir(gpgHome, { recursive: true, mode: 0o700 });
  makeSigningKey(gpgHome);
  const tree = join(dir, 'tree');
  await mkdir(join(tree, 'usr/share/pkg'), { recursive: true });
  await writeFile(join(tree, 'usr/share/pkg/README'), 'add-one bench\n');
  const build = (name) =>
    deb({ ...options, name, depends: ['libc6 (>= 2.36)'] }).package({
      dir: tree,
      outDir: join(dir, 'debs'),
      revision,
    });
  const base = [];
  for (let i = 0; i < 5000; i++) base.push(await build(`base${i}`));
  const repoDir = join(dir, 'repo');
  const signingKey = { homedir: gpgHome };
  const repo = aptRepository({ dir: repoDir, signingKey });
  const ms = [];
  const cpu = [];
  const fresh = [];
  try {
    await repo.publishMany(base);
    const addScript = nodeScript(
      "const { readFile } = await import('node:fs/promises');\nconst [dir, homedir, artifact] = process.argv.slice(1);\nconst repo = aptRepository({ dir, signingKey: { homedir } });\nawait repo.publish(JSON.parse(await readFile(artifact, 'utf8')));\nawait repo.close();",
    );
    // Built first, so no build's work is left running while a publish is timed.
    const extras = [];
    for (let run = 0; run < INDEX_RUNS; run++) extras.push(await build(`extra${run}`));
    // The setup wrote some 10,000 files: on disk before the first fsync timed has to wait for them.
    execFileSync('sync');
    for (const extra of extras) {
      const t = performance.now();
      const c = process.cpuUsage();
      await repo.publish(extra);
      ms.push(performance.now() - t);
      const u = process.cpuUsage(c);
      cpu.push((u.user + u.system) / 1000);
    }
    // Then from fresh processes, after the in-process runs: each changes the catalogue, which the
    // kept repository object would have to read again on its next publish.
    for (let run = 0; run < INDEX_RUNS; run++) {
      const another = join(dir, `another-${run}.json`);
      await writeFile(another, JSON.stringify(await build(`another${run}`)));
      fresh.push(timeProcess([...addScript, repoDir, gpgHome, another]));
    }
  } finally {
    await repo.close();
    execFileSync('gpgconf', ['--homedir', gpgHome, '--kill', 'gpg-agent']);
  }
  // The base packages (pool/main/b/base<i>/), which each run added one to.
  const entries = (await readdir(join(repoDir, 'pool/main/b'))).length;
  console.log(
    `[bench] add one to ${entries}+ packages, signed (InRelease + Release.gpg by gpg): ${spread(ms)} ms, median (min–max) of ${INDEX_RUNS} (goal < 30 ms); this process's CPU (all its threads, gpg not counted) ${spread(cpu)} ms; from a fresh process: ${spread(fresh, 0)} ms`,
  );
  return { median: median(ms) };
}

const work = await mkdtemp(join(tmpdir(), 'bench-deb-'));
const revision = {
  id: 'bench',
  line: 'trunk',
  author: 'bench',
  message: 'bench',
  time: '2026-11-01T00:00:00Z',
  number: 1,
};
const options = {
  name: 'benchapp',
  maintainer: 'Bench <bench@example.com>',
  description: 'Benchmark package',
};

if (process.env.BENCH_ONLY === 'build') {
  try {
    const build = await benchBuild(work);
    console.log(JSON.stringify({ bench: 'deb', ...build.json }));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  process.exit(0);
}

if (process.env.BENCH_ONLY === 'suite') {
  try {
    const suite = await benchSuiteUpdate(work);
    console.log(JSON.stringify({ bench: 'deb', suite_update_ms: round(suite.median, 1) }));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  process.exit(0);
}

if (process.env.BENCH_ONLY === 'index') {
  try {
    console.log(`[bench] indexing: load ${load()}`);
    const indexing = await benchIndex(work);
    const addOne = await benchAddOne(work);
    console.log(`[bench] indexing done: load ${load()}`);
    console.log(
      JSON.stringify({
        bench: 'deb',
        reindex_ratio_vs_apt_ftparchive: round(indexing.reindexRatio),
        reindex_work_ratio_vs_apt_ftparchive: round(indexing.workRatio),
        node_floor_ratio_vs_apt_ftparchive: round(indexing.floorRatio),
        publish_ratio_vs_reprepro: round(indexing.publishRatio),
        add_one_to_5000_ms: round(addOne.median, 1),
      }),
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  process.exit(0);
}

if (process.env.BENCH_ONLY === 'add-one') {
  try {
    console.log(`[bench] add-one: load ${load()}`);
    const addOne = await benchAddOne(work);
    console.log(JSON.stringify({ bench: 'deb', add_one_to_5000_ms: round(addOne.median, 1) }));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  process.exit(0);
}

if (process.env.BENCH_ONLY === 'relations') {
  const relations = await benchRelationCheck();
  console.log(JSON.stringify({ bench: 'deb', relation_check_ms: round(relations.median) }));
  await rm(work, { recursive: true, force: true });
  process.exit(0);
}

try {
  // ---- 1. build ------------------------------------------------------------------------------------
  const build = await benchBuild(work);

  // ---- 2. re-index and publish 500 packages, as whole processes ------------------------------------
  console.log(`[bench] indexing: load ${load()}`);
  const indexing = await benchIndex(work);

  // ---- 3. add one package to a 5,000-package signed repository ------------------------------------
  const addOne = await benchAddOne(work);
  console.log(`[bench] indexing done: load ${load()}`);

  // ---- 5. admit one release to a ring's suite of 5,000 packages ------------------------------------
  const suite = await benchSuiteUpdate(work);

  // ---- 6. check one release's relations against a set of 5,000 packages ---------------------------
  const relations = await benchRelationCheck();

  console.log(
    JSON.stringify({
      bench: 'deb',
      ...build.json,
      reindex_ratio_vs_apt_ftparchive: round(indexing.reindexRatio),
      reindex_work_ratio_vs_apt_ftparchive: round(indexing.workRatio),
      node_floor_ratio_vs_apt_ftparchive: round(indexing.floorRatio),
      publish_ratio_vs_reprepro: round(indexing.publishRatio),
      add_one_to_5000_ms: round(addOne.median, 1),
      suite_update_ms: round(suite.median, 1),
      relation_check_ms: round(relations.median),
    }),
  );
} finally {
  await rm(work, { recursive: true, force: true });
}
