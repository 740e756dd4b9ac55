/**
 * Writes a suite's indexes from the catalogue: per architecture `Packages` and `Packages.gz`
 * (also stored under `by-hash/SHA256/`), then `Release` with sizes and SHA-256 sums, signed as
 * `InRelease` and `Release.gpg` by one gpg started before the Release exists. Everything is
 * written to temporary names and fsynced first; the renames come last, Release last of all, and
 * the Release names `Acquire-By-Hash`, so a client holding the previous Release still finds the
 * indexes it names.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { link, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { isRingmasterError, RingmasterError } from '@ringmaster/core/adapter';
import { parentsOfMade, syncDir, tempNameFor, writeTemp } from './fs-atomic.js';
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

const gzipAsync = promisify(gzip);

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

/**
 * Thrown by {@link writeIndexes} when the new indexes are in place, and served, but fsyncing
 * their directories failed: after a crash the previous ones may come back. Whatever the new
 * ones name must stay (see {@link indexesAreLive}); `details.outcome` is `'unknown'`.
 */
function liveButNotDurable(suite: string, cause: unknown): RingmasterError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new RingmasterError(
    'REPOSITORY',
    `the new indexes of suite ${suite} are in place and served, but fsyncing their directories failed, so a crash may bring the previous ones back (reindex() writes them again from the catalogue): ${reason}`,
    { scope: 'pkg-deb', cause, details: { outcome: 'unknown', indexes: 'live' } },
  );
}

/** Whether `error` says the new indexes went live (see {@link liveButNotDurable}): undo nothing they name. */
export function indexesAreLive(error: unknown): error is RingmasterError {
  return isRingmasterError(error, 'REPOSITORY') && error.details?.indexes === 'live';
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

/** Keeps the newest `BY_HASH_KEEP` files of a by-hash directory (by mtime), synchronously (a few). */
function pruneByHash(dir: string, keep: Set<string>): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  const infos = names.map((n) => ({ n, t: statSync(join(dir, n)).mtimeMs }));
  infos.sort((a, b) => b.t - a.t);
  for (const { n } of infos.slice(BY_HASH_KEEP * 2)) if (!keep.has(n)) rmSync(join(dir, n), { force: true });
}

/**
 * Removes temporary files a crashed publisher left in `dir`. Only called under the publish lock,
 * so no live publisher is writing them. Synchronous: one small listing, usually nothing to
 * remove, which the thread pool (busy with a publish's fsyncs) would only make wait.
 */
export async function removeStaleTemps(dir: string): Promise<void> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  for (const n of names) if (n.startsWith('.') && n.endsWith('.tmp')) rmSync(join(dir, n), { force: true });
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
  // No line ends with spaces or tabs, which a cleartext signature does not sign (apt trims them
  // from a value anyway): the InRelease signature is the Release.gpg one (see sign.ts).
  return `${lines.map((line) => line.replace(/[ \t]+$/, '')).join('\n')}\n`;
}

/** Awaits every promise, then throws the first rejection: no write is still running after a failure. */
async function settled<T extends unknown[]>(promises: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const results = await Promise.allSettled(promises as Promise<unknown>[]);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as T;
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
  // The signing process is forked now and waits for the Release (gpg runs once it is given),
  // while the indexes are built: the Release names them by hash alone, so it is signed while
  // they are written. Refused or not given, it is killed (see sign.ts).
  const starting = signer?.prepare();
  starting?.catch(() => undefined); // rejects through the await below
  let signed = false;
  try {
    // Synchronously, as removeStaleTemps: a directory that is there already costs a stat. The
    // parents of the directories made now are fsynced with the by-hash ones, before any rename.
    const made = parentsOfMade(dists, mkdirSync(dists, { recursive: true }));
    // Under the publish lock: what a crashed publisher left.
    await removeStaleTemps(dists);
    // Each architecture's Packages and Packages.gz (gzip on the thread pool), hashed in memory.
    const indexes = await Promise.all(
      layout.architectures.map(async (arch) => {
        const rel = `${layout.component}/binary-${arch}`;
        const dir = join(dists, rel);
        const byHash = join(dir, 'by-hash', 'SHA256');
        made.push(...parentsOfMade(byHash, mkdirSync(byHash, { recursive: true })));
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

    /** Writes `data` to a temporary name next to `path`, fsynced; resolves with [temp, path]. */
    const stage = async (path: string, data: Buffer): Promise<[string, string]> => {
      const temp = tempNameFor(path);
      temps.push(temp);
      await writeTemp(path, data, temp);
      return [temp, path];
    };

    /** Writes one architecture's index files to temporary names, fsynced, and their by-hash links. */
    const writeIndexFiles = async ({ dir, byHash, files }: (typeof indexes)[number]) => {
      const keep = new Set(files.map((f) => f.sha256));
      const written = await Promise.all(
        files.map(async (f) => {
          const [temp, path] = await stage(join(dir, f.name), f.data);
          // The by-hash copy appears first and never changes: a hash names one content forever.
          await link(temp, join(byHash, f.sha256)).catch((error: NodeJS.ErrnoException) => {
            if (error.code !== 'EEXIST') throw error;
          });
          return [temp, path] as [string, string];
        }),
      );
      await syncDir(byHash);
      pruneByHash(byHash, keep);
      return written;
    };

    const madeSynced = Promise.all([...new Set(made)].map(syncDir));
    madeSynced.catch(() => undefined); // rejects through the settled() below
    const signing = await starting;
    const release = Buffer.from(renderRelease(layout, releaseFiles, now));
    const [written, releaseFile, signatures] = await settled<
      [[string, string][][], [string, string], [string, string][]]
    >([
      madeSynced.then(() => Promise.all(indexes.map(writeIndexFiles))),
      stage(join(dists, 'Release'), release),
      signing
        ? (async () => {
            signed = true;
            const { inRelease, detached } = await signing.sign(release);
            return Promise.all([
              stage(join(dists, 'Release.gpg'), detached),
              stage(join(dists, 'InRelease'), inRelease),
            ]);
          })()
        : Promise.resolve([]),
    ]);
    // In three steps: the indexes (by-hash already in place), the signatures, the Release.
    renames.push(written.flat(), signatures, [releaseFile]);
    await options.ready;
    // Synchronously (a few renames: microseconds each, where the thread pool is busy with fsyncs).
    for (const step of renames) for (const [from, to] of step) renameSync(from, to);
    renamed = true;
    try {
      await Promise.all([...indexes.map((i) => syncDir(i.dir)), syncDir(dists)]);
    } catch (error) {
      throw liveButNotDurable(layout.suite, error);
    }
    return sums;
  } finally {
    if (starting && !signed) await (await starting.catch(() => undefined))?.cancel();
    // After the renames no temporary name is left; before them, none may stay.
    if (!renamed) await Promise.all(temps.map((temp) => rm(temp, { force: true })));
  }
}
