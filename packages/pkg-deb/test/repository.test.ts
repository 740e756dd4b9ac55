/** aptRepository(): layout, signed indexes, refusal of bad packages, lock, retention, HTTP. */
import { mkdir, open, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Artifact } from '@ringmaster/core/adapter';
import { isRingmasterError, runCommand } from '@ringmaster/core/adapter';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aptRepository, deb } from '../src/index.js';
import { mapLimit } from '../src/repository/concurrency.js';
import { fileKey, ok, rejection, revision, sha256, tempDir, writeTree } from './helpers.js';

const key = fileKey();

async function build(name: string, version: string, extra: Record<string, string> = {}): Promise<Artifact> {
  const tree = await writeTree(await tempDir('tree'), {
    [`usr/share/${name}/VERSION`]: `${version}\n`,
    ...extra,
  });
  return deb({
    name,
    version: () => version,
    maintainer: 'Ops <ops@example.com>',
    description: `The ${name} package`,
    depends: ['libc6 (>= 2.36)'],
  }).package({ dir: tree, revision: revision(1), outDir: await tempDir('out') });
}

/** A snapshot of every index file, to prove a refused publish changed nothing. */
async function indexSnapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const rel of [
    'dists/stable/Release',
    'dists/stable/InRelease',
    'dists/stable/Release.gpg',
    'dists/stable/main/binary-amd64/Packages',
    'dists/stable/main/binary-amd64/Packages.gz',
  ]) {
    out[rel] = sha256(await readFile(join(dir, rel)));
  }
  return out;
}

describe('aptRepository() artifacts', () => {
  it('publish and find give back the package with its relations, as its control file has them', async () => {
    const tree = await writeTree(await tempDir('tree'), { 'usr/share/rel/VERSION': '1\n' });
    const built = await deb({
      name: 'rel',
      version: () => '1.1',
      maintainer: 'Ops <ops@example.com>',
      description: 'Relations\nA package with every relation field.',
      preDepends: ['dpkg (>= 1.15)'],
      depends: ['bar (>= 2.0) | baz', 'libc6 (>= 2.36)'],
      breaks: ['old-bar (<< 1.0)'],
      conflicts: ['rival'],
      provides: ['rel-api (= 1)'],
    }).package({ dir: tree, revision: revision(1), outDir: await tempDir('out') });
    const repo = aptRepository({ dir: await tempDir('repo') });
    const relations = {
      preDepends: ['dpkg (>= 1.15)'],
      depends: ['bar (>= 2.0) | baz', 'libc6 (>= 2.36)'],
      breaks: ['old-bar (<< 1.0)'],
      conflicts: ['rival'],
      provides: ['rel-api (= 1)'],
    };
    expect(built.relations).toEqual(relations);
    expect((await repo.publish(built)).relations).toEqual(relations);
    // A new handle reads it from the catalogue alone.
    const again = aptRepository({ dir: repo.dir });
    expect((await again.find('rel', '1.1'))?.relations).toEqual(relations);
    await repo.close();
    await again.close();
  });
});

