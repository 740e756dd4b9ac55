/**
 * Crafted packages (built with `dpkg-deb --nocheck`, which builds what dpkg itself would refuse)
 * are refused by the repository before anything is written: a second paragraph, a duplicate
 * Package or Version (in any case), fields the repository computes, bad field syntax, corrupt
 * xz / zstd / gzip data and a broken tar header. Then the real apt-get, reading our signed
 * repository, sees exactly the packages that were validated — never a name or version that was
 * not — and the index agrees with the repository's catalogue.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { Artifact } from '@ringmaster/core/adapter';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listArMembers } from '../src/archive/ar.js';
import { type AptRepository, aptRepository, type RepositoryServer } from '../src/index.js';
import { aptTool, cleanup, makeKey, ok, rejection, type TestKey, tempDir } from './helpers.js';

let key: TestKey;
let repo: AptRepository;
let repoDir: string;
let server: RepositoryServer;

beforeAll(async () => {
  key = await makeKey();
  repoDir = await tempDir('crafted-repo');
  repo = aptRepository({
    dir: repoDir,
    signingKey: { keyFile: key.secretKeyFile, passphrase: key.passphrase },
  });
  server = await repo.serve({ port: 0 });
});
afterAll(async () => {
  await repo?.close();
  await key?.close();
  await cleanup();
});

const control = (...lines: string[]) =>
  `${['Package: good', 'Version: 1.0', 'Architecture: all', 'Maintainer: Ops <ops@example.com>', 'Description: a package', ...lines].join('\n')}\n`;

type Compression = 'xz' | 'zstd' | 'gzip' | 'none';

/** Builds a .deb from a raw control file with dpkg-deb --nocheck; optionally corrupts its data member. */
async function craft(
  label: string,
  text: string,
  compression: Compression = 'xz',
  corrupt?: 'data-stream' | 'tar-header',
): Promise<Artifact> {
  const tree = await tempDir(`craft-${label}`);
  await mkdir(join(tree, 'DEBIAN'));
  await mkdir(join(tree, 'opt', 'good'), { recursive: true });
  await writeFile(join(tree, 'DEBIAN', 'control'), text);
  // Enough content that the compressed stream has a middle to corrupt.
  await writeFile(
    join(tree, 'opt', 'good', 'data'),
    createHash('sha512').update(label).digest('hex').repeat(400),
  );
  const file = join(await tempDir('craft-out'), `${label}.deb`);
  await ok(['dpkg-deb', '--nocheck', '--root-owner-group', `-Z${compression}`, '--build', tree, file]);
  let bytes = await readFile(file);
  if (corrupt) {
    const members = await listArMembers(async (at, n) => bytes.subarray(at, at + n), bytes.length);
    const data = members[2]!;
    bytes = Buffer.from(bytes);
    const at = corrupt === 'tar-header' ? data.offset + 100 : data.offset + Math.floor(data.size / 2);
    for (let i = 0; i < 8; i++) bytes[at + i] = bytes[at + i]! ^ 0x5a;
    await writeFile(file, bytes);
  }
  return {
    name: 'good',
    version: '1.0',
    architecture: 'all',
    dependencies: [],
    file,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    size: bytes.length,
    format: 'deb',
  };
}

/** Every file under the repository, with its bytes' hash: what "unchanged" means. */
async function snapshot(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else
        out[relative(repoDir, path)] = createHash('sha256')
          .update(await readFile(path))
          .digest('hex');
    }
  };
  await walk(repoDir).catch(() => {});
  return out;
}

