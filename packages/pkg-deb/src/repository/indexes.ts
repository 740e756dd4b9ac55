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
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { fsyncFile, syncDir, tempNameFor, writeTemp } from './fs-atomic.js';
import type { PackageRecord } from './records.js';
import type { PendingSignature, Signer } from './sign.js';

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

const gzipAsync = promisify(gzip);

/** A suite's next signature, started ahead of its Release. */
interface SuiteSigning {
  /** The temporary names gpg writes InRelease and Release.gpg to. */
  inRelease: string;
  detached: string;
  pending: PendingSignature;
}

/**
 * Starts the gpg that will sign the suite's next Release, after clearing the temporary files a
 * crashed publisher left in `dists/<suite>` (under the publish lock).
 */
async function startSigning(layout: SuiteLayout, signer: Signer): Promise<SuiteSigning> {
  const dists = join(layout.dir, 'dists', layout.suite);
  await mkdir(dists, { recursive: true });
  await removeStaleTemps(dists);
  const inRelease = tempNameFor(join(dists, 'InRelease'));
  const detached = tempNameFor(join(dists, 'Release.gpg'));
  return { inRelease, detached, pending: await signer.prepare(inRelease, detached) };
}

/** Options of {@link writeIndexes}. */
export interface WriteIndexesOptions {
  /** Compresses one `Packages` (`path`: `main/binary-amd64/Packages`). @default gzip -9 */
  gzip?: (data: Buffer, path: string) => Promise<Buffer>;
  /**
   * Awaited after every new file is durable and before the first rename: what must be on disk
   * before the suite changes (a ring suite's in-flight record), written meanwhile.
   */
  ready?: Promise<unknown>;
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * A record's stanza as it goes into Packages (UTF-8, then a blank line), made once per record:
 * the catalogue keeps its records, and a publish into thousands re-joins them all.
 */
const stanzaCache = new WeakMap<PackageRecord, Buffer>();
function stanzaBytes(record: PackageRecord): Buffer {
  let bytes = stanzaCache.get(record);
  if (!bytes) {
    bytes = Buffer.from(`${record.stanza}\n\n`);
    stanzaCache.set(record, bytes);
  }
  return bytes;
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

/** Renders the Release file for the given index files (`sha256`: their hash, when known already). */
export function renderRelease(
  layout: SuiteLayout,
  files: { path: string; data: Buffer; sha256?: string }[],
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
  for (const f of files)
    lines.push(` ${f.sha256 ?? sha256(f.data)} ${String(f.data.length).padStart(width)} ${f.path}`);
  return `${lines.join('\n')}\n`;
}

/**
 * Regenerates and atomically publishes every index of the suite. Resolves with the SHA-256 of
 * each index written, by path in the suite (`main/binary-amd64/Packages`, `….gz`): the sums the
 * Release names.
 */
export async function writeIndexes(
  layout: SuiteLayout,
  records: readonly PackageRecord[],
  signer: Signer | undefined,
  now: Date,
  options: WriteIndexesOptions = {},
): Promise<Record<string, string>> {
  const dists = join(layout.dir, 'dists', layout.suite);
  const temps: string[] = [];
  const renames: [string, string][][] = [];
  const sums: Record<string, string> = {};
  let renamed = false;
  // gpg starts now and waits for the Release, while the indexes are built: the Release names
  // them by hash alone, so it is signed while they are written.
  const starting = signer && startSigning(layout, signer);
  starting?.catch(() => undefined); // rejects through the await below
  let signed = false;
  try {
    if (!starting) {
      await mkdir(dists, { recursive: true });
      await removeStaleTemps(dists);
    }
    // Each architecture's Packages and Packages.gz (gzip on the thread pool), hashed in memory.
    const indexes = await Promise.all(
      layout.architectures.map(async (arch) => {
        const rel = `${layout.component}/binary-${arch}`;
        const dir = join(dists, rel);
        const byHash = join(dir, 'by-hash', 'SHA256');
        await mkdir(byHash, { recursive: true });
        await removeStaleTemps(dir);
        const stanzas = records
          .filter((r) => r.architecture === arch || r.architecture === 'all')
          .map(stanzaBytes);
        // Each stanza ends with a blank line but the last, which ends with its newline.
        const joined = Buffer.concat(stanzas);
        const packages = joined.subarray(0, Math.max(0, joined.length - 1));
        const packagesGz = await (options.gzip
          ? options.gzip(packages, `${rel}/Packages`)
          : gzipAsync(packages, { level: 9 }));
        const files = [
          { name: 'Packages', data: packages },
          { name: 'Packages.gz', data: packagesGz },
        ].map((f) => ({ ...f, path: `${rel}/${f.name}`, sha256: sha256(f.data) }));
        return { dir, byHash, files };
      }),
    );
    const releaseFiles = indexes.flatMap((i) => i.files);
    for (const f of releaseFiles) sums[f.path] = f.sha256;

    /** Writes one architecture's index files to temporary names, fsynced, and their by-hash links. */
    const writeIndexFiles = async ({ dir, byHash, files }: (typeof indexes)[number]) => {
      const keep = new Set(files.map((f) => f.sha256));
      const written = await Promise.all(
        files.map(async (f) => {
          const temp = await writeTemp(join(dir, f.name), f.data);
          temps.push(temp);
          // The by-hash copy appears first and never changes: a hash names one content forever.
          await link(temp, join(byHash, f.sha256)).catch((error: NodeJS.ErrnoException) => {
            if (error.code !== 'EEXIST') throw error;
          });
          return [temp, join(dir, f.name)] as [string, string];
        }),
      );
      await syncDir(byHash);
      await pruneByHash(byHash, keep);
      return written;
    };

    const signing = await starting;
    if (signing) temps.push(signing.inRelease, signing.detached);
    const release = Buffer.from(renderRelease(layout, releaseFiles, now));
    const releaseTemp = tempNameFor(join(dists, 'Release'));
    temps.push(releaseTemp);
    const [written] = await Promise.all([
      Promise.all(indexes.map(writeIndexFiles)),
      writeTemp(join(dists, 'Release'), release, releaseTemp),
      signing &&
        (async () => {
          signed = true;
          await signing.pending.sign(release);
          await Promise.all([fsyncFile(signing.inRelease), fsyncFile(signing.detached)]);
        })(),
    ]);
    // In three steps: the indexes (by-hash already in place), the signatures, the Release.
    renames.push(written.flat());
    if (signing) {
      renames.push([
        [signing.detached, join(dists, 'Release.gpg')],
        [signing.inRelease, join(dists, 'InRelease')],
      ]);
    }
    renames.push([[releaseTemp, join(dists, 'Release')]]);
    await options.ready;
    for (const step of renames) await Promise.all(step.map(([from, to]) => rename(from, to)));
    renamed = true;
    await Promise.all([...indexes.map((i) => syncDir(i.dir)), syncDir(dists)]);
    return sums;
  } finally {
    if (starting && !signed) await (await starting.catch(() => undefined))?.pending.cancel();
    // After the renames no temporary name is left; before them, none may stay.
    if (!renamed) await Promise.all(temps.map((temp) => rm(temp, { force: true })));
  }
}