describe('aptRepository() layout and indexes', () => {
  it('writes pool/, Packages(.gz), by-hash and a Release whose sums match, signed InRelease and Release.gpg', async () => {
    const dir = await tempDir('repo');
    const repo = aptRepository({
      dir,
      signingKey: { homedir: key.homedir, keyId: key.keyId, passphrase: key.passphrase },
    });
    try {
      const a = await build('foostat', '1.0-1');
      const lib = await build('libfoo1', '2:0.5');
      const storedA = await repo.publish(a);
      await repo.publish(lib);
      expect(storedA.file).toBe(join(dir, 'pool/main/f/foostat/foostat_1.0-1_all.deb'));
      expect(sha256(await readFile(storedA.file))).toBe(a.sha256);
      expect((await stat(join(dir, 'pool/main/libf/libfoo1/libfoo1_0.5_all.deb'))).size).toBe(lib.size);

      const packages = await readFile(join(dir, 'dists/stable/main/binary-amd64/Packages'));
      const text = packages.toString();
      expect(text).toContain('Package: foostat\nVersion: 1.0-1\n');
      expect(text).toContain(
        `Filename: pool/main/f/foostat/foostat_1.0-1_all.deb\nSize: ${a.size}\nSHA256: ${a.sha256}`,
      );
      expect(text).toContain('Depends: libc6 (>= 2.36)');
      expect(text).toContain('Version: 2:0.5');
      const gz = await readFile(join(dir, 'dists/stable/main/binary-amd64/Packages.gz'));
      expect(gunzipSync(gz).equals(packages)).toBe(true);
      expect(await readFile(join(dir, 'dists/stable/main/binary-amd64/by-hash/SHA256', sha256(gz)))).toEqual(
        gz,
      );

      const release = await readFile(join(dir, 'dists/stable/Release'), 'utf8');
      expect(release).toMatch(/^Suite: stable$/m);
      expect(release).toMatch(/^Architectures: amd64$/m);
      expect(release).toMatch(/^Acquire-By-Hash: yes$/m);
      expect(release).toContain(` ${sha256(packages)} ${packages.length} main/binary-amd64/Packages\n`);
      expect(release).toContain(
        ` ${sha256(gz)} ${String(gz.length).padStart(String(packages.length).length)} main/binary-amd64/Packages.gz\n`,
      );

      // The real gpgv verifies both signatures with the public key alone.
      await ok(['gpgv', '--keyring', key.publicKeyFile, join(dir, 'dists/stable/InRelease')]);
      await ok([
        'gpgv',
        '--keyring',
        key.publicKeyFile,
        join(dir, 'dists/stable/Release.gpg'),
        join(dir, 'dists/stable/Release'),
      ]);
      const inRelease = await readFile(join(dir, 'dists/stable/InRelease'), 'utf8');
      expect(inRelease).toContain('-----BEGIN PGP SIGNED MESSAGE-----');
      expect(inRelease).toContain(release.split('\n')[0]);
    } finally {
      await repo.close();
    }
  });

  it('accepts packages built by dpkg-deb (xz and zstd members) through its own ar/tar reader', async () => {
    const dir = await tempDir('repo');
    const repo = aptRepository({ dir });
    for (const [compressor, version] of [
      ['xz', '1.0'],
      ['zstd', '1.1'],
      ['gzip', '1.2'],
    ] as const) {
      const root = await writeTree(await tempDir('pkg'), {
        'DEBIAN/control': `Package: native\nVersion: ${version}\nArchitecture: amd64\nMaintainer: A <a@example.com>\nDescription: built by dpkg-deb\n`,
        'usr/share/native/file': 'x\n',
      });
      const file = join(await tempDir('out'), `native_${version}_amd64.deb`);
      await ok(['dpkg-deb', '--root-owner-group', `-Z${compressor}`, '--build', root, file]);
      const bytes = await readFile(file);
      const artifact: Artifact = {
        name: 'native',
        version,
        architecture: 'amd64',
        dependencies: [],
        file,
        sha256: sha256(bytes),
        size: bytes.length,
        format: 'deb',
      };
      expect((await repo.publish(artifact)).sha256).toBe(sha256(bytes));
    }
    expect(await repo.versions('native')).toEqual(['1.0', '1.1', '1.2']);
    const packages = await readFile(join(dir, 'dists/stable/main/binary-amd64/Packages'), 'utf8');
    expect(packages).toContain('Description: built by dpkg-deb');
  });

  it('streams packages larger than 16 MiB (checked, copied and verified without holding them)', async () => {
    const dir = await tempDir('repo');
    const repo = aptRepository({ dir });
    const tree = await writeTree(await tempDir('tree'), { 'usr/share/big/blob': Buffer.alloc(17 << 20, 7) });
    const artifact = await deb({
      name: 'big',
      version: '1.{number}',
      maintainer: 'Ops <ops@example.com>',
      description: 'A big package',
      compression: 'none',
    }).package({ dir: tree, revision: revision(0), outDir: await tempDir('out') });
    expect(artifact.size).toBeGreaterThan(17 << 20);
    const stored = await repo.publish(artifact);
    expect(sha256(await readFile(stored.file))).toBe(artifact.sha256);
    expect(await readFile(join(dir, 'dists/stable/main/binary-amd64/Packages'), 'utf8')).toContain(
      `SHA256: ${artifact.sha256}`,
    );
  });

  it('does not rehash the pool when a package is added (the stored stanza is reused)', async () => {
    const dir = await tempDir('repo');
    const repo = aptRepository({ dir });
    const first = await repo.publish(await build('app', '1.0'));
    // Rewrite the stored file in place (same size): only a full rescan would notice.
    const handle = await open(first.file, 'r+');
    await handle.write(Buffer.from('XX'), 0, 2, first.size - 2);
    await handle.close();
    await repo.publish(await build('app', '1.1'));
    const packages = await readFile(join(dir, 'dists/stable/main/binary-amd64/Packages'), 'utf8');
    expect(packages).toContain(`SHA256: ${first.sha256}`);
  });
});

