/**
 * A suite per ring: the real apt-get, reading only `dists/prod` (signed-by), installs exactly
 * what was admitted to prod; retention keeps what a ring suite lists; refusals change nothing.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Artifact } from '@ringmaster/core/adapter';
import { ConfigError, isRingmasterError } from '@ringmaster/core/adapter';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AptRepository, aptRepository, deb, type RepositoryServer } from '../src/index.js';
import { SegmentedGzip, segmentsOf } from '../src/repository/segmented-gzip.js';
import {
  aptTool,
  cleanup,
  makeKey,
  ok,
  rejection,
  revision,
  sha256,
  type TestKey,
  tempDir,
  writeTree,
} from './helpers.js';

async function build(
  name: string,
  version: string,
  options: { depends?: string[]; variant?: string } = {},
): Promise<Artifact> {
  const tree = await writeTree(await tempDir('tree'), {
    [`usr/share/${name}/VERSION`]: `${version}${options.variant ?? ''}\n`,
  });
  return deb({
    name,
    version: () => version,
    maintainer: 'Ops <ops@example.com>',
    description: `The ${name} package`,
    ...(options.depends ? { depends: options.depends } : {}),
  }).package({ dir: tree, revision: revision(1), outDir: await tempDir('out') });
}

/** Hashes of every file a client reads in `dists/<suite>`, and the suite's listing file. */
async function suiteSnapshot(dir: string, suite: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const rel of [
    `dists/${suite}/Release`,
    `dists/${suite}/InRelease`,
    `dists/${suite}/Release.gpg`,
    `dists/${suite}/main/binary-amd64/Packages`,
    `dists/${suite}/main/binary-amd64/Packages.gz`,
    `.ringmaster/suites/${suite}.json`,
  ]) {
    if (existsSync(join(dir, rel))) out[rel] = sha256(await readFile(join(dir, rel)));
  }
  return out;
}

/** `Package version` of each stanza of a suite's Packages file. */
async function listed(dir: string, suite: string): Promise<string[]> {
  const text = await readFile(join(dir, `dists/${suite}/main/binary-amd64/Packages`), 'utf8');
  return text
    .split('\n\n')
    .filter((s) => s.trim())
    .map((s) => `${/^Package: (.*)$/m.exec(s)![1]} ${/^Version: (.*)$/m.exec(s)![1]}`);
}

let key: TestKey;
let repo: AptRepository;
let server: RepositoryServer;
const a: Record<string, Artifact> = {};

beforeAll(async () => {
  key = await makeKey();
  repo = aptRepository({
    dir: await tempDir('repo'),
    signingKey: { keyFile: key.secretKeyFile, passphrase: key.passphrase },
  });
  a.bar19 = await build('bar', '1.9');
  a.bar20 = await build('bar', '2.0');
  a.foo11 = await build('foo', '1.1', { depends: ['bar (>= 1.5)'] });
  await repo.publishMany([a.bar19, a.bar20, a.foo11]);
  server = await repo.serve({ port: 0 });
});

afterAll(async () => {
  await repo?.close();
  await key?.close();
  await cleanup();
});

/** apt-get (or apt-cache) in a host-like apt root whose one source is `suite` of the served repository. */
const apt = (root: string, suite: string, args: string[], tool = 'apt-get') =>
  aptTool(root, `deb [signed-by=${key.publicKeyFile}] ${server.url} ${suite} main`, args, { tool });

async function freshRoot(suite: string): Promise<string> {
  const root = await tempDir('apt');
  const update = await apt(root, suite, ['update']);
  expect(update.exitCode, update.stderr + update.stdout).toBe(0);
  expect(update.stderr).not.toMatch(/^[WE]:/m);
  return root;
}

