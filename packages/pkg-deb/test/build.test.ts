/** deb(): the packages we build, as the real dpkg-deb reads them. */
import { createHash } from 'node:crypto';
import { readFile, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { deb } from '../src/index.js';
import { cleanup, ok, revision, tempDir, writeTree } from './helpers.js';

afterAll(cleanup);

const base = {
  name: 'foostat',
  maintainer: 'Ops Team <ops@example.com>',
  description: 'Foostat widget service\nRenders the foostat widget.\n\nRestarted on every install.',
};

const LONG_DIR = `deep/${'d'.repeat(90)}/${'e'.repeat(60)}`;

async function sampleTree(): Promise<string> {
  return writeTree(await tempDir('tree'), {
    'bin/foostat': { content: '#!/bin/sh\necho foostat\n', mode: 0o700 },
    'bin/fs': { link: 'foostat' },
    'lib/data.bin': { content: 'x'.repeat(70_000), mode: 0o600 },
    'etc/foostat.conf': 'listen = 127.0.0.1\n',
    'share/with space and ümlaut.txt': 'unicode name\n',
    [`${LONG_DIR}/${'f'.repeat(40)}.txt`]: 'long name\n',
    [`${LONG_DIR}/link`]: { link: `../${'e'.repeat(60)}/${'f'.repeat(40)}.txt` },
  });
}

describe('deb() builds packages dpkg-deb reads', () => {
  it('writes the full control file, md5sums, conffiles and maintainer scripts', async () => {
    const tree = await sampleTree();
    const out = await tempDir('out');
    const packager = deb({
      ...base,
      architecture: 'amd64',
      prefix: '/opt/foostat',
      conffiles: ['/opt/foostat/etc/foostat.conf'],
      depends: ['libc6 (>= 2.36)', 'nginx | apache2'],
      preDepends: ['dpkg (>= 1.19)'],
      recommends: ['curl'],
      conflicts: ['oldstat'],
      provides: ['statd (= 1.0)'],
      replaces: ['oldstat (<< 2.0)'],
      section: 'net',
      priority: 'optional',
      homepage: 'https://example.com/foostat',
      postinst: '#!/bin/sh\nset -e\necho "restarting foostat"\n',
      prerm: '#!/bin/sh\nset -e\n',
    });
    const artifact = await packager.package({ dir: tree, revision: revision(1234), outDir: out });
    expect(artifact).toMatchObject({
      name: 'foostat',
      version: '0.0.1234',
      architecture: 'amd64',
      format: 'deb',
      file: join(out, 'foostat_0.0.1234_amd64.deb'),
      dependencies: ['dpkg (>= 1.19)', 'libc6 (>= 2.36)', 'nginx | apache2'],
    });
    const bytes = await readFile(artifact.file);
    expect(artifact.size).toBe(bytes.length);
    expect(artifact.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));

    const field = async (name: string) => (await ok(['dpkg-deb', '--field', artifact.file, name])).trim();
    expect(await field('Package')).toBe('foostat');
    expect(await field('Version')).toBe('0.0.1234');
    expect(await field('Depends')).toBe('libc6 (>= 2.36), nginx | apache2');
    expect(await field('Pre-Depends')).toBe('dpkg (>= 1.19)');
    expect(await field('Provides')).toBe('statd (= 1.0)');
    expect(await field('Replaces')).toBe('oldstat (<< 2.0)');
    expect(await field('Homepage')).toBe('https://example.com/foostat');
    expect(await field('Description')).toBe(
      'Foostat widget service\n Renders the foostat widget.\n .\n Restarted on every install.',
    );
    // 70,000 bytes → 69 KiB, plus 1 per directory or symlink entry.
    expect(Number(await field('Installed-Size'))).toBeGreaterThanOrEqual(72);

    const info = await ok(['dpkg-deb', '--info', artifact.file]);
    expect(info).toMatch(/postinst\s+#!\/bin\/sh/);
    expect(info).toMatch(/conffiles/);

    const control = await tempDir('ctl');
    await ok(['dpkg-deb', '--control', artifact.file, control]);
    expect(await readFile(join(control, 'conffiles'), 'utf8')).toBe('/opt/foostat/etc/foostat.conf\n');
    expect(await readFile(join(control, 'postinst'), 'utf8')).toContain('restarting foostat');
    const extracted = await tempDir('x');
    await ok(['dpkg-deb', '--extract', artifact.file, extracted]);
    // md5sums lists every file but the conffile, and matches the extracted bytes.
    const md5sums = await readFile(join(control, 'md5sums'), 'utf8');
    expect(md5sums).not.toContain('foostat.conf');
    expect(md5sums).toContain('opt/foostat/lib/data.bin');
    await ok(['md5sum', '--check', '--quiet', join(control, 'md5sums')], { cwd: extracted });
    expect(await readFile(join(extracted, 'opt/foostat/lib/data.bin'), 'utf8')).toBe('x'.repeat(70_000));
  });

  it('lists entries as dpkg-deb does: ./ prefix, parent directories, root:root, modes, symlinks, long names', async () => {
    const tree = await sampleTree();
    const artifact = await deb({ ...base, prefix: '/opt/foostat' }).package({
      dir: tree,
      revision: revision(7),
      outDir: await tempDir('out'),
    });
    const contents = (await ok(['dpkg-deb', '--contents', artifact.file])).trim().split('\n');
    const byPath = new Map(
      contents.map((line) => {
        const parts = line.split(/\s+/);
        return [parts.slice(5).join(' '), { mode: parts[0], owner: parts[1] }] as const;
      }),
    );
    const paths = [...byPath.keys()];
    expect(paths.slice(0, 3)).toEqual(['./', './opt/', './opt/foostat/']);
    expect(byPath.get('./opt/foostat/bin/foostat')).toEqual({ mode: '-rwxr-xr-x', owner: 'root/root' });
    expect(byPath.get('./opt/foostat/lib/data.bin')).toEqual({ mode: '-rw-r--r--', owner: 'root/root' });
    expect(byPath.get('./opt/foostat/bin/')?.mode).toBe('drwxr-xr-x');
    expect(byPath.get('./opt/foostat/bin/fs -> foostat')?.mode).toBe('lrwxrwxrwx');
    expect(paths).toContain('./opt/foostat/share/with space and ümlaut.txt');
    expect(paths).toContain(`./opt/foostat/${LONG_DIR}/${'f'.repeat(40)}.txt`);
    expect(paths.some((p) => p.startsWith(`./opt/foostat/${LONG_DIR}/link -> ../`))).toBe(true);
    // Every directory appears before its children.
    for (const [i, p] of paths.entries()) {
      const parent = p.replace(/[^/]+\/?$/, '');
      if (parent && parent !== './') expect(paths.indexOf(parent), p).toBeLessThan(i);
    }
    const extracted = await tempDir('x');
    await ok(['dpkg-deb', '--extract', artifact.file, extracted]);
    const linked = await readFile(join(extracted, 'opt/foostat', LONG_DIR, 'link'), 'utf8');
    expect(linked).toBe('long name\n');
  });

  it('is reproducible: same tree and SOURCE_DATE_EPOCH give identical bytes, whatever the file mtimes', async () => {
    const tree = await sampleTree();
    const packager = deb({ ...base, sourceDateEpoch: 1_700_000_000 });
    const first = await packager.package({ dir: tree, revision: revision(5), outDir: await tempDir('o1') });
    await utimes(join(tree, 'bin/foostat'), new Date(), new Date('2001-01-01'));
    const second = await packager.package({ dir: tree, revision: revision(5), outDir: await tempDir('o2') });
    expect(second.sha256).toBe(first.sha256);
    expect((await readFile(second.file)).equals(await readFile(first.file))).toBe(true);
    const contents = await ok(['dpkg-deb', '--contents', first.file]);
    expect(contents).toContain('2023-11-14 22:13');

    const later = await deb({ ...base, sourceDateEpoch: 1_800_000_000 }).package({
      dir: tree,
      revision: revision(5),
      outDir: await tempDir('o3'),
    });
    expect(later.sha256).not.toBe(first.sha256);
  });

  it('takes SOURCE_DATE_EPOCH from the environment, else the revision time', async () => {
    const tree = await sampleTree();
    const packager = deb(base);
    const saved = process.env.SOURCE_DATE_EPOCH;
    try {
      process.env.SOURCE_DATE_EPOCH = '1600000000';
      const fromEnv = await packager.package({
        dir: tree,
        revision: revision(1),
        outDir: await tempDir('o'),
      });
      expect(await ok(['dpkg-deb', '--contents', fromEnv.file])).toContain('2020-09-13');
      delete process.env.SOURCE_DATE_EPOCH;
      const fromRevision = await packager.package({
        dir: tree,
        revision: revision(1),
        outDir: await tempDir('o'),
      });
      expect(await ok(['dpkg-deb', '--contents', fromRevision.file])).toContain('2026-11-01 10:00');
    } finally {
      if (saved === undefined) delete process.env.SOURCE_DATE_EPOCH;
      else process.env.SOURCE_DATE_EPOCH = saved;
    }
  });

  it('streams a large file and builds uncompressed packages too', async () => {
    const tree = await tempDir('big');
    const big = Buffer.alloc(12 * 1024 * 1024 + 3);
    for (let i = 0; i < big.length; i += 4096) big[i] = i % 251;
    await writeTree(tree, { 'blob.bin': big });
    for (const compression of ['gzip', 'none'] as const) {
      const artifact = await deb({ ...base, compression, prefix: '/srv/big' }).package({
        dir: tree,
        revision: revision(3),
        outDir: await tempDir('o'),
      });
      const info = await ok(['dpkg-deb', '--info', artifact.file]);
      expect(info).toContain('Package: foostat');
      const extracted = await tempDir('x');
      await ok(['dpkg-deb', '--extract', artifact.file, extracted]);
      const back = await readFile(join(extracted, 'srv/big/blob.bin'));
      if (compression === 'gzip') {
        // Thirteen 1 MiB blocks compressed in parallel: still the same bytes on every build.
        const again = await deb({ ...base, compression, prefix: '/srv/big' }).package({
          dir: tree,
          revision: revision(3),
          outDir: await tempDir('o'),
        });
        expect(again.sha256).toBe(artifact.sha256);
        await ok(['sh', '-c', 'dpkg-deb --fsys-tarfile "$1" | tar -tf - > /dev/null', 'sh', artifact.file]);
      }
      expect(createHash('sha256').update(back).digest('hex')).toBe(
        createHash('sha256').update(big).digest('hex'),
      );
    }
  });

  it('does nothing until package() is called', async () => {
    const packager = deb({ ...base, version: '2.{number}' });
    expect(packager.packageName).toBe('foostat');
    expect(packager.versionFor(revision(12))).toBe('2.12');
    expect(packager.compareVersions('2.9', '2.12')).toBeLessThan(0);
  });
});
