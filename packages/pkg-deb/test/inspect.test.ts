/**
 * The repository's in-memory package reader (small gzip or plain .debs) against readDeb(), the
 * streaming reader: on packages from deb() and dpkg-deb in every compression, and on packages
 * broken in each way the readers check, both accept the same ones with the same fields and
 * checksum, and refuse the others with the same reason.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { arHeader, listArMembers } from '../src/archive/ar.js';
import { readDeb } from '../src/archive/read-deb.js';
import { deb } from '../src/index.js';
import { readPackage, readSmallFile } from '../src/repository/inspect.js';
import { cleanup, ok, revision, tempDir, writeTree } from './helpers.js';

afterAll(cleanup);

let work: string;
const files: Record<string, string> = {};

const control =
  'Package: same\nVersion: 1.0\nArchitecture: all\nMaintainer: Ops <ops@example.com>\nDescription: a package\n';

/** Builds a .deb with dpkg-deb (`--nocheck`, so a crafted control file goes through). */
async function dpkgDeb(name: string, compression: string, text = control): Promise<string> {
  const tree = await tempDir('inspect-tree');
  await mkdir(join(tree, 'DEBIAN'));
  await mkdir(join(tree, 'opt/same'), { recursive: true });
  await writeFile(join(tree, 'DEBIAN/control'), text);
  await writeFile(join(tree, 'opt/same/data'), createHash('sha512').update(name).digest('hex').repeat(300));
  const file = join(work, `${name}.deb`);
  await ok(['dpkg-deb', '--nocheck', '--root-owner-group', `-Z${compression}`, '--build', tree, file]);
  return file;
}

/** Rewrites the .deb at `from` with its data member replaced by `edit(data)`, as `name`. */
async function withData(from: string, name: string, edit: (data: Buffer) => Buffer): Promise<string> {
  const bytes = await readFile(from);
  const members = await listArMembers(async (at, n) => bytes.subarray(at, at + n), bytes.length);
  const parts: Buffer[] = [bytes.subarray(0, 8)];
  for (const [i, m] of members.entries()) {
    const data =
      i === 2
        ? edit(bytes.subarray(m.offset, m.offset + m.size))
        : bytes.subarray(m.offset, m.offset + m.size);
    parts.push(arHeader(m.name, data.length, 0), data, data.length % 2 ? Buffer.from('\n') : Buffer.alloc(0));
  }
  const file = join(work, `${name}.deb`);
  await writeFile(file, Buffer.concat(parts));
  return file;
}

beforeAll(async () => {
  work = await tempDir('inspect');
  const tree = await writeTree(await tempDir('tree'), { 'usr/share/same/README': 'same\n'.repeat(100) });
  const built = await deb({
    name: 'same',
    version: () => '1.0',
    maintainer: 'Ops <ops@example.com>',
    description: 'a package',
  }).package({ dir: tree, revision: revision(1), outDir: work });
  files['deb() gzip'] = built.file;
  for (const c of ['gzip', 'none', 'xz', 'zstd']) files[`dpkg-deb ${c}`] = await dpkgDeb(`dpkg-${c}`, c);
  const plain = files['dpkg-deb none']!;
  const good = await readFile(built.file);
  files.truncated = join(work, 'truncated.deb');
  await writeFile(files.truncated, good.subarray(0, good.length - 100));
  files['not a .deb'] = join(work, 'script.deb');
  await writeFile(files['not a .deb'], '#!/bin/sh\nrm -rf /\n');
  const corrupt = Buffer.from(good);
  for (let i = corrupt.length - 60; i < corrupt.length - 40; i++) corrupt[i] = corrupt[i]! ^ 0x5a;
  files['corrupt gzip data'] = join(work, 'corrupt.deb');
  await writeFile(files['corrupt gzip data'], corrupt);
  files['a duplicate field'] = await dpkgDeb('duplicate', 'gzip', `${control}package: ../../x\n`);
  files['a second paragraph'] = await dpkgDeb('paragraph', 'gzip', `${control}\nPackage: other\n`);
  files['a broken tar header'] = await withData(plain, 'header', (d) => {
    const out = Buffer.from(d);
    out[100] = out[100]! ^ 0x5a;
    return out;
  });
  files['data after the end marker'] = await withData(plain, 'after', (d) =>
    Buffer.concat([d, Buffer.alloc(512, 0x78)]),
  );
  files['a tar cut inside an entry'] = await withData(plain, 'cut', (d) => d.subarray(0, 512 + 100));
  files['a tar without its end marker'] = await withData(plain, 'noend', (d) => {
    // The entries end where the trailing zero blocks begin.
    let end = d.length;
    while (end >= 512 && d.subarray(end - 512, end).every((b) => b === 0)) end -= 512;
    return d.subarray(0, end);
  });
}, 60_000);

describe('the in-memory reader agrees with readDeb()', () => {
  it.each([
    'deb() gzip',
    'dpkg-deb gzip',
    'dpkg-deb none',
    'dpkg-deb xz',
    'dpkg-deb zstd',
    'truncated',
    'not a .deb',
    'corrupt gzip data',
    'a duplicate field',
    'a second paragraph',
    'a broken tar header',
    'data after the end marker',
    'a tar cut inside an entry',
    'a tar without its end marker',
  ])('%s', async (label) => {
    const file = files[label]!;
    const streamed = await readDeb(file).then(
      (info) => ({ fields: info.fields, control: info.control, sha256: info.sha256, size: info.size }),
      (error: Error) => ({ refused: error.message }),
    );
    const inMemory = await readPackage(file, readSmallFile(file).bytes).then(
      (info) => ({ fields: info.fields, control: info.control, sha256: info.sha256, size: info.size }),
      (error: Error) => ({
        refused: /not a valid \.deb \((.*)\); the repository is unchanged$/s.exec(error.message)?.[1],
      }),
    );
    expect(inMemory).toEqual(streamed);
    const valid = label.startsWith('deb()') || label.startsWith('dpkg-deb');
    expect('refused' in streamed).toBe(!valid);
  });
});
