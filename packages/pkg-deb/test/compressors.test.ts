/**
 * Every compressor dpkg-deb has — gzip, xz, zstd, none — at its default level and at others:
 * the members are named and compressed as dpkg-deb names and compresses them, the real dpkg-deb
 * reads them, lintian finds no error, two builds give the same bytes, and apt-get installs them
 * into a private root (its own debfile reader, then dpkg). Then the failures: bad levels at the
 * factory, a missing binary before anything is written, a failing compressor with nothing left.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ConfigError, isRingmasterError, runCommand } from '@ringmaster/core/adapter';
import { afterAll, describe, expect, it } from 'vitest';
import { compressorArgs, findCompressor } from '../src/archive/compress.js';
import { buildDeb } from '../src/build.js';
import { type DebOptions, deb } from '../src/index.js';
import { walkTree } from '../src/tree.js';
import { cleanup, ok, rejection, revision, tempDir, writeTree } from './helpers.js';

afterAll(cleanup);

type Compression = 'gzip' | 'xz' | 'zstd' | 'none';

const NAME = 'zipstat';

const base: DebOptions = {
  name: NAME,
  maintainer: 'Ops Team <ops@example.com>',
  description: 'widget statistics for the home page\nCounts the widgets and shows them.',
  section: 'web',
  homepage: 'https://example.com/zipstat',
  postinst: '#!/bin/sh\nset -e\necho "configured $1"\n',
};

const COPYRIGHT = `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: ${NAME}

Files: *
Copyright: 2026 Ringmaster
License: MIT
 Permission is hereby granted, free of charge, to any person obtaining a copy.
`;

const CHANGELOG = `${NAME} (0.0.7) unstable; urgency=medium

  * Build 7.

 -- Ops Team <ops@example.com>  Sun, 01 Nov 2026 10:00:00 +0000
`;

const LONG = `${'l'.repeat(80)}/${'m'.repeat(60)}.txt`;

/** A lintian-clean tree: docs, a script, a conffile, a symlink, a long name, some bulk. */
async function tree(): Promise<string> {
  const words = Array.from({ length: 40_000 }, (_, i) => `w${(i * 7919) % 997}`).join(' ');
  return writeTree(await tempDir('tree'), {
    [`usr/share/doc/${NAME}/copyright`]: COPYRIGHT,
    [`usr/share/doc/${NAME}/changelog.gz`]: gzipSync(CHANGELOG, { level: 9 }),
    [`usr/bin/${NAME}`]: { content: `#!/bin/sh\necho ${NAME}\n`, mode: 0o755 },
    [`usr/bin/${NAME}-run`]: { link: NAME },
    [`etc/${NAME}/${NAME}.conf`]: 'port = 8080\n',
    [`usr/share/${NAME}/words.txt`]: words,
    [`usr/share/${NAME}/${LONG}`]: 'a long name\n',
  });
}

/** Deterministic content, half text-like (compressible), half noise. */
function mixedContent(size: number): Buffer {
  const out = Buffer.alloc(size);
  let s = 42;
  for (let i = 0; i < size; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    out[i] = (i >> 16) % 2 ? s >>> 24 : 97 + ((s >>> 16) % 7);
  }
  return out;
}

/** The ar members of a .deb, read from its headers (not by our reader). */
async function members(file: string): Promise<{ name: string; data: Buffer }[]> {
  const bytes = await readFile(file);
  expect(bytes.subarray(0, 8).toString('latin1')).toBe('!<arch>\n');
  const out: { name: string; data: Buffer }[] = [];
  for (let pos = 8; pos < bytes.length; ) {
    const name = bytes.toString('latin1', pos, pos + 16).trim();
    const size = Number(bytes.toString('latin1', pos + 48, pos + 58).trim());
    out.push({ name, data: bytes.subarray(pos + 60, pos + 60 + size) });
    pos += 60 + size + (size % 2);
  }
  return out;
}