describe('aptRepository() refuses bad packages and leaves the index unchanged', () => {
  let dir: string;
  let repo: ReturnType<typeof aptRepository>;
  let good: Artifact;
  beforeAll(async () => {
    dir = await tempDir('repo');
    repo = aptRepository({
      dir,
      signingKey: { homedir: key.homedir, keyId: key.keyId, passphrase: key.passphrase },
    });
    good = await build('app', '1.0', { 'usr/share/app/big': 'payload '.repeat(20_000) });
    await repo.publish(good);
  });
  afterAll(async () => {
    await repo.close();
  });

  async function refused(artifact: Artifact, match: RegExp): Promise<void> {
    const before = await indexSnapshot(dir);
    const pool = await readdir(join(dir, 'pool/main/a/app'));
    const error = await rejection(repo.publish(artifact));
    expect(isRingmasterError(error, 'REPOSITORY')).toBe(true);
    expect(error.message).toMatch(match);
    expect(await indexSnapshot(dir)).toEqual(before);
    expect(await readdir(join(dir, 'pool/main/a/app'))).toEqual(pool);
    expect(await repo.versions('app')).toEqual(['1.0']);
  }

  it('refuses a truncated .deb', async () => {
    const bytes = await readFile((await build('app', '2.0')).file);
    const file = join(await tempDir('bad'), 'app_2.0_all.deb');
    await writeFile(file, bytes.subarray(0, bytes.length - 100));
    await refused({ ...good, version: '2.0', file }, /truncated/);
  });

  it('refuses a .deb whose compressed data is corrupt', async () => {
    const artifact = await build('app', '2.1', { 'usr/share/app/big': 'payload '.repeat(20_000) });
    const bytes = Buffer.from(await readFile(artifact.file));
    for (let i = bytes.length - 300; i < bytes.length - 200; i++) bytes[i] = bytes[i]! ^ 0x5a;
    await writeFile(artifact.file, bytes);
    await refused({ ...artifact, version: '2.1' }, /not a valid \.deb/);
  });

  it('refuses a file that is not a .deb at all', async () => {
    const file = join(await tempDir('bad'), 'app.deb');
    await writeFile(file, '#!/bin/sh\nrm -rf /\n');
    await refused({ ...good, version: '2.2', file }, /bad magic/);
  });

  it('refuses a .deb whose control says another name or version', async () => {
    const other = await build('other', '1.0');
    await refused({ ...other, name: 'app', version: '3.0' }, /contains other 1.0, not app 3.0/);
  });

  it('refuses different bytes under a published version', async () => {
    const changed = await build('app', '1.0', { 'usr/share/app/extra': 'different' });
    await refused(changed, /already published with different bytes/);
  });

  it('publishes a batch all or nothing', async () => {
    const fine = await build('app', '5.0');
    const file = join(await tempDir('bad'), 'app.deb');
    await writeFile(file, 'not a package');
    const before = await indexSnapshot(dir);
    const error = await rejection(repo.publishMany([fine, { ...fine, version: '5.1', file }]));
    expect(isRingmasterError(error, 'REPOSITORY')).toBe(true);
    expect(await indexSnapshot(dir)).toEqual(before);
    expect(await repo.versions('app')).toEqual(['1.0']);
  });

  it('leaves the previous index intact when signing fails mid-publish', async () => {
    const broken = aptRepository({
      dir,
      signingKey: { homedir: key.homedir, keyId: 'nobody@nowhere.invalid', passphrase: key.passphrase },
    });
    const before = await indexSnapshot(dir);
    const error = await rejection(broken.publish(await build('app', '4.0')));
    expect(isRingmasterError(error, 'REPOSITORY')).toBe(true);
    expect(error.message).toContain('gpg could not sign');
    expect(await indexSnapshot(dir)).toEqual(before);
    expect(await repo.versions('app')).toEqual(['1.0']);
    expect(await readdir(join(dir, 'pool/main/a/app'))).toEqual(['app_1.0_all.deb']);
    await ok(['gpgv', '--keyring', key.publicKeyFile, join(dir, 'dists/stable/InRelease')]);
  });
});