describe('crafted packages are refused before anything is written', () => {
  it.each([
    [
      'a second paragraph naming another package',
      control('', 'Package: ../../x', 'Version: 1.0;rm'),
      'second paragraph',
    ],
    ['a duplicate Package', control('Package: ../../x'), 'field Package appears twice'],
    ['a duplicate Version', control('Version: 1.0;rm'), 'field Version appears twice'],
    [
      'a duplicate in another case',
      control('package: ../../x'),
      'field package appears twice (first as Package)',
    ],
    ['its own SHA512', control(`SHA512: ${'0'.repeat(128)}`), 'SHA512 is computed by the repository'],
    [
      'its own Filename',
      control('Filename: pool/main/e/evil/evil.deb'),
      'Filename is computed by the repository',
    ],
    ['its own Size', control('size: 1'), 'size is computed by the repository'],
    ['a field name with a space', control('Bad Field: x'), 'is not a field'],
    ['a comment line', control('# Package: other'), 'is not a field'],
    ['a carriage return', control('X-Note: a\rb'), 'control character'],
  ])('%s', async (_label, text, says) => {
    const before = await snapshot();
    const error = await rejection(repo.publish(await craft('control', text)));
    expect(error.code).toBe('REPOSITORY');
    expect(error.message).toContain(says);
    expect(error.message).toContain('the repository is unchanged');
    expect(await snapshot()).toEqual(before);
  });

  it.each([
    ['corrupt xz data', 'xz', 'data-stream', /data\.tar\.xz does not decompress/],
    ['corrupt zstd data', 'zstd', 'data-stream', /data\.tar\.zst does not decompress/],
    ['corrupt gzip data', 'gzip', 'data-stream', /data\.tar\.gz does not decompress/],
    ['a broken tar header in uncompressed data', 'none', 'tar-header', /data\.tar: bad tar header checksum/],
  ] as const)('%s', async (_label, compression, corruption, says) => {
    const before = await snapshot();
    const error = await rejection(
      repo.publish(await craft(`bad-${compression}`, control(), compression, corruption)),
    );
    expect(error.code).toBe('REPOSITORY');
    expect(error.message).toMatch(says);
    expect(await snapshot()).toEqual(before);
  });
});

describe('what apt sees', () => {
  it('only validated names and versions reach the signed index, and it agrees with the catalogue', {
    timeout: 120_000,
  }, async () => {
    // Well-formed packages in every compression dpkg-deb makes are taken.
    const good = [
      await craft('ok-xz', control().replace('Version: 1.0', 'Version: 1.1'), 'xz'),
      await craft('ok-zstd', control().replace('Version: 1.0', 'Version: 1.2'), 'zstd'),
      await craft('ok-gzip', control().replace('Version: 1.0', 'Version: 1.3'), 'gzip'),
      await craft('ok-none', control().replace('Version: 1.0', 'Version: 1.4'), 'none'),
    ];
    for (const [i, artifact] of good.entries()) await repo.publish({ ...artifact, version: `1.${i + 1}` });
    // And a crafted one after them changes nothing.
    await rejection(repo.publish(await craft('late', control('Package: ../../x'))));

    const root = await tempDir('crafted-apt');
    const source = `deb [signed-by=${key.publicKeyFile}] ${server.url} stable main`;
    const update = await aptTool(root, source, ['update']);
    expect(update.exitCode, update.stderr).toBe(0);
    // Every version apt knows of, whatever it is called: what it would install from.
    const names = await aptTool(root, source, ['pkgnames'], { tool: 'apt-cache' });
    expect(names.stdout.trim().split('\n')).toEqual(['good']);
    const dump = await aptTool(root, source, ['show', 'good'], { tool: 'apt-cache' });
    expect(dump.exitCode, dump.stderr).toBe(0);
    const stanzas = dump.stdout.trim().split(/\n\n+/);
    const seen = stanzas.map((s) => [/^Package: (.*)$/m.exec(s)?.[1], /^Version: (.*)$/m.exec(s)?.[1]]);
    expect(seen.sort()).toEqual([
      ['good', '1.1'],
      ['good', '1.2'],
      ['good', '1.3'],
      ['good', '1.4'],
    ]);
    expect(dump.stdout).not.toContain('../../x');
    expect(dump.stdout).not.toContain('1.0;rm');

    // The signed index and the catalogue say the same thing, file for file.
    const index = await readFile(join(repoDir, 'dists/stable/main/binary-amd64/Packages'), 'utf8');
    const fromIndex = index
      .trim()
      .split(/\n\n+/)
      .map((s) =>
        ['Package', 'Version', 'Filename', 'SHA256'].map((f) => new RegExp(`^${f}: (.*)$`, 'm').exec(s)?.[1]),
      )
      .sort();
    const catalogueDir = join(repoDir, '.ringmaster/catalogue');
    const fromCatalogue = (
      await Promise.all(
        (await readdir(catalogueDir)).map(async (f) => await readFile(join(catalogueDir, f), 'utf8')),
      )
    )
      .flatMap((text) => text.split('\n').filter(Boolean))
      .map((line) => JSON.parse(line))
      .filter((r) => r.name !== undefined)
      .map((r: { name: string; version: string; filename: string; sha256: string }) => [
        r.name,
        r.version,
        r.filename,
        r.sha256,
      ])
      .sort();
    expect(fromIndex).toEqual(fromCatalogue);
    expect(fromIndex.map((r) => r[3]).sort()).toEqual(good.map((a) => a.sha256).sort());
  });
});
