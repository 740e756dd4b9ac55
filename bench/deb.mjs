#!/usr/bin/env node
// Benchmark of @ringmaster/pkg-deb (the BUILT package in packages/pkg-deb/dist) against the Debian
// tools, side by side in one run:
//   1. build a 2,000-file / 40 MB tree with deb() and with `dpkg-deb --build -Zgzip -z9` (the same
//      compressor and level: gzip 9 is dpkg-deb's gzip default); -Zxz for reference with BENCH_XZ=1;
//   2. index 500 packages with aptRepository().publishMany() vs dpkg-scanpackages and apt-ftparchive;
//   3. add one package to a 500-package signed repository (incremental);
//   4. peak RSS of the process building the tree;
//   5. admit one release to a ring's suite of 5,000 packages, signed (suite_update_ms; run only
//      this part with BENCH_ONLY=suite);
//   6. check one release's relations against a set of 5,000 packages, in memory (relation_check_ms;
//      run only this part with BENCH_ONLY=relations).
// Ends with one JSON line. Ratios are our time over the peer's (below 1.0 means we are faster).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { median, spread } from './stats.mjs';

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

if (process.env.BENCH_ONLY === 'suite') {
  try {
    const suite = await benchSuiteUpdate(work);
    console.log(JSON.stringify({ bench: 'deb', suite_update_ms: round(suite.median, 1) }));
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
  const tree = join(work, 'tree');
  const bytes = await makeTree(tree);
  const dpkgTree = join(work, 'dpkgtree');
  execFileSync('cp', ['-al', tree, dpkgTree]);
  await mkdir(join(dpkgTree, 'DEBIAN'));
  await writeFile(
    join(dpkgTree, 'DEBIAN/control'),
    'Package: benchapp\nVersion: 0.0.1\nArchitecture: all\nMaintainer: Bench <bench@example.com>\nDescription: Benchmark package\n',
  );
  console.log(`[bench] tree: 2000 files, ${(bytes / 1e6).toFixed(1)} MB`);

  // Our build runs in its own process so its peak RSS is the build's alone; it times itself.
  const child = `
    const { deb } = await import(${JSON.stringify(distUrl.href)});
    const t = performance.now();
    const a = await deb(${JSON.stringify(options)}).package({ dir: process.argv[1], outDir: process.argv[2], revision: ${JSON.stringify(revision)} });
    const ms = performance.now() - t;
    console.log(JSON.stringify({ ms, size: a.size, maxRssMb: process.resourceUsage().maxRSS / 1024 }));
  `;
  const ours = [];
  const oursProcess = [];
  const dpkgGzip = [];
  const dpkgXz = [];
  let peakRss = 0;
  const sizes = {};
  for (let run = 0; run < 3; run++) {
    const out = join(work, `out-${run}`);
    await mkdir(out);
    const p = timeCommand([process.execPath, '--input-type=module', '-e', child, tree, out]);
    const r = JSON.parse(p.stdout.toString());
    ours.push(r.ms);
    oursProcess.push(p.ms);
    peakRss = Math.max(peakRss, r.maxRssMb);
    sizes.ours = r.size;
    const g = join(work, `dpkg-${run}.deb`);
    dpkgGzip.push(
      timeCommand(['dpkg-deb', '--root-owner-group', '-Zgzip', '-z9', '--build', dpkgTree, g]).ms,
    );
    sizes.dpkgGzip = statSync(g).size;
    // dpkg-deb -Zxz is only a reference (deb() has no xz) and takes minutes on a busy 2-core box: opt in.
    if (run === 0 && process.env.BENCH_XZ === '1') {
      const x = join(work, `dpkg-${run}.xz.deb`);
      dpkgXz.push(timeCommand(['dpkg-deb', '--root-owner-group', '-Zxz', '--build', dpkgTree, x]).ms);
      sizes.dpkgXz = statSync(x).size;
    }
    await rm(out, { recursive: true, force: true });
  }
  const buildRatio = median(ours) / median(dpkgGzip);
  console.log(
    `[bench] build gzip -9: deb() ${median(ours).toFixed(0)} ms in-process (${median(oursProcess).toFixed(0)} ms as a process), dpkg-deb ${median(dpkgGzip).toFixed(0)} ms → ratio ${buildRatio.toFixed(2)} (process ${(median(oursProcess) / median(dpkgGzip)).toFixed(2)})`,
  );
  const xzNote = dpkgXz.length
    ? `dpkg-deb -Zxz ${(sizes.dpkgXz / 1e6).toFixed(2)} MB in ${median(dpkgXz).toFixed(0)} ms`
    : 'dpkg-deb -Zxz not timed (BENCH_XZ=1 to time it)';
  console.log(
    `[bench] sizes: deb() ${(sizes.ours / 1e6).toFixed(2)} MB, dpkg-deb -Zgzip ${(sizes.dpkgGzip / 1e6).toFixed(2)} MB; ${xzNote}; deb() builds no xz (Node 20's zlib has none) → build_ratio_xz null`,
  );
  console.log(`[bench] peak RSS of the deb() build process: ${peakRss.toFixed(0)} MB`);

  // ---- 2. index 500 packages ---------------------------------------------------------------------
  const debs = join(work, 'debs');
  await mkdir(debs);
  const small = join(work, 'small');
  const artifacts = [];
  for (let i = 0; i < 500; i++) {
    const dir = join(small, String(i));
    await mkdir(join(dir, 'usr/share/pkg'), { recursive: true });
    await writeFile(join(dir, 'usr/share/pkg/README'), `package ${i}\n`.repeat(50));
    await writeFile(join(dir, 'usr/share/pkg/data'), Buffer.alloc(4096 + i, i % 256));
    artifacts.push(
      await deb({ ...options, name: `pkg${i}`, depends: ['libc6 (>= 2.36)'] }).package({
        dir,
        outDir: debs,
        revision,
      }),
    );
  }
  // Median of three full indexes, each into a fresh repository.
  const repoDir = join(work, 'repo');
  const indexRuns = [];
  let t;
  for (let run = 0; run < 3; run++) {
    const dir = run === 0 ? repoDir : join(work, `repo-run${run}`);
    t = performance.now();
    await aptRepository({ dir }).publishMany(artifacts);
    indexRuns.push(performance.now() - t);
  }
  const indexOurs = median(indexRuns);
  const indexScript = `
    const { aptRepository } = await import(${JSON.stringify(distUrl.href)});
    const { readdir } = await import('node:fs/promises');
    const dir = process.argv[1];
    const files = (await readdir(dir)).filter((f) => f.endsWith('.deb'));
    const artifacts = files.map((f) => { const [name, version] = f.split('_'); return { name, version, architecture: 'all', dependencies: [], file: dir + '/' + f, sha256: '', size: 0, format: 'deb' }; });
    await aptRepository({ dir: process.argv[2] }).publishMany(artifacts);
  `;
  const indexOursProcess = timeCommand([
    process.execPath,
    '--input-type=module',
    '-e',
    indexScript,
    debs,
    join(work, 'repo2'),
  ]).ms;
  const scan = [];
  const ftp = [];
  for (let run = 0; run < 3; run++) {
    scan.push(timeCommand(['dpkg-scanpackages', '--multiversion', 'debs', '/dev/null'], { cwd: work }).ms);
    ftp.push(timeCommand(['apt-ftparchive', 'packages', 'debs'], { cwd: work }).ms);
  }
  const ratioScan = indexOurs / median(scan);
  const ratioFtp = indexOurs / median(ftp);
  console.log(
    `[bench] index 500: aptRepository ${indexOurs.toFixed(0)} ms in-process (${indexOursProcess.toFixed(0)} ms as a process, pool copies and signing-free indexes included), dpkg-scanpackages ${median(scan).toFixed(0)} ms, apt-ftparchive ${median(ftp).toFixed(0)} ms`,
  );
  console.log(
    `[bench] index ratios: vs dpkg-scanpackages ${ratioScan.toFixed(3)} (process ${(indexOursProcess / median(scan)).toFixed(3)}), vs apt-ftparchive ${ratioFtp.toFixed(2)} (process ${(indexOursProcess / median(ftp)).toFixed(2)})`,
  );

  // ---- 3. add one package to a 500-package repository -------------------------------------------
  const gpgHome = join(work, 'gpg');
  await mkdir(gpgHome, { mode: 0o700 });
  makeSigningKey(gpgHome);
  const signed = aptRepository({ dir: join(work, 'signed'), signingKey: { homedir: gpgHome } });
  await signed.publishMany(artifacts);
  const unsigned = aptRepository({ dir: repoDir });
  const addSigned = [];
  const addUnsigned = [];
  for (let i = 0; i < 5; i++) {
    const dir = join(small, String(i));
    const extra = await deb({ ...options, name: `extra${i}` }).package({
      dir,
      outDir: join(work, 'extra'),
      revision,
    });
    t = performance.now();
    await signed.publish(extra);
    addSigned.push(performance.now() - t);
    t = performance.now();
    await unsigned.publish(extra);
    addUnsigned.push(performance.now() - t);
  }
  await signed.close();
  execFileSync('gpgconf', ['--homedir', gpgHome, '--kill', 'gpg-agent']);
  const entries = (await readdir(join(work, 'signed/.ringmaster/packages'))).length;
  console.log(
    `[bench] add one to ${entries - 1}: ${median(addSigned).toFixed(1)} ms signed (InRelease + Release.gpg by gpg), ${median(addUnsigned).toFixed(1)} ms unsigned`,
  );

  // ---- 5. admit one release to a ring's suite of 5,000 packages ------------------------------------
  const suite = await benchSuiteUpdate(work);

  // ---- 6. check one release's relations against a set of 5,000 packages ---------------------------
  const relations = await benchRelationCheck();

  console.log(
    JSON.stringify({
      bench: 'deb',
      build_ratio_gzip: round(buildRatio),
      build_ratio_xz: null,
      peak_rss_mb: round(peakRss, 1),
      index_ratio_vs_dpkg_scanpackages: round(ratioScan),
      index_ratio_vs_apt_ftparchive: round(ratioFtp),
      add_one_ms: round(median(addSigned), 1),
      suite_update_ms: round(suite.median, 1),
      relation_check_ms: round(relations.median),
    }),
  );
} finally {
  await rm(work, { recursive: true, force: true });
}