describe('aptRepository() after a failure midway through a batch', () => {
  it('mapLimit starts nothing after a failure, and rejects once the calls in flight settled', async () => {
    const started: number[] = [];
    let inFlight = 0;
    const error = await rejection(
      mapLimit(
        Array.from({ length: 40 }, (_, i) => i),
        8,
        async (i) => {
          started.push(i);
          inFlight++;
          try {
            // The first fails at once; the others take a few turns of the event loop.
            if (i === 0) throw new Error('item 0 failed');
            for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve));
            return i;
          } finally {
            inFlight--;
          }
        },
      ),
    );
    expect(error.message).toBe('item 0 failed');
    expect(inFlight).toBe(0);
    expect(started).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('leaves no temporary pool file behind when one package of a batch cannot be stored', async () => {
    const dir = await tempDir('repo');
    const repo = aptRepository({ dir });
    const artifacts = await Promise.all(Array.from({ length: 24 }, (_, i) => build(`wave${i}`, '1.0')));
    // The first package's pool directory cannot be made: a file is in its way.
    await mkdir(join(dir, 'pool/main/w'), { recursive: true });
    await writeFile(join(dir, 'pool/main/w/wave0'), 'in the way');
    const error = await rejection(repo.publishMany(artifacts));
    expect(isRingmasterError(error, 'REPOSITORY')).toBe(true);
    expect(error.message).toContain('wave0');
    const left = (await readdir(join(dir, 'pool'), { recursive: true })).filter(
      (f) => f.endsWith('.deb') || f.endsWith('.tmp'),
    );
    expect(left).toEqual([]);
    expect(await repo.versions('wave1')).toEqual([]);
    await repo.close();
  });
});