describe('admit() and the real apt-get', () => {
  it('prod lists exactly what was admitted: apt installs foo=1.1 with the promoted bar, not bar 2.0', async () => {
    await repo.admit('eng', [a.bar19!, a.bar20!, a.foo11!]);
    const first = await repo.admit('prod', [a.bar19!]);
    expect(first.packages).toEqual({ bar: ['1.9'] });
    const listing = await repo.admit('prod', [a.foo11!]);
    expect(listing).toMatchObject({ ring: 'prod', suite: 'prod', packages: { bar: ['1.9'], foo: ['1.1'] } });
    expect(await repo.suite('prod')).toEqual(listing);
    expect(await listed(repo.dir, 'prod')).toEqual(['bar 1.9', 'foo 1.1']);
    // The main suite still lists every published version.
    expect(await listed(repo.dir, 'stable')).toEqual(['bar 1.9', 'bar 2.0', 'foo 1.1']);

    const prod = await freshRoot('prod');
    const install = await apt(prod, 'prod', ['install', '-s', '-y', 'foo=1.1']);
    expect(install.exitCode, install.stderr).toBe(0);
    const inst = install.stdout.split('\n').filter((l) => l.startsWith('Inst '));
    expect(inst).toHaveLength(2);
    expect(install.stdout).toMatch(/^Inst bar \(1\.9 /m);
    expect(install.stdout).toMatch(/^Inst foo \(1\.1 /m);
    const policy = await apt(prod, 'prod', ['policy', 'bar'], 'apt-cache');
    expect(policy.stdout).toMatch(/Candidate: 1\.9\n/);
    expect(policy.stdout).not.toContain('2.0');

    const missing = await apt(prod, 'prod', ['install', '-s', '-y', 'bar=2.0']);
    expect(missing.exitCode).not.toBe(0);
    expect(missing.stderr).toContain("Version '2.0' for 'bar' was not found");

    // ENG's suite still has bar 2.0, and resolves foo against it.
    const eng = await freshRoot('eng');
    const engInstall = await apt(eng, 'eng', ['install', '-s', '-y', 'foo=1.1', 'bar=2.0']);
    expect(engInstall.exitCode, engInstall.stderr).toBe(0);
    expect(engInstall.stdout).toMatch(/^Inst bar \(2\.0 /m);
  });

  it('a rollback admits an older version: the versions above it leave the suite, apt’s candidate is the older one', async () => {
    await repo.admit('canary', [a.bar19!]);
    const up = await repo.admit('canary', [a.bar20!]);
    expect(up.packages).toEqual({ bar: ['1.9', '2.0'] });
    const root = await freshRoot('canary');
    expect((await apt(root, 'canary', ['policy', 'bar'], 'apt-cache')).stdout).toMatch(/Candidate: 2\.0\n/);

    const down = await repo.admit('canary', [a.bar19!]);
    expect(down.packages).toEqual({ bar: ['1.9'] });
    const update = await apt(root, 'canary', ['update']);
    expect(update.exitCode, update.stderr).toBe(0);
    expect((await apt(root, 'canary', ['policy', 'bar'], 'apt-cache')).stdout).toMatch(/Candidate: 1\.9\n/);
    const gone = await apt(root, 'canary', ['install', '-s', '-y', 'bar=2.0']);
    expect(gone.stderr).toContain("Version '2.0' for 'bar' was not found");
  });

  it('signs the suite: gpgv verifies InRelease and Release.gpg; the listing’s index sums match; by-hash files exist', async () => {
    const listing = await repo.suite('prod');
    const dists = join(repo.dir, 'dists/prod');
    await ok(['gpgv', '--keyring', key.publicKeyFile, join(dists, 'InRelease')]);
    await ok(['gpgv', '--keyring', key.publicKeyFile, join(dists, 'Release.gpg'), join(dists, 'Release')]);
    const release = await readFile(join(dists, 'Release'), 'utf8');
    expect(release).toContain('Suite: prod\nCodename: prod\n');
    expect(release).toContain('Acquire-By-Hash: yes');
    expect(Object.keys(listing.indexes)).toEqual(['main/binary-amd64/Packages']);
    for (const [path, hash] of Object.entries(listing.indexes)) {
      expect(sha256(await readFile(join(dists, path)))).toBe(hash);
      expect(release).toContain(` ${hash} `);
      const byHash = join(dists, path, '../by-hash/SHA256');
      expect(await readFile(join(byHash, hash))).toEqual(await readFile(join(dists, path)));
      const gz = sha256(await readFile(join(dists, `${path}.gz`)));
      expect(existsSync(join(byHash, gz))).toBe(true);
    }
  });

  it('is idempotent: admitting what the suite lists rewrites nothing', async () => {
    const before = await suiteSnapshot(repo.dir, 'prod');
    const listing = await repo.admit('prod', [a.bar19!, a.foo11!]);
    expect(listing).toEqual(await repo.suite('prod'));
    expect(await suiteSnapshot(repo.dir, 'prod')).toEqual(before);
  });

  it('refuses an unpublished artifact or one with other bytes, and then nothing changes', async () => {
    const before = await suiteSnapshot(repo.dir, 'prod');
    const listing = await repo.suite('prod');
    const unpublished = await build('bar', '2.1');
    const otherBytes = await build('bar', '2.0', { variant: 'rebuilt' });
    for (const [batch, says] of [
      [[unpublished], 'bar 2.1 (all) is not published'],
      [[a.foo11!, unpublished], 'bar 2.1 (all) is not published'],
      [[otherBytes], 'bar 2.0 (all) is published with other bytes'],
      [[a.bar20!, { ...a.bar20!, architecture: 'arm64' }], 'bar 2.0 (arm64) is not published'],
      [[{ ...a.bar20!, name: '../../etc' }], 'is not published'],
    ] as const) {
      const error = await rejection(repo.admit('prod', batch));
      expect(isRingmasterError(error, 'REPOSITORY'), String(error)).toBe(true);
      expect(error.message).toContain(says);
      expect(error.message).toContain('no suite changed');
    }
    expect(await suiteSnapshot(repo.dir, 'prod')).toEqual(before);
    expect(await repo.suite('prod')).toEqual(listing);
  });

  it('reindex() rewrites the ring suites too, signed, with the same listing', async () => {
    const releaseBefore = await readFile(join(repo.dir, 'dists/prod/InRelease'), 'utf8');
    const packagesBefore = await readFile(join(repo.dir, 'dists/prod/main/binary-amd64/Packages'));
    await new Promise((resolve) => setTimeout(resolve, 1100)); // Release's Date has seconds
    await repo.reindex();
    const releaseAfter = await readFile(join(repo.dir, 'dists/prod/InRelease'), 'utf8');
    expect(releaseAfter).not.toBe(releaseBefore);
    expect(await readFile(join(repo.dir, 'dists/prod/main/binary-amd64/Packages'))).toEqual(packagesBefore);
    await ok(['gpgv', '--keyring', key.publicKeyFile, join(repo.dir, 'dists/prod/InRelease')]);
    expect((await repo.suite('prod')).packages).toEqual({ bar: ['1.9'], foo: ['1.1'] });
    expect((await repo.suite('canary')).packages).toEqual({ bar: ['1.9'] });
  });

  it('apt reads a Packages.gz of many segments (the uncompressed Packages removed, so only it can serve)', async () => {
    const many: Artifact[] = [];
    for (let i = 0; i < 200; i++) many.push(await build(`many${i}`, '1.0'));
    await repo.publishMany(many);
    await repo.admit('many', many);
    const dists = join(repo.dir, 'dists/many/main/binary-amd64');
    const packages = await readFile(join(dists, 'Packages'));
    expect(segmentsOf(packages).length).toBeGreaterThan(1);
    await rm(join(dists, 'by-hash/SHA256', sha256(packages)));
    await rm(join(dists, 'Packages'));
    const root = await freshRoot('many');
    const policy = await apt(root, 'many', ['policy', 'many0', 'many199'], 'apt-cache');
    expect(policy.stdout).toMatch(/many0:\n {2}Installed: \(none\)\n {2}Candidate: 1\.0\n/);
    expect(policy.stdout).toMatch(/many199:\n {2}Installed: \(none\)\n {2}Candidate: 1\.0\n/);
  });

  it('reads a ring never admitted to as an empty suite', async () => {
    expect(await repo.suite('never')).toEqual({ ring: 'never', suite: 'never', packages: {}, indexes: {} });
    expect(existsSync(join(repo.dir, 'dists/never'))).toBe(false);
  });
});

describe('suiteKeep, retention and the suites option', () => {
  it('keeps the suiteKeep newest versions at or below the admitted one', async () => {
    const r = aptRepository({ dir: await tempDir('repo'), suiteKeep: 2 });
    const v = await Promise.all(['1.0', '1.1', '1.2', '1.3'].map((x) => build('baz', x)));
    await r.publishMany(v);
    for (const artifact of v.slice(0, 3)) await r.admit('prod', [artifact]);
    expect((await r.suite('prod')).packages).toEqual({ baz: ['1.1', '1.2'] });
    expect(await listed(r.dir, 'prod')).toEqual(['baz 1.1', 'baz 1.2']);
    // A rollback keeps what the suite had below, never brings back what left it.
    expect((await r.admit('prod', [v[1]!])).packages).toEqual({ baz: ['1.1'] });
    expect((await r.admit('prod', [v[3]!])).packages).toEqual({ baz: ['1.1', '1.3'] });
    // The default keeps three.
    const d = aptRepository({ dir: await tempDir('repo') });
    await d.publishMany(v);
    for (const artifact of v) await d.admit('prod', [artifact]);
    expect((await d.suite('prod')).packages).toEqual({ baz: ['1.1', '1.2', '1.3'] });
  });

  it('lists a ring suite in name and Debian version order, whatever order the versions were published in', async () => {
    const r = aptRepository({ dir: await tempDir('repo') });
    const v: Record<string, Artifact> = {};
    for (const [name, version] of [
      ['zed', '2.0'],
      ['alpha', '1.0'],
      ['zed', '1.10'],
      ['zed', '1.9'],
      ['mid', '1:0.1'],
      ['mid', '3.0'],
    ] as const) {
      v[`${name} ${version}`] = await build(name, version);
      await r.publish(v[`${name} ${version}`]!); // one at a time: the catalogue's order is kept, not re-sorted
    }
    const expected = ['alpha 1.0', 'mid 3.0', 'mid 1:0.1', 'zed 1.9', 'zed 1.10', 'zed 2.0'];
    // The main suite lists them all (the latest publish's own records come last, as they always have).
    expect((await listed(r.dir, 'stable')).sort()).toEqual([...expected].sort());
    await r.admit(
      'prod',
      expected.map((k) => v[k]!),
    );
    expect(await listed(r.dir, 'prod')).toEqual(expected);
  });

  it('retention never removes a version a ring suite lists, and apt still downloads it from the suite', async () => {
    const dir = await tempDir('repo');
    const r = aptRepository({
      dir,
      keep: 1,
      suiteKeep: 1,
      signingKey: { homedir: key.homedir, keyId: key.keyId, passphrase: key.passphrase },
    });
    try {
      const v = await Promise.all(['1.0', '1.1', '1.2', '1.3'].map((x) => build('qux', x)));
      await r.publish(v[0]!);
      await r.admit('prod', [v[0]!]);
      await r.publish(v[1]!);
      await r.publish(v[2]!);
      expect(await r.versions('qux')).toEqual(['1.0', '1.2']);
      expect(existsSync(join(dir, 'pool/main/q/qux/qux_1.0_all.deb'))).toBe(true);
      const served = await r.serve({ port: 0 });
      const root = await tempDir('apt');
      const source = `deb [signed-by=${key.publicKeyFile}] ${served.url} prod main`;
      expect((await aptTool(root, source, ['update'])).exitCode).toBe(0);
      const downloads = await tempDir('dl');
      const got = await aptTool(root, source, ['download', 'qux=1.0'], { cwd: downloads });
      expect(got.exitCode, got.stderr).toBe(0);
      const [file] = await readdir(downloads);
      expect(sha256(await readFile(join(downloads, file!)))).toBe(v[0]!.sha256);
      // Once prod moved on, 1.0 is an ordinary old version again.
      await r.admit('prod', [v[2]!]);
      await r.publish(v[3]!);
      expect(await r.versions('qux')).toEqual(['1.2', '1.3']);
      expect(existsSync(join(dir, 'pool/main/q/qux/qux_1.0_all.deb'))).toBe(false);
    } finally {
      await r.close();
    }
  });

  it('a rewrite cut short leaves the old suite, keeps the in-flight versions from retention, and the next admit finishes cleanly', async () => {
    const dir = await tempDir('repo');
    const r = aptRepository({ dir, keep: 1 });
    const v = await Promise.all(['1.0', '1.1', '1.2'].map((x) => build('zap', x)));
    await r.publish(v[0]!);
    await r.admit('prod', [v[0]!]);
    await r.publish(v[1]!);
    const before = await suiteSnapshot(dir, 'prod');
    // A file where the suite's by-hash directory goes: writing the indexes fails midway.
    const byHash = join(dir, 'dists/prod/main/binary-amd64/by-hash');
    await rm(byHash, { recursive: true });
    await writeFile(byHash, 'in the way\n');
    const error = await rejection(r.admit('prod', [v[1]!]));
    expect(isRingmasterError(error, 'REPOSITORY'), String(error)).toBe(true);
    expect(error.message).toContain('suite prod');
    expect(await suiteSnapshot(dir, 'prod')).toEqual(before);
    expect((await r.suite('prod')).packages).toEqual({ zap: ['1.0'] });
    // 1.1 was about to be listed: a publish's retention keeps it (and 1.0) while that is unsettled.
    await r.publish(v[2]!);
    expect(await r.versions('zap')).toEqual(['1.0', '1.1', '1.2']);
    await rm(byHash);
    await mkdir(byHash);
    expect((await r.admit('prod', [v[2]!])).packages).toEqual({ zap: ['1.0', '1.2'] });
    expect(await readdir(join(dir, '.ringmaster/suites'))).toEqual(['prod.json']);
  });

  it('maps rings to suites with the suites option, and refuses a ring without a usable suite', async () => {
    const dir = await tempDir('repo');
    const r = aptRepository({ dir, suites: { production: 'prod', 'ring with spaces': 'spaced' } });
    const v = await build('map', '1.0');
    await r.publish(v);
    const listing = await r.admit('production', [v]);
    expect(listing).toMatchObject({ ring: 'production', suite: 'prod', packages: { map: ['1.0'] } });
    expect(await listed(dir, 'prod')).toEqual(['map 1.0']);
    expect((await r.admit('ring with spaces', [v])).suite).toBe('spaced');
    for (const [ring, says] of [
      ['../etc', 'is not a safe suite name'],
      ['a b', 'is not a safe suite name'],
      ['', 'is not a safe suite name'],
      ['__proto__', 'is not a safe suite name'],
      ['stable', 'the main suite'],
      ['prod', 'the suite of ring "production"'],
    ]) {
      for (const call of [r.admit(ring!, [v]), r.suite(ring!)]) {
        const error = await rejection(call);
        expect(isRingmasterError(error, 'REPOSITORY'), String(error)).toBe(true);
        expect(error.message).toContain(JSON.stringify(ring));
        expect(error.message).toContain(says);
      }
    }
    expect((await readdir(join(dir, 'dists'))).sort()).toEqual(['prod', 'spaced', 'stable']);
  });

  it.each([
    [{ suites: { prod: 'a/b' } }, 'suites.prod', 'plain name'],
    [{ suites: { prod: '../prod' } }, 'suites.prod', 'plain name'],
    [{ suites: { prod: '' } }, 'suites.prod', 'plain name'],
    [{ suites: { prod: 'stable' } }, 'suites.prod', 'main suite'],
    [{ suite: 'main2', suites: { prod: 'main2' } }, 'suites.prod', 'main suite'],
    [{ codename: 'trixie', suites: { prod: 'trixie' } }, 'suites.prod', 'main suite'],
    [{ suites: { eng: 'x', prod: 'x' } }, 'suites.prod', 'already the suite of ring "eng"'],
    [{ suites: { prod: 7 } }, 'suites.prod', ''],
    [{ suiteKeep: 0 }, 'suiteKeep', ''],
    [{ suiteKeep: 1.5 }, 'suiteKeep', ''],
  ])('refuses %j with a ConfigError naming %s', (patch, path, rule) => {
    let error: unknown;
    try {
      aptRepository({ dir: '/tmp/x', ...(patch as object) });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).path).toBe(path);
    expect((error as ConfigError).message).toContain('[pkg-deb]');
    expect((error as ConfigError).message).toContain(rule);
  });
});

describe("a ring suite's Packages.gz", () => {
  /** A Packages-like text of `n` paragraphs, the ones in `bumped` at a second version. */
  const packagesText = (n: number, bumped: Set<number> = new Set()) =>
    Buffer.from(
      `${Array.from(
        { length: n },
        (_, i) =>
          `Package: pkg${i}\nVersion: 1.${bumped.has(i) ? 1 : 0}\nArchitecture: all\nMaintainer: Ops <ops@example.com>\nDepends: libc6 (>= 2.36)\nFilename: pool/main/p/pkg${i}/pkg${i}_1.0_all.deb\nSize: ${1000 + i}\nSHA256: ${sha256(Buffer.from(String(i)))}\nDescription: The pkg${i} package`,
      ).join('\n\n')}\n`,
    );

  it('is one gzip member of many segments that gzip -d reads, and recompressing after a change equals a fresh compression', async () => {
    const text = packagesText(3000);
    const segments = segmentsOf(text);
    expect(segments.length).toBeGreaterThan(20);
    expect(Buffer.concat(segments).equals(text)).toBe(true);
    // Every cut is between paragraphs.
    for (const segment of segments.slice(1)) expect(segment.subarray(0, 9).toString()).toBe('Package: ');

    const reused = new SegmentedGzip(9);
    const first = await reused.gzip(text);
    expect(gunzipSync(first).equals(text)).toBe(true);
    const dir = await tempDir('gz');
    await writeFile(join(dir, 'Packages.gz'), first);
    const gzip = await ok(['sh', '-c', 'gzip -t Packages.gz && gzip -dc Packages.gz | sha256sum'], {
      cwd: dir,
    });
    expect(gzip.split(' ')[0]).toBe(sha256(text));
    // Within 1% of a one-piece gzip -9.
    const { gzipSync } = await import('node:zlib');
    expect(first.length).toBeLessThan(gzipSync(text, { level: 9 }).length * 1.01);

    const changed = packagesText(3000, new Set([1234]));
    const again = await reused.gzip(changed);
    expect(again.equals(await new SegmentedGzip(9).gzip(changed))).toBe(true);
    expect(gunzipSync(again).equals(changed)).toBe(true);
    expect(gunzipSync(await reused.gzip(Buffer.alloc(0))).length).toBe(0);
  });
});
