/**
 * The data.tar writer on its own: its bytes do not depend on how it is cut into chunks (headers,
 * long-name records, file contents and padding all cross chunk ends), GNU tar reads what it
 * writes, each MD5 is the file's, and a file that grew or shrank after the walk measured it is
 * refused wherever its end falls: inside one read, across chunks, or exactly at a chunk's end;
 * a build that fails so leaves no file and no compressor behind. Then the walk: entries in UTF-8
 * byte order, as dpkg-deb sorts them.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { statfsSync } from 'node:fs';
import {
  appendFile,
  chmod,
  mkdir,
  readdir,
  readFile,
  rm,
  symlink,
  truncate,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { isRingmasterError } from '@ringmaster/core/adapter';
import { afterAll, describe, expect, it } from 'vitest';
import { findCompressor } from '../src/archive/compress.js';
import { type ChunkSink, dataTarSize, writeDataTar } from '../src/archive/data-tar.js';
import { buildDeb } from '../src/build.js';
import { type TreeEntry, walkTree } from '../src/tree.js';
import { cleanup, ok, rejection, tempDir, writeTree } from './helpers.js';

afterAll(cleanup);

const MTIME = 1_800_000_000;

/** A sink that keeps what it is given, each chunk as written (copied: chunks are reused). */
function collect(): { sink: ChunkSink; bytes(): Buffer; chunks: number[] } {
  const parts: Buffer[] = [];
  const chunks: number[] = [];
  return {
    sink: {
      write: (bytes, done) => {
        parts.push(Buffer.from(bytes));
        chunks.push(bytes.length);
        setImmediate(done);
      },
    },
    bytes: () => Buffer.concat(parts),
    chunks,
  };
}

async function tar(dir: string, chunkSize: number) {
  const entries = await walkTree(dir, { prefix: 'opt/t', keepModes: false });
  const md5s = new Map<string, string>();
  const out = collect();
  await writeDataTar(entries, MTIME, md5s, out.sink, { size: chunkSize, count: 3, reuse: true });
  return { entries, md5s, bytes: out.bytes(), chunks: out.chunks };
}

const md5 = (data: Buffer | string) => createHash('md5').update(data).digest('hex');