describe('aptRepository() after a crashed publisher', () => {
  it('keeps the previous index verifiable, then takes over and cleans up on the next publish', async () => {
    const dir = await tempDir('repo');
    const signingKey = { homedir: key.homedir, keyId: key.keyId, passphrase: key.passphrase };
    const repo = aptRepository({ dir, signingKey });
    await repo.publish(await build('app', '1.0'));
    // What a publisher killed after writing its temporary indexes leaves behind: half-written
    // temp files and its lock, held by a pid that no longer exists.
    const dead = Number((await runCommand(['sh', '-c', 'echo $$'])).stdout);
    const host = (await import('node:os')).hostname();
    await writeFile(
      join(dir, '.ringmaster/lock'),
      JSON.stringify({ pid: dead, hostname: host, time: 't', token: 'z' }),
    );
    await writeFile(join(dir, 'dists/stable/.Release.999.dead.tmp'), 'Origin: half');
    await writeFile(join(dir, 'dists/stable/main/binary-amd64/.Packages.999.dead.tmp'), 'Package: ha');
    // A reader sees the previous, complete index: signature good, Packages matching the Release.
    await ok(['gpgv', '--keyring', key.publicKeyFile, join(dir, 'dists/stable/InRelease')]);
    const packages = await readFile(join(dir, 'dists/stable/main/binary-amd64/Packages'));
    expect(await readFile(join(dir, 'dists/stable/Release'), 'utf8')).toContain(sha256(packages));

    await repo.publish(await build('app', '1.1'));
    expect(await repo.versions('app')).toEqual(['1.0', '1.1']);
    expect(await readdir(join(dir, 'dists/stable'))).not.toContain('.Release.999.dead.tmp');
    expect(await readdir(join(dir, 'dists/stable/main/binary-amd64'))).not.toContain(
      '.Packages.999.dead.tmp',
    );
    await repo.close();
  });

  it('never puts the passphrase in an error message', async () => {
    const dir = await tempDir('repo');
    const secret = 'wrong but secret passphrase';
    const repo = aptRepository({ dir, signingKey: { keyFile: key.secretKeyFile, passphrase: secret } });
    const error = await rejection(repo.publish(await build('app', '1.0')));
    expect(isRingmasterError(error, 'REPOSITORY')).toBe(true);
    expect(error.message).toContain('gpg could not');
    expect(error.message).not.toContain(secret);
    expect(JSON.stringify((error as { details?: unknown }).details)).not.toContain(secret);
    await repo.close();
  });
});

describe('aptRepository() under concurrency, with retention', () => {
  it('serialises two publishers on one directory: no update is lost', async () => {
    const dir = await tempDir('repo');
    const a = aptRepository({ dir });
    const b = aptRepository({ dir });
    const artifacts = await Promise.all(Array.from({ length: 12 }, (_, i) => build(`pkg${i}`, `1.${i}`)));
    await Promise.all(artifacts.map((artifact, i) => (i % 2 ? a : b).publish(artifact)));
    const packages = await readFile(join(dir, 'dists/stable/main/binary-amd64/Packages'), 'utf8');
    for (let i = 0; i < 12; i++) expect(packages).toContain(`Package: pkg${i}\n`);
    expect(await readdir(join(dir, '.ringmaster'))).not.toContain('lock');
  });

  it('takes over the lock of a dead publisher, and waits (bounded) for a live one', async () => {
    const dir = await tempDir('repo');
    const repo = aptRepository({ dir, lockTimeoutMs: 300 });
    await repo.publish(await build('app', '1.0'));
    const dead = await runCommand(['sh', '-c', 'echo $$']);
    const lock = join(dir, '.ringmaster/lock');
    const host = (await import('node:os')).hostname();
    await writeFile(
      lock,
      JSON.stringify({ pid: Number(dead.stdout), hostname: host, time: 'then', token: 'x' }),
    );
    await repo.publish(await build('app', '1.1'));
    expect(await repo.versions('app')).toEqual(['1.0', '1.1']);

    await writeFile(lock, JSON.stringify({ pid: process.ppid, hostname: host, time: 'now', token: 'y' }));
    const error = await rejection(repo.publish(await build('app', '1.2')));
    expect(isRingmasterError(error, 'LOCKED')).toBe(true);
    expect(error.message).toContain(`pid ${process.ppid}`);
    expect(await repo.versions('app')).toEqual(['1.0', '1.1']);
  });

  it('keeps the newest K versions, never a protected one, and deletes the rest from the pool', async () => {
    const dir = await tempDir('repo');
    const repo = aptRepository({ dir, keep: 2, protect: (name) => (name === 'app' ? ['1.0~rc1'] : []) });
    for (const v of ['1.0~rc1', '1.0', '1.1', '2.0']) await repo.publish(await build('app', v));
    expect(await repo.versions('app')).toEqual(['1.0~rc1', '1.1', '2.0']);
    expect((await readdir(join(dir, 'pool/main/a/app'))).sort()).toEqual([
      'app_1.0~rc1_all.deb',
      'app_1.1_all.deb',
      'app_2.0_all.deb',
    ]);
    const packages = await readFile(join(dir, 'dists/stable/main/binary-amd64/Packages'), 'utf8');
    expect(packages).not.toContain('Version: 1.0\n');
    expect(await repo.find('app', '1.0')).toBeUndefined();
    expect((await repo.find('app', '2.0'))?.file).toBe(join(dir, 'pool/main/a/app/app_2.0_all.deb'));
  });
});