/** What a member's first bytes say it is. */
function kindOf(data: Buffer): Compression | 'unknown' {
  if (data[0] === 0x1f && data[1] === 0x8b) return 'gzip';
  if (data.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (data.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (data.toString('latin1', 257, 262) === 'ustar') return 'none';
  return 'unknown';
}

const SUFFIX: Record<Compression, string> = { gzip: '.gz', xz: '.xz', zstd: '.zst', none: '' };

/**
 * lintian's errors that are Debian archive policy, not defects: the archive takes no zstd
 * members yet and wants compressed ones (it says the same of dpkg-deb -Zzstd / -Znone).
 */
const POLICY: Record<Compression, string[]> = {
  gzip: [],
  xz: [],
  zstd: [
    `E: ${NAME}: malformed-deb-archive second (official) member control.tar.zst not control.tar.(gz|xz)`,
    `E: ${NAME}: malformed-deb-archive third (official) member data.tar.zst not data.tar.(gz|xz|bz2|lzma)`,
  ],
  none: [
    `E: ${NAME}: uses-no-compression-for-control-tarball`,
    `E: ${NAME}: uses-no-compression-for-data-tarball`,
  ],
};

async function lintianErrors(file: string): Promise<string[]> {
  const r = await runCommand(['lintian', '--no-cfg', '--allow-root', '--display-level', '>=warning', file], {
    timeoutMs: 120_000,
  });
  expect(r.stderr).not.toMatch(/error/i);
  return r.stdout.split('\n').filter((line) => line.startsWith('E:'));
}

const build = async (options: Partial<DebOptions>, dir: string, outDir?: string) =>
  deb({ ...base, ...options }).package({
    dir,
    revision: revision(7),
    outDir: outDir ?? (await tempDir('out')),
  });

/** apt-get install of a local .deb into a private root: apt's own config, state, cache and logs, dpkg --root. */
async function aptInstall(root: string, file: string) {
  for (const dir of [
    'var/lib/dpkg/info',
    'var/lib/dpkg/updates',
    'var/log',
    'state/lists/partial',
    'cache/archives/partial',
    'empty.d',
  ])
    await mkdir(join(root, dir), { recursive: true });
  await writeFile(join(root, 'var/lib/dpkg/status'), '');
  await writeFile(join(root, 'sources.list'), '');
  const config = {
    'Dir::Etc::SourceList': join(root, 'sources.list'),
    'Dir::Etc::SourceParts': join(root, 'empty.d'),
    'Dir::Etc::Parts': '/dev/null',
    'Dir::Etc::Preferences': '/dev/null',
    'Dir::Etc::PreferencesParts': join(root, 'empty.d'),
    'Dir::Etc::Trusted': '/dev/null',
    'Dir::Etc::TrustedParts': join(root, 'empty.d'),
    'Dir::State': join(root, 'state'),
    'Dir::State::status': join(root, 'var/lib/dpkg/status'),
    'Dir::Cache': join(root, 'cache'),
    'Dir::Log': join(root, 'var/log'),
    'APT::Sandbox::User': 'root',
    'Debug::NoLocking': '1',
    'Acquire::Languages': 'none',
  };
  const dpkgOptions = [
    `--root=${root}`,
    '--force-not-root',
    '--force-script-chrootless',
    `--log=${join(root, 'var/log/dpkg.log')}`,
  ];
  return runCommand(
    [
      'apt-get',
      '-q',
      ...Object.entries(config).flatMap(([k, v]) => ['-o', `${k}=${v}`]),
      ...dpkgOptions.flatMap((o) => ['-o', `DPkg::Options::=${o}`]),
      'install',
      '-y',
      file,
    ],
    { cwd: root, timeoutMs: 120_000, env: { DEBIAN_FRONTEND: 'noninteractive' } },
  );
}

describe.each(['gzip', 'xz', 'zstd', 'none'] as const)('compression %s', (compression) => {
  it('names and compresses both members as dpkg-deb does; dpkg-deb reads, lists and extracts it', async () => {
    const dir = await tree();
    const artifact = await build({ compression }, dir);
    const parts = await members(artifact.file);
    expect(parts.map((m) => m.name)).toEqual([
      'debian-binary',
      `control.tar${SUFFIX[compression]}`,
      `data.tar${SUFFIX[compression]}`,
    ]);
    expect(kindOf(parts[1]!.data)).toBe(compression);
    expect(kindOf(parts[2]!.data)).toBe(compression);

    const info = await ok(['dpkg-deb', '--info', artifact.file]);
    expect(info).toContain(`Package: ${NAME}`);
    expect(info).toContain('Version: 0.0.7');
    const contents = await ok(['dpkg-deb', '--contents', artifact.file]);
    expect(contents).toContain(`./usr/share/${NAME}/${LONG}`);
    expect(contents).toMatch(new RegExp(`\\./usr/bin/${NAME}-run -> ${NAME}`));

    const x = await tempDir('x');
    await ok(['dpkg-deb', '-x', artifact.file, x]);
    await ok(['dpkg-deb', '-e', artifact.file, join(x, 'DEBIAN')]);
    for (const path of [
      `usr/share/${NAME}/words.txt`,
      `usr/share/${NAME}/${LONG}`,
      `etc/${NAME}/${NAME}.conf`,
    ])
      expect(await readFile(join(x, path))).toEqual(await readFile(join(dir, path)));
    // md5sums holds what was packaged (the conffile is not in it).
    const sums = await ok(['md5sum', '--strict', '-c', 'DEBIAN/md5sums'], { cwd: x });
    expect(sums).toContain(`usr/share/${NAME}/words.txt: OK`);
    expect(await readFile(join(x, 'DEBIAN/conffiles'), 'utf8')).toBe(`/etc/${NAME}/${NAME}.conf\n`);
  });

  it('is reproducible: built twice from the same tree, the same bytes', async () => {
    const dir = await tree();
    const [a, b] = [await build({ compression }, dir), await build({ compression }, dir)];
    expect(b.sha256).toBe(a.sha256);
    expect(await readFile(b.file)).toEqual(await readFile(a.file));
    expect(
      createHash('sha256')
        .update(await readFile(a.file))
        .digest('hex'),
    ).toBe(a.sha256);
  });

  it("lintian finds no error but the policy ones it gives dpkg-deb's own package too", {
    timeout: 180_000,
  }, async () => {
    const artifact = await build({ compression }, await tree());
    const ours = await lintianErrors(artifact.file);
    expect(ours).toEqual(POLICY[compression]);
    if (POLICY[compression].length > 0) {
      // The same tree rebuilt by dpkg-deb -Z<compression>: lintian says the same of it.
      const raw = await tempDir('raw');
      await ok(['dpkg-deb', '-R', artifact.file, raw]);
      const theirs = join(await tempDir('dpkg'), 'theirs.deb');
      await ok(['dpkg-deb', '--root-owner-group', `-Z${compression}`, '--build', raw, theirs]);
      expect(await lintianErrors(theirs)).toEqual(ours);
    }
  });

  it('apt-get installs it into a private root (apt reads the members, dpkg unpacks)', {
    timeout: 120_000,
  }, async () => {
    const artifact = await build({ compression, prefix: '/opt/zipstat' }, await tree());
    const root = await tempDir('aptroot');
    const r = await aptInstall(root, artifact.file);
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toContain(`Setting up ${NAME} (0.0.7)`);
    expect(await readFile(join(root, `opt/zipstat/usr/share/${NAME}/${LONG}`), 'utf8')).toBe('a long name\n');
    const status = await ok([
      'dpkg-query',
      `--admindir=${join(root, 'var/lib/dpkg')}`,
      '-W',
      // dpkg-query's ${Field} syntax, not a template literal.
      '-f=%{Version} %{Status}'.replace(/%/g, '$'),
      NAME,
    ]);
    expect(status).toBe('0.0.7 install ok installed');
  });
});

describe('levels', () => {
  it.each([
    ['gzip', 1],
    ['xz', 0],
    ['xz', 9],
    ['zstd', 1],
    ['zstd', 19],
  ] as const)('%s -%i builds a package dpkg-deb extracts', async (compression, level) => {
    const dir = await tree();
    const artifact = await build({ compression, compressionLevel: level }, dir);
    const x = await tempDir('x');
    await ok(['dpkg-deb', '-x', artifact.file, x]);
    expect(await readFile(join(x, `usr/share/${NAME}/words.txt`))).toEqual(
      await readFile(join(dir, `usr/share/${NAME}/words.txt`)),
    );
  });

  it('defaults to dpkg-deb -z: gzip 9, xz 6, zstd 3', () => {
    expect(deb(base).options.compressionLevel).toBe(9);
    expect(deb({ ...base, compression: 'xz' }).options.compressionLevel).toBe(6);
    expect(deb({ ...base, compression: 'zstd' }).options.compressionLevel).toBe(3);
    expect(deb({ ...base, compression: 'zstd', compressionLevel: 19 }).options.compressionLevel).toBe(19);
  });

  it('a level changes the bytes', async () => {
    const dir = await tree();
    const [fast, best] = [
      await build({ compression: 'zstd', compressionLevel: 1 }, dir),
      await build({ compression: 'zstd', compressionLevel: 19 }, dir),
    ];
    expect(fast.sha256).not.toBe(best.sha256);
  });

  it('xz and zstd write the same bytes whatever the number of threads; zstd --single-thread would not', async () => {
    // 7 MiB of mixed content: four xz blocks and four zstd jobs of 2 MiB, so the threads share the work.
    const input = mixedContent(7 << 20);
    expect(compressorArgs('xz', 6, 2)).toContain(`--block-size=${2 << 20}`);
    expect(compressorArgs('zstd', 3, 2)).toContain(`-B${2 << 20}`);
    const sha = (compression: 'xz' | 'zstd', args: string[]) => {
      const r = spawnSync(compression, args, { input, maxBuffer: 64 << 20 });
      expect(r.status, r.stderr?.toString()).toBe(0);
      return createHash('sha256').update(r.stdout).digest('hex');
    };
    for (const [compression, level, threads] of [
      ['xz', 6, [2, 3, 4]],
      ['zstd', 3, [1, 2, 3, 4]],
      ['zstd', 9, [1, 3]],
    ] as const) {
      const outputs = new Set(threads.map((n) => sha(compression, compressorArgs(compression, level, n))));
      expect(outputs.size, `${compression} -${level}`).toBe(1);
    }
    // What that rests on: -T<n> is zstd's multi-threaded format; --single-thread writes other bytes.
    const single = compressorArgs('zstd', 3, 1).map((a) => (a === '-T1' ? '--single-thread' : a));
    expect(sha('zstd', single)).not.toBe(sha('zstd', compressorArgs('zstd', 3, 1)));
  }, 60_000);

  it('a package has the same bytes whatever the number of threads its compressor runs', async () => {
    const dir = await writeTree(await tempDir('threads'), {
      'usr/share/zipstat/a.bin': mixedContent(5 << 20),
      'usr/share/zipstat/b.txt': mixedContent(3 << 20).toString('latin1'),
    });
    const entries = await walkTree(dir, { prefix: '', keepModes: false });
    for (const [compression, level, threads] of [
      ['zstd', 3, [1, 2, 4]],
      ['xz', 6, [2, 4]],
    ] as const) {
      const found = (await findCompressor(compression, level))!;
      const shas = new Set<string>();
      for (const n of threads) {
        const built = await buildDeb({
          control: {
            package: NAME,
            version: '0.0.7',
            architecture: 'all',
            maintainer: base.maintainer,
            description: base.description,
          },
          entries,
          conffiles: [],
          scripts: {},
          mtime: 1_800_000_000,
          compression,
          level,
          compressor: { ...found, args: compressorArgs(compression, level, n) },
          outFile: join(await tempDir('out'), `t${n}.deb`),
        });
        shas.add(built.sha256);
      }
      expect(shas.size, compression).toBe(1);
    }
  }, 120_000);
});

describe('refusals', () => {
  function configError(options: Partial<DebOptions>): ConfigError {
    try {
      deb({ ...base, ...options } as DebOptions);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return error as ConfigError;
    }
    throw new Error('deb() accepted bad options');
  }

  it.each([
    [
      { compressionLevel: 0 },
      'compressionLevel',
      "gzip level is 1–9, not 0 (for no compression use compression: 'none')",
    ],
    [{ compressionLevel: 10 }, 'compressionLevel', 'gzip level is 1–9, not 10'],
    [{ compression: 'xz', compressionLevel: 10 }, 'compressionLevel', 'xz level is 0–9, not 10'],
    [{ compression: 'xz', compressionLevel: -1 }, 'compressionLevel', 'xz level is 0–9, not -1'],
    [{ compression: 'zstd', compressionLevel: 0 }, 'compressionLevel', 'zstd level is 1–22, not 0'],
    [{ compression: 'zstd', compressionLevel: 23 }, 'compressionLevel', 'zstd level is 1–22, not 23'],
    [{ compression: 'none', compressionLevel: 1 }, 'compressionLevel', "compression 'none' takes no level"],
    [{ compression: 'zstd', compressionLevel: 2.5 }, 'compressionLevel', 'int'],
    [{ compression: 'bzip2' }, 'compression', 'gzip'],
  ] as [Partial<DebOptions>, string, string][])('%j → %s', (options, path, rule) => {
    const error = configError(options);
    expect(error.code).toBe('CONFIG');
    expect(error.path).toBe(path);
    expect(error.message).toContain('[pkg-deb]');
    expect(error.message).toContain(rule);
  });

  it('a missing xz or zstd names the Debian package to install, and nothing is written', async () => {
    const dir = await tree();
    const saved = process.env.PATH;
    try {
      for (const [compression, debianPackage] of [
        ['xz', 'xz-utils'],
        ['zstd', 'zstd'],
      ] as const) {
        process.env.PATH = await tempDir('emptypath');
        const outDir = join(await tempDir('out'), 'not-yet');
        const error = await rejection(build({ compression }, dir, outDir));
        expect(isRingmasterError(error, 'PACKAGE')).toBe(true);
        expect(error.message).toContain(`needs the ${compression} command`);
        expect(error.message).toContain(`apt-get install ${debianPackage}`);
        await expect(readdir(outDir)).rejects.toThrow(/ENOENT/);
      }
    } finally {
      process.env.PATH = saved;
    }
  });

  it('a failing compressor fails the build with its exit code and stderr, and leaves no file behind', async () => {
    const dir = await tree();
    const bin = await tempDir('fakebin');
    // Reads a little, complains, exits 3; the other one is killed by a signal.
    await writeFile(
      join(bin, 'xz'),
      '#!/bin/sh\nhead -c 1000 > /dev/null\necho "xz: out of cheese" >&2\nexit 3\n',
    );
    await writeFile(join(bin, 'zstd'), '#!/bin/sh\nhead -c 1000 > /dev/null\nkill -9 $$\n');
    await chmod(join(bin, 'xz'), 0o755);
    await chmod(join(bin, 'zstd'), 0o755);
    const saved = process.env.PATH;
    try {
      process.env.PATH = `${bin}:${saved}`;
      for (const [compression, says] of [
        ['xz', /exited with code 3: xz: out of cheese/],
        ['zstd', /was killed by SIGKILL/],
      ] as const) {
        const outDir = await tempDir('out');
        const error = await rejection(build({ compression }, dir, outDir));
        expect(isRingmasterError(error, 'PACKAGE')).toBe(true);
        expect(error.message).toMatch(says);
        expect(await readdir(outDir)).toEqual([]);
      }
    } finally {
      process.env.PATH = saved;
    }
  });
});
