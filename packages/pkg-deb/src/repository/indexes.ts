/**
 * Writes a suite's indexes from the catalogue: per architecture `Packages` and `Packages.gz`
 * (also stored under `by-hash/SHA256/`), then `Release` with sizes and SHA-256 sums, signed as
 * `InRelease` and `Release.gpg`. Everything is written to temporary names and fsynced first;
 * the renames come last, Release last of all, and the Release names `Acquire-By-Hash`, so a
 * client holding the previous Release still finds the indexes it names.
 */
import { createHash } from 'node:crypto';
import { link, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { fsyncFile, syncDir, tempNameFor, writeTemp } from './fs-atomic.js';
import type { PackageRecord } from './records.js';
import type { Signer } from './sign.js';

export interface SuiteLayout {
  dir: string;
  suite: string;
  codename: string;
  component: string;
  architectures: string[];
  origin: string;
  label: string;
  description?: string;
}

/** How many by-hash generations of each index stay for clients holding an older Release. */
const BY_HASH_KEEP = 4;

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Keeps the newest `BY_HASH_KEEP` files of a by-hash directory (by mtime). */
async function pruneByHash(dir: string, keep: Set<string>): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const infos = await Promise.all(names.map(async (n) => ({ n, t: (await stat(join(dir, n))).mtimeMs })));
  infos.sort((a, b) => b.t - a.t);
  for (const { n } of infos.slice(BY_HASH_KEEP * 2))
    if (!keep.has(n)) await rm(join(dir, n), { force: true });
}

/**
 * Removes temporary files a crashed publisher left in `dir`. Only called under the publish lock,
 * so no live publisher is writing them.
 */
export async function removeStaleTemps(dir: string): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  await Promise.all(
    names
      .filter((n) => n.startsWith('.') && n.endsWith('.tmp'))
      .map((n) => rm(join(dir, n), { force: true })),
  );
}

/** Renders the Release file for the given index files. */
export function renderRelease(
  layout: SuiteLayout,
  files: { path: string; data: Buffer }[],
  date: Date,
): string {
  const lines = [
    `Origin: ${layout.origin}`,
    `Label: ${layout.label}`,
    `Suite: ${layout.suite}`,
    `Codename: ${layout.codename}`,
    `Date: ${date.toUTCString()}`,
    `Architectures: ${layout.architectures.join(' ')}`,
    `Components: ${layout.component}`,
    ...(layout.description ? [`Description: ${layout.description}`] : []),
    'Acquire-By-Hash: yes',
    'SHA256:',
  ];
  const width = Math.max(...files.map((f) => String(f.data.length).length), 1);
  for (const f of files) lines.push(` ${sha256(f.data)} ${String(f.data.length).padStart(width)} ${f.path}`);
  return `${lines.join('\n')}\n`;
}

/** Regenerates and atomically publishes every index of the suite. */
export async function writeIndexes(
  layout: SuiteLayout,
  records: PackageRecord[],
  signer: Signer | undefined,
  now: Date,
): Promise<void> {
  const dists = join(layout.dir, 'dists', layout.suite);
  const temps: string[] = [];
  const renames: [string, string][] = [];
  const releaseFiles: { path: string; data: Buffer }[] = [];
  try {
    for (const arch of layout.architectures) {
      const rel = `${layout.component}/binary-${arch}`;
      const dir = join(dists, rel);
      const byHash = join(dir, 'by-hash', 'SHA256');
      await mkdir(byHash, { recursive: true });
      await removeStaleTemps(dir);
      const stanzas = records
        .filter((r) => r.architecture === arch || r.architecture === 'all')
        .map((r) => r.stanza);
      const packages = Buffer.from(stanzas.length ? `${stanzas.join('\n\n')}\n` : '');
      const packagesGz = gzipSync(packages, { level: 9 });
      const keep = new Set<string>();
      for (const [name, data] of [
        ['Packages', packages],
        ['Packages.gz', packagesGz],
      ] as const) {
        const hash = sha256(data);
        keep.add(hash);
        const temp = await writeTemp(join(dir, name), data);
        temps.push(temp);
        // The by-hash copy appears first and never changes: a hash names one content forever.
        await link(temp, join(byHash, hash)).catch((error: NodeJS.ErrnoException) => {
          if (error.code !== 'EEXIST') throw error;
        });
        renames.push([temp, join(dir, name)]);
        releaseFiles.push({ path: `${rel}/${name}`, data });
      }
      await syncDir(byHash);
      await pruneByHash(byHash, keep);
    }
    await removeStaleTemps(dists);
    const release = Buffer.from(renderRelease(layout, releaseFiles, now));
    const releaseTemp = await writeTemp(join(dists, 'Release'), release);
    temps.push(releaseTemp);
    if (signer) {
      const inRelease = tempNameFor(join(dists, 'InRelease'));
      const detached = tempNameFor(join(dists, 'Release.gpg'));
      temps.push(inRelease, detached);
      await Promise.all([
        signer.sign(releaseTemp, inRelease, 'clear'),
        signer.sign(releaseTemp, detached, 'detach'),
      ]);
      await Promise.all([fsyncFile(inRelease), fsyncFile(detached)]);
      renames.push([detached, join(dists, 'Release.gpg')], [inRelease, join(dists, 'InRelease')]);
    }
    renames.push([releaseTemp, join(dists, 'Release')]);
    for (const [from, to] of renames) await rename(from, to);
    for (const arch of layout.architectures) await syncDir(join(dists, layout.component, `binary-${arch}`));
    await syncDir(dists);
  } finally {
    for (const temp of temps) await rm(temp, { force: true });
  }
}