describe('aptRepository().serve()', () => {
  it('serves the repository on 127.0.0.1, and nothing outside it or its private state', async () => {
    const dir = await tempDir('repo');
    const repo = aptRepository({ dir });
    await repo.publish(await build('app', '1.0'));
    const server = await repo.serve({ port: 0 });
    try {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      const release = await fetch(new URL('dists/stable/Release', server.url));
      expect(release.status).toBe(200);
      expect(await release.text()).toBe(await readFile(join(dir, 'dists/stable/Release'), 'utf8'));
      for (const path of [
        '.ringmaster/lock',
        '.ringmaster/packages',
        '%2e%2e/%2e%2e/etc/passwd',
        'missing',
      ]) {
        expect((await fetch(`${server.url}${path}`)).status, path).toBe(404);
      }
    } finally {
      await repo.close();
    }
    expect(
      await fetch(server.url).then(
        () => 'open',
        () => 'closed',
      ),
    ).toBe('closed');
  });

  it('serves each file whole, as one version, while publishes replace it underneath', async () => {
    // A publish replaces InRelease by rename. A response whose length came from one version and
    // whose bytes from the next is what apt reports as "Splitting up … InRelease … failed".
    // A stress test, not a construction of the race: without the fix it failed within 5 s in
    // every run tried here (5 of 5); with it, a response is always one whole version.
    const dir = await tempDir('repo');
    const file = join(dir, 'dists/stable/InRelease');
    const versions = [Buffer.alloc(64 * 1024, 'a'), Buffer.alloc(3 * 64 * 1024, 'b')];
    await mkdir(join(dir, 'dists/stable'), { recursive: true });
    await writeFile(file, versions[0]!);
    const server = await aptRepository({ dir }).serve({ port: 0 });
    let swaps = 0;
    let stop = false;
    const swapping = (async () => {
      for (let i = 0; !stop && i < 100_000; i++) {
        await writeFile(`${dir}.next`, versions[i % 2 === 0 ? 1 : 0]!);
        await rename(`${dir}.next`, file);
        swaps++;
      }
    })();
    const seen = new Map<string, number>();
    try {
      // At least 20 rounds, and on until 100 publishes happened under them: a busy machine
      // can get through 20 rounds with the swapper barely started. Bounded either way.
      for (let round = 0; round < 2_000 && (round < 20 || swaps < 100); round++) {
        const bodies = await Promise.all(
          Array.from({ length: 10 }, () =>
            // Bounded: a response shorter than its content-length leaves the client waiting.
            fetch(new URL('dists/stable/InRelease', server.url), { signal: AbortSignal.timeout(5_000) })
              .then((r) => r.arrayBuffer())
              .then(
                (bytes) => Buffer.from(bytes),
                (error: Error) =>
                  new Error(error.cause instanceof Error ? error.cause.message : error.message),
              ),
          ),
        );
        for (const body of bodies) {
          const version = body instanceof Error ? -1 : versions.findIndex((v) => v.equals(body));
          const what =
            body instanceof Error
              ? `error: ${body.message}`
              : version >= 0
                ? `version ${version}`
                : `torn (${body.length} bytes)`;
          seen.set(what, (seen.get(what) ?? 0) + 1);
        }
        // One bad response is the finding; the rest would each wait out their timeout.
        if ([...seen.keys()].some((k) => !k.startsWith('version '))) break;
      }
    } finally {
      stop = true;
      await swapping;
      await server.close();
    }
    expect(swaps).toBeGreaterThanOrEqual(100);
    expect([...seen.keys()].filter((k) => !k.startsWith('version '))).toEqual([]);
  });
});