describe('writeDataTar', () => {
  it('writes the same bytes whatever the chunk size, and GNU tar reads them back', async () => {
    const files: Record<string, Buffer | string | { link: string }> = {};
    // Sizes around the 512-byte blocks and the chunk sizes below.
    for (const size of [0, 1, 511, 512, 513, 999, 1000, 1001, 4095, 4096, 4097, 70_000]) {
      files[`sizes/f${size}`] = Buffer.alloc(size, size % 251);
    }
    files[`${'n'.repeat(120)}/${'m'.repeat(90)}.txt`] = 'a long name\n';
    files['links/long'] = { link: `../${'t'.repeat(150)}` };
    files[`${'t'.repeat(150)}`] = 'the long link target\n';
    const dir = await writeTree(await tempDir('chunks'), files);

    const reference = await tar(dir, 1 << 20);
    expect(reference.bytes.length).toBe(dataTarSize(reference.entries));
    for (const size of [512, 1000, 4096, 4096 + 512]) {
      const cut = await tar(dir, size);
      expect(
        cut.chunks.slice(0, -1).every((n) => n === size),
        `chunks of ${size}`,
      ).toBe(true);
      expect(cut.chunks.length).toBeGreaterThan(1);
      expect(cut.bytes.equals(reference.bytes), `chunks of ${size}`).toBe(true);
      expect(cut.md5s).toEqual(reference.md5s);
    }

    const tarFile = join(await tempDir('tarfile'), 'data.tar');
    await writeFile(tarFile, reference.bytes);
    const listing = await ok(['tar', '--numeric-owner', '-tvf', tarFile]);
    expect(listing).toContain(`./opt/t/${'n'.repeat(120)}/${'m'.repeat(90)}.txt`);
    expect(listing).toContain(`./opt/t/links/long -> ../${'t'.repeat(150)}`);
    const x = await tempDir('x');
    await ok(['tar', '-xf', tarFile, '-C', x]);
    for (const [path, content] of Object.entries(files)) {
      if (typeof content === 'object' && !Buffer.isBuffer(content)) continue;
      const back = await readFile(join(x, 'opt/t', path));
      expect(back.equals(Buffer.from(content)), path).toBe(true);
      expect(reference.md5s.get(`opt/t/${path}`), path).toBe(md5(back));
    }
  });

  describe.each([
    // The file's data ends inside the first chunk, after several chunks, or exactly at a chunk's end.
    ['inside one read', () => 1 << 20],
    ['across chunks', () => 700],
    ['exactly at a chunk end', (offset: number, size: number) => offset + size],
  ] as const)('a file that changed after the walk, its end %s', (_, chunkSize) => {
    // ./ then ./opt/, ./opt/t/ and ./opt/t/f: the file's data starts after four headers.
    const offset = 4 * 512;
    const SIZE = 3000;

    async function changedTree(change: (file: string) => Promise<void>) {
      const dir = await writeTree(await tempDir('changed'), { f: Buffer.alloc(SIZE, 7) });
      const entries = await walkTree(dir, { prefix: 'opt/t', keepModes: false });
      await change(join(dir, 'f'));
      const out = collect();
      return writeDataTar(entries, MTIME, new Map(), out.sink, {
        size: chunkSize(offset, SIZE),
        count: 2,
        reuse: true,
      }).then(() => out);
    }

    it('is packaged when it did not change', async () => {
      const out = await changedTree(async () => {});
      const tarred = out.bytes();
      expect(tarred.subarray(offset, offset + SIZE).equals(Buffer.alloc(SIZE, 7))).toBe(true);
    });

    it('is refused when it grew', async () => {
      const error = await rejection(changedTree((file) => appendFile(file, 'x')));
      expect(isRingmasterError(error, 'PACKAGE')).toBe(true);
      expect(error.message).toMatch(/\/f changed size while it was packaged/);
    });

    it('is refused when it shrank', async () => {
      const error = await rejection(changedTree((file) => truncate(file, SIZE - 1)));
      expect(isRingmasterError(error, 'PACKAGE')).toBe(true);
      expect(error.message).toMatch(/\/f changed size while it was packaged/);
    });

    it.each([
      ['removed', (file: string) => rm(file), /\/f was removed while it was packaged/],
      ['replaced by a directory', (file: string) => rm(file).then(() => mkdir(file)), /\/f was replaced/],
      [
        'replaced by a symlink',
        (file: string) => rm(file).then(() => symlink('/etc/hostname', file)),
        /\/f was replaced/,
      ],
      ['made executable', (file: string) => chmod(file, 0o755), /\/f changed its executable bits/],
    ] as const)('is refused, clearly, when it was %s', async (_, change, message) => {
      const error = await rejection(changedTree(change));
      expect(isRingmasterError(error, 'PACKAGE')).toBe(true);
      expect(error.message).toMatch(message);
    });
  });
});

/** buildDeb's spec for a package `name` of `entries`: uncompressed, unless `more` says otherwise. */
const specOf = (
  name: string,
  entries: TreeEntry[],
  outFile: string,
  more: Partial<Parameters<typeof buildDeb>[0]> = {},
): Parameters<typeof buildDeb>[0] => ({
  control: {
    package: name,
    version: '1',
    architecture: 'all',
    maintainer: 'A <a@example.com>',
    description: 'x',
  },
  entries,
  conffiles: [],
  scripts: {},
  mtime: MTIME,
  compression: 'none',
  level: 0,
  outFile,
  ...more,
});

