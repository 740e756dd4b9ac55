/**
 * The catalogue (`.ringmaster/catalogue/`): a publish writes one file however many packages it
 * adds; another repository object on the same directory reads what was added since it last
 * looked; many publishes (and retention's removals) are folded into a new base, which every
 * reader then agrees with; and the signed index always lists what the catalogue holds.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { aptRepository } from '../src/index.js';
import { Catalogue } from '../src/repository/catalogue.js';
import type { PackageRecord } from '../src/repository/records.js';
import { buildVersion, cleanup, tempDir } from './helpers.js';

afterAll(cleanup);

const PACKAGES = 'dists/stable/main/binary-amd64/Packages';

const build = (name: string, version: string) => buildVersion(name, version);

const files = async (dir: string) => (await readdir(join(dir, '.ringmaster/catalogue'))).sort();

/** Name and version of every stanza of the main suite's Packages. */
async function indexed(dir: string): Promise<string[]> {
  const text = await readFile(join(dir, PACKAGES), 'utf8');
  return text
    .split('\n\n')
    .map((s) => `${/^Package: (.*)$/m.exec(s)?.[1]} ${/^Version: (.*)$/m.exec(s)?.[1]}`)
    .sort();
}

describe('the catalogue', () => {
  it('takes one file per publish, however many packages it adds', async () => {
    const dir = await tempDir('repo');
    const repo = aptRepository({ dir });
    await repo.publishMany(await Promise.all(Array.from({ length: 20 }, (_, i) => build(`many${i}`, '1.0'))));
    expect(await files(dir)).toEqual(['000000000001.log']);
    await repo.publish(await build('one', '1.0'));
    expect(await files(dir)).toEqual(['000000000001.log', '000000000002.log']);
    // Publishing what is there already writes nothing.
    await repo.publish(await build('one', '1.0'));
    expect(await files(dir)).toEqual(['000000000001.log', '000000000002.log']);
    expect((await indexed(dir)).length).toBe(21);
    await repo.close();
  });

  it('is read again by another object only as far as it changed, and both agree', async () => {
    const dir = await tempDir('repo');
    const a = aptRepository({ dir });
    const b = aptRepository({ dir });
    await a.publish(await build('app', '1.0'));
    expect(await b.versions('app')).toEqual(['1.0']);
    await a.publish(await build('app', '1.1'));
    expect(await b.versions('app')).toEqual(['1.0', '1.1']);
    // b publishes on top of what it read: nothing a published is lost.
    await b.publish(await build('app', '1.2'));
    expect(await a.versions('app')).toEqual(['1.0', '1.1', '1.2']);
    expect(await indexed(dir)).toEqual(['app 1.0', 'app 1.1', 'app 1.2']);
    await a.close();
    await b.close();
  });

  it('folds many publishes and their removals into a new base, which every reader agrees with', async () => {
    const dir = await tempDir('repo');
    // keep: 1: each publish adds a version and removes the one before, two files each.
    const repo = aptRepository({ dir, keep: 1 });
    const other = aptRepository({ dir });
    await other.versions('app');
    const seen = new Set<string>();
    for (let i = 0; i < 70; i++) {
      await repo.publish(await build('app', `1.${i}`));
      for (const f of await files(dir)) seen.add(f);
    }
    // The 65th publish made the 128th file since the start: a base (the 130th file) replaced
    // them, and the files before it went; the last five publishes added ten logs after it.
    expect([...seen].filter((f) => f.endsWith('.base'))).toEqual(['000000000130.base']);
    expect(await files(dir)).toEqual([
      '000000000130.base',
      ...Array.from({ length: 10 }, (_, i) => `${String(131 + i).padStart(12, '0')}.log`),
    ]);
    expect(await repo.versions('app')).toEqual(['1.69']);
    // One that read the catalogue before the base, one that never read it: the same.
    expect(await other.versions('app')).toEqual(['1.69']);
    expect(await aptRepository({ dir }).versions('app')).toEqual(['1.69']);
    expect(await indexed(dir)).toEqual(['app 1.69']);
    expect(await readdir(join(dir, 'pool/main/a/app'))).toEqual(['app_1.69_all.deb']);
    await repo.close();
    await other.close();
  });

  it('gives concurrent readers in one process what is on disk, however their reads interleave', async () => {
    const record = (name: string): PackageRecord => ({
      name,
      version: '1.0',
      architecture: 'all',
      dependencies: [],
      filename: `pool/main/${name[0]}/${name}/${name}_1.0_all.deb`,
      sha256: '0'.repeat(64),
      size: 1,
      stanza: `Package: ${name}\nVersion: 1.0`,
    });
    const fillers = (prefix: string) => Array.from({ length: 20 }, (_, i) => record(`${prefix}${i}`));
    const dir = await tempDir('catalogue');
    const writer = new Catalogue(dir);
    await writer.add([record('keep')]);
    const readers = Array.from({ length: 48 }, () => new Catalogue(dir));
    for (const reader of readers) await reader.all();
    // Written by another process: packages, one removed, packages, one removed and added again.
    await writer.add([...fillers('a'), record('gone'), record('back')]);
    await writer.remove([record('gone')]);
    await writer.add(fillers('b'));
    await writer.remove([record('back')]);
    await writer.add([record('back')]);
    const truth = (await new Catalogue(dir).all()).map((r) => r.name);
    expect(truth).not.toContain('gone');
    expect(truth).toContain('back');
    expect(truth).toHaveLength(42);
    // Every line read yields to the event loop, as a large catalogue's reading does; each reader
    // starts its second read a different number of turns after its first.
    let clock = 0;
    const now = vi.spyOn(performance, 'now').mockImplementation(() => (clock += 1_000));
    const turns = async (n: number) => {
      for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
    };
    try {
      await Promise.all(
        readers.map(async (reader, k) => {
          const first = reader.all();
          await turns(k);
          const [a, found, b] = await Promise.all([first, reader.find('gone', '1.0'), reader.all()]);
          expect(found).toBeUndefined();
          expect(a.map((r) => r.name)).toEqual(truth);
          expect(b.map((r) => r.name)).toEqual(truth);
          expect((await reader.all()).map((r) => r.name)).toEqual(truth);
        }),
      );
    } finally {
      now.mockRestore();
    }
  });
});