describe('buildDeb', () => {
  it('a build that fails on a changed file leaves no file and no compressor behind', async () => {
    const dir = await writeTree(await tempDir('failing'), {
      'usr/share/t/a.bin': Buffer.alloc(3 << 20, 1),
      'usr/share/t/z.bin': Buffer.alloc(1000, 2),
    });
    const entries = await walkTree(dir, { prefix: '', keepModes: false });
    await appendFile(join(dir, 'usr/share/t/z.bin'), 'more');
    // zstd through a wrapper that records its PID (exec keeps it): control.tar's and data.tar's.
    const bin = await tempDir('bin');
    const pids = join(bin, 'pids');
    await writeFile(join(bin, 'zstd'), `#!/bin/sh\necho $$ >> ${pids}\nexec /usr/bin/zstd "$@"\n`);
    await chmod(join(bin, 'zstd'), 0o755);
    const saved = process.env.PATH;
    let compressor: Awaited<ReturnType<typeof findCompressor>>;
    try {
      process.env.PATH = `${bin}:${saved}`;
      compressor = await findCompressor('zstd', 3);
    } finally {
      process.env.PATH = saved;
    }
    expect(compressor!.file).toBe(join(bin, 'zstd'));
    const outDir = await tempDir('out');
    const error = await rejection(
      buildDeb(
        specOf('failing', entries, join(outDir, 'failing_1_all.deb'), {
          compression: 'zstd',
          level: 3,
          compressor,
        }),
      ),
    );
    expect(isRingmasterError(error, 'PACKAGE')).toBe(true);
    expect(error.message).toMatch(/z\.bin changed size while it was packaged/);
    expect(await readdir(outDir)).toEqual([]);
    const started = (await readFile(pids, 'utf8')).trim().split('\n').map(Number);
    expect(started).toHaveLength(2);
    for (const pid of started) expect(() => process.kill(pid, 0), `zstd ${pid}`).toThrow(/ESRCH/);
  });
});

describe('a disk that fills', () => {
  it('while the .deb is written: the build fails with ENOSPC, and leaves no .deb and no temporary file', async () => {
    // 4 MB that do not compress: data.tar fits on the 6 MB disk, the .deb beside it does not.
    const dir = await writeTree(await tempDir('full'), { 'usr/share/t/noise.bin': randomBytes(4 << 20) });
    const entries = await walkTree(dir, { prefix: '', keepModes: false });
    const outDir = await tempDir('tiny');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', outDir]);
    try {
      const error = await rejection(buildDeb(specOf('full', entries, join(outDir, 'full_1_all.deb'))));
      expect(error.message).toMatch(/ENOSPC|no space/i);
      expect(await readdir(outDir)).toEqual([]);
    } finally {
      execFileSync('umount', [outDir]);
    }
  });
});

describe('a disk that fills by less than a page', () => {
  it('the short last write is an error, not a .deb without its end under a sha256 of all of it', async () => {
    const dir = await writeTree(await tempDir('short'), { 'usr/share/t/noise.bin': randomBytes(4 << 20) });
    const entries = await walkTree(dir, { prefix: '', keepModes: false });
    const spec = (outFile: string) => specOf('short', entries, outFile);
    const { size } = await buildDeb(spec(join(await tempDir('sized'), 'short_1_all.deb')));
    const outDir = await tempDir('short-disk');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', outDir]);
    try {
      // Room for data.tar and all of the .deb but its last page: the .deb's last write is short.
      const { bavail, bsize } = statfsSync(outDir);
      const pages = (bytes: number) => Math.ceil(bytes / bsize);
      await writeFile(
        join(outDir, 'filler'),
        Buffer.alloc((bavail - pages(dataTarSize(entries)) - pages(size) + 1) * bsize),
      );
      const error = await rejection(buildDeb(spec(join(outDir, 'short_1_all.deb'))));
      expect(error.message).toMatch(/ENOSPC|no space/i);
      expect(await readdir(outDir)).toEqual(['filler']);
    } finally {
      execFileSync('umount', [outDir]);
    }
  });
});

describe('walkTree', () => {
  it('sorts entries by their UTF-8 bytes, as dpkg-deb does, not by UTF-16 code units', async () => {
    // U+E000 sorts after U+10000 in UTF-16 (a surrogate pair starts with 0xD800) but before it in UTF-8.
    const dir = await writeTree(await tempDir('utf8'), {
      'a/\u{10000}': '1',
      'a/\u{E000}': '2',
      'a/z': '3',
      'a-b': '4',
      'a.c': '5',
    });
    const entries = await walkTree(dir, { prefix: '', keepModes: false });
    const paths = entries.map((e) => e.path);
    expect(paths).toEqual(['a', 'a-b', 'a.c', 'a/z', 'a/\u{E000}', 'a/\u{10000}']);
    const bytes = [...paths].sort((p, q) => Buffer.compare(Buffer.from(p), Buffer.from(q)));
    expect(paths).toEqual(bytes);
  });
});
