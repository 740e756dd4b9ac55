/**
 * `aptRepository(options)`: a Repository that is an ordinary signed apt repository on disk
 * (`pool/`, `dists/<suite>/<component>/binary-<arch>/Packages[.gz]`, `Release`, `InRelease`,
 * `Release.gpg`), published atomically and incrementally under a lock, with retention, a suite
 * per ring (see ring-suites.ts), and able to serve itself over HTTP on loopback.
 */
import { mkdirSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Artifact, Repository, SuiteListing } from '@ringmaster/core/adapter';
import { parseOptions, plainMessage, RingmasterError, toRingmasterError } from '@ringmaster/core/adapter';
import { fieldOf, parseControlFile } from '../archive/control-file.js';
import { sha256File } from '../archive/read-deb.js';
import { relationsOf } from '../relations.js';
import { compareVersions } from '../version.js';
import { Catalogue } from './catalogue.js';
import { mapLimit } from './concurrency.js';
import { parentsOfMade, StagedFiles, syncDir, syncParentDir } from './fs-atomic.js';
import { indexesAreLive, writeIndexes } from './indexes.js';
import { packageRecord, readPackage, readSmallFile } from './inspect.js';
import { acquireLock } from './lock.js';
import { type AptRepositoryOptions, aptRepositoryOptionsSchema } from './options.js';
import type { PackageRecord } from './records.js';
import { rebuildCatalogue } from './reindex.js';
import { ringSuites } from './ring-suites.js';
import { SegmentedGzip } from './segmented-gzip.js';
import { type RepositoryServer, type ServeOptions, serveDirectory } from './serve.js';
import { Signer } from './sign.js';

const SCOPE = 'pkg-deb';
/** Packages read, checked and staged per wave of a batch: an open pool file each until the wave is fsynced. */
const WAVE = 128;

/** Publishes of at most this many packages write their pool files synchronously. */
const FEW = 8;

/** A package a publish adds: its record, the file it came from, and its bytes when they were read whole. */
interface Fresh {
  record: PackageRecord;
  source: string;
  bytes?: Buffer;
}
/** The Repository `aptRepository()` returns. */
export interface AptRepository extends Repository {
  readonly name: 'apt';
  /** The repository root. */
  readonly dir: string;
  /** Serves the repository over HTTP (127.0.0.1 by default). */
  serve(options?: ServeOptions): Promise<RepositoryServer>;
  /**
   * Publishes several packages under one lock with one index rewrite: all are checked first, and
   * if any is refused none is published.
   */
  publishMany(artifacts: readonly Artifact[]): Promise<Artifact[]>;
  /**
   * Makes the ring's suite (`dists/<suite>`, see the `suites` option) list each artifact as the
   * version it installs: versions of the package above it leave the suite, and the `suiteKeep`
   * newest at or below it stay. Every artifact must be published (same name, version,
   * architecture and sha256), or nothing changes (`REPOSITORY`). Idempotent: admitting what the
   * suite lists rewrites nothing.
   *
   * @example
   * ```ts
   * await repo.admit('prod', [bar, foo]);
   * // hosts: deb [signed-by=/etc/apt/keyrings/repo.asc] http://127.0.0.1:8080/ prod main
   * ```
   */
  admit(ring: string, artifacts: readonly Artifact[]): Promise<SuiteListing>;
  /** What the ring's suite lists now (nothing when nothing was admitted to it). */
  suite(ring: string): Promise<SuiteListing>;
  /**
   * Rebuilds the catalogue from the pool and rewrites every index, the ring suites' too: after a
   * crash, to re-sign, or when `.ringmaster/` or `dists/` was lost. Every `.deb` under
   * `pool/<component>/` is what the repository holds. One whose catalogue record has a stat key
   * that still matches it (device, inode, size, mtime and ctime, as git's index keeps them; a
   * file changed under the same size with its mtime put back has a new ctime) is taken from the
   * record; any other is read and its SHA-256 compared with the record's, and one that differs,
   * or has no record, is checked in full, as a publish checks it. A pool file that is not a
   * valid package, or not at its own pool path, fails the call (`REPOSITORY`) with nothing
   * changed. Resolves with how many packages the pool holds, how many were read to compare
   * their checksum, and how many of those were read and checked in full.
   *
   * @example
   * ```ts
   * await aptRepository({ dir: '/srv/apt', signingKey }).reindex();
   * // { packages: 5000, checksummed: 3, read: 1 }: three files touched since, one of them changed
   * ```
   */
  reindex(): Promise<{ packages: number; read: number; checksummed: number }>;
  /** Stops the servers it started and the private gpg-agent, if any. */
  close(): Promise<void>;
}

/** For removing what may never have been made: a file gone, or a directory in its path missing or not one. */
const notThere = (error: NodeJS.ErrnoException) => {
  if (error.code !== 'ENOENT' && error.code !== 'ENOTDIR') throw error;
};

function toArtifact(root: string, r: PackageRecord): Artifact {
  return {
    name: r.name,
    version: r.version,
    architecture: r.architecture,
    dependencies: r.dependencies,
    file: join(root, r.filename),
    sha256: r.sha256,
    size: r.size,
    format: 'deb',
    relations: relationsOf(controlFieldsOf(r.stanza)),
  };
}

/**
 * The package's own control fields from its Packages stanza: the stanza without the fields the
 * repository adds (Filename, Size, SHA256), which a control file may not have.
 */
function controlFieldsOf(stanza: string): [string, string][] {
  return parseControlFile(
    stanza
      .split('\n')
      .filter((line) => !/^(Filename|Size|SHA256):/.test(line))
      .join('\n'),
  );
}

/**
 * Creates an apt repository rooted at `dir`. Nothing is touched until the first call.
 *
 * @example
 * ```ts
 * import { aptRepository, deb } from '@ringmaster/pkg-deb';
 * const repo = aptRepository({ dir: '/srv/apt', signingKey: { keyFile: 'repo.asc' }, keep: 5 });
 * await repo.publish(artifact);
 * const server = await repo.serve({ port: 8080 });
 * // hosts: deb [signed-by=/etc/apt/keyrings/repo.asc] http://127.0.0.1:8080/ stable main
 * ```
 */
export function aptRepository(options: AptRepositoryOptions): AptRepository {
  const o = parseOptions(aptRepositoryOptionsSchema, options, SCOPE);
  const root = resolve(o.dir);
  const state = join(root, '.ringmaster');
  const catalogue = new Catalogue(state);
  const signer = o.signingKey ? new Signer(o.signingKey) : undefined;
  const layout = {
    dir: root,
    suite: o.suite,
    codename: o.codename ?? o.suite,
    component: o.component,
    architectures: o.architectures,
    origin: o.origin,
    label: o.label,
  };
  const servers = new Set<RepositoryServer>();
  // The main suite is rewritten on every publish: its Packages.gz recompresses only what changed.
  const compressors = new Map<string, SegmentedGzip>();
  const gzip = (data: Buffer, path: string) => {
    if (!compressors.has(path)) compressors.set(path, new SegmentedGzip(9));
    return compressors.get(path)!.gzip(data);
  };
  const rings = ringSuites({
    layout,
    catalogue,
    signer,
    dir: join(state, 'suites'),
    suites: o.suites,
    suiteKeep: o.suiteKeep,
  });

  /**
   * A repository an older version wrote keeps its catalogue as a file per package: it is rebuilt
   * from the pool (every package read and checked), once, under the lock.
   */
  const upgrade = async () => {
    if (!catalogue.legacy()) return;
    await rebuildCatalogue(root, catalogue, o);
    await rm(catalogue.legacyDir, { recursive: true, force: true });
  };

  const locked = async <T>(fn: () => Promise<T>): Promise<T> => {
    // A repository made now (the first publish) is kept across a crash, its directory included.
    for (const dir of parentsOfMade(state, await mkdir(state, { recursive: true }))) {
      await (dir === root || dir.startsWith(`${root}/`) ? syncDir(dir) : syncParentDir(dir));
    }
    const release = await acquireLock(join(state, 'lock'), o.lockTimeoutMs);
    try {
      await upgrade();
      return await fn();
    } finally {
      await release();
    }
  };

  /** Reads the catalogue outside the lock (taking it once to upgrade an older one). */
  const current = async () => {
    if (catalogue.legacy()) await locked(async () => undefined);
    return catalogue;
  };

  const protectedVersions = async (name: string): Promise<Set<string>> => {
    if (!o.protect) return new Set();
    if (typeof o.protect === 'function') return new Set(await o.protect(name));
    return new Set(o.protect.filter((p) => p.startsWith(`${name}=`)).map((p) => p.slice(name.length + 1)));
  };

  /** Records retention drops for `name`: never one of `keepVersions`, a protected one or one a ring suite lists. */
  const expired = async (
    records: PackageRecord[],
    name: string,
    keepVersions: Set<string>,
    listed: Map<string, Set<string>>,
  ): Promise<PackageRecord[]> => {
    if (o.keep === undefined) return [];
    const mine = records.filter((r) => r.name === name);
    const versions = [...new Set(mine.map((r) => r.version))].sort(compareVersions);
    const safe = await protectedVersions(name);
    const inSuites = listed.get(name) ?? new Set<string>();
    const drop = new Set(
      versions
        .slice(0, Math.max(0, versions.length - o.keep))
        .filter((v) => !keepVersions.has(v) && !safe.has(v) && !inSuites.has(v)),
    );
    return mine.filter((r) => drop.has(r.version));
  };

  /** Reads and checks one package without touching the repository. */
  const inspect = async (artifact: Artifact): Promise<{ record: PackageRecord; bytes?: Buffer }> => {
    let small: ReturnType<typeof readSmallFile> | undefined;
    try {
      small = readSmallFile(artifact.file);
    } catch {
      // readPackage says what is wrong with a file that cannot be read.
    }
    const info = await readPackage(artifact.file, small?.bytes);
    const name = fieldOf(info.fields, 'Package')!;
    const version = fieldOf(info.fields, 'Version')!;
    if (name !== artifact.name || version !== artifact.version) {
      throw new RingmasterError(
        'REPOSITORY',
        `${artifact.file} contains ${name} ${version}, not ${artifact.name} ${artifact.version}; the repository is unchanged`,
        { scope: SCOPE, details: { path: artifact.file } },
      );
    }
    const record = packageRecord(artifact.file, info, o);
    return { record, ...(info.bytes ? { bytes: info.bytes } : {}) };
  };

  const publishManyLocked = async (artifacts: readonly Artifact[]): Promise<Artifact[]> => {
    const all = await catalogue.all();
    const published = catalogue.byFilename();
    const batch = new Map<string, PackageRecord>();
    const byFile = (filename: string) => batch.get(filename) ?? published.get(filename);
    const inspected: PackageRecord[] = [];
    const fresh: Fresh[] = [];
    const pools = new StagedFiles();
    // A publish of a few packages writes their files synchronously; a batch through the thread
    // pool, in parallel, while its next packages are read.
    const few = artifacts.length <= FEW;
    const poolDirs = new Map<string, Promise<unknown>>();
    /** Fsynced once the pool files are renamed: the directory of each, and of each new directory. */
    const changedDirs = new Set<string>();
    const poolDir = (file: string) => {
      const parent = dirname(file);
      if (!poolDirs.has(parent)) {
        changedDirs.add(parent);
        const made = (first: string | undefined) => {
          for (const dir of parentsOfMade(parent, first)) changedDirs.add(dir);
        };
        poolDirs.set(
          parent,
          few
            ? Promise.resolve(made(mkdirSync(parent, { recursive: true })))
            : mkdir(parent, { recursive: true }).then(made),
        );
      }
      return poolDirs.get(parent);
    };
    /** Writes a wave's pool files under temporary names, then fsyncs and closes them. */
    const writeWave = async (wave: Fresh[]) => {
      await mapLimit(wave, 8, async ({ record, source, bytes }) => {
        const pool = join(root, record.filename);
        await poolDir(pool);
        // Store the bytes that were checked when we have them, so a file swapped meanwhile cannot slip in.
        if (bytes) {
          if (few) pools.writeNow(pool, bytes);
          else await pools.write(pool, bytes);
          return;
        }
        const temp = await pools.copy(pool, source);
        // A large file is not held in memory: check the copy is what was inspected.
        if ((await sha256File(temp)) !== record.sha256) {
          throw new RingmasterError(
            'REPOSITORY',
            `${source} changed while it was being published; publish it again`,
            { scope: SCOPE, details: { path: source } },
          );
        }
      });
      await pools.sync();
    };
    // The packages are read and checked a wave at a time, and each wave's pool files written
    // (invisible, under temporary names) while the next wave is read: if one is refused, the
    // temporary files go and nothing else changed.
    let writing: Promise<void> = Promise.resolve();
    try {
      for (let at = 0; at < artifacts.length; at += WAVE) {
        const wave: Fresh[] = [];
        for (const [j, { record, bytes }] of (
          await mapLimit(artifacts.slice(at, at + WAVE), 8, inspect)
        ).entries()) {
          inspected.push(record);
          const existing = byFile(record.filename);
          if (existing && existing.name === record.name && existing.version === record.version) {
            if (existing.sha256 === record.sha256) continue;
            throw new RingmasterError(
              'REPOSITORY',
              `${record.name} ${record.version} (${record.architecture}) is already published with different bytes (sha256 ${existing.sha256.slice(0, 12)}…, new ${record.sha256.slice(0, 12)}…); a version is published once — bump the version`,
              { scope: SCOPE, details: { name: record.name, version: record.version } },
            );
          }
          if (existing) {
            throw new RingmasterError(
              'REPOSITORY',
              `${record.name} ${record.version} would overwrite ${record.filename} of ${existing.name} ${existing.version} (versions differing only by epoch share a file name); choose another version`,
              { scope: SCOPE, details: { name: record.name, version: record.version } },
            );
          }
          batch.set(record.filename, record);
          wave.push({ record, source: artifacts[at + j]!.file, ...(bytes ? { bytes } : {}) });
        }
        fresh.push(...wave);
        // Written while the next wave is read; one wave's files open at a time, created once the
        // wave before is fsynced (a file created while the journal commits an fsync waits for it).
        writing = writing.then(() => writeWave(wave));
        writing.catch(() => undefined); // rejects through the awaits below
      }
    } catch (error) {
      await writing.catch(() => undefined);
      await pools.discard();
      throw error;
    }
    const stored = () => inspected.map((record) => toArtifact(root, byFile(record.filename)!));
    if (fresh.length === 0) return stored();

    const records = [...all, ...fresh.map((f) => f.record)];
    const drop: PackageRecord[] = [];
    const listed = o.keep === undefined ? new Map<string, Set<string>>() : await rings.held();
    for (const name of new Set(fresh.map((f) => f.record.name))) {
      const keepVersions = new Set(fresh.filter((f) => f.record.name === name).map((f) => f.record.version));
      drop.push(...(await expired(records, name, keepVersions, listed)));
    }
    const dropped = new Set(drop);
    /**
     * Once the pool files are written and fsynced they are renamed into place, and the records
     * are written to the catalogue's next file meanwhile, fsynced, and renamed into place after
     * the pool files, so a record never names a missing file. Nothing names either until the
     * indexes are renamed into place, which waits for this (writeIndexes' `ready`): the indexes
     * are built, compressed and signed meanwhile.
     */
    const stage = async () => {
      const adding = catalogue.prepareAdd(fresh.map((f) => f.record));
      adding.catch(() => undefined); // rejects through the await below
      try {
        await writing;
        await pools.rename();
        // Before the indexes name them: on a filesystem that does not commit in order (btrfs),
        // the indexes' own fsyncs would not keep these renames.
        await mapLimit([...changedDirs], 8, syncDir);
      } catch (error) {
        await (await adding.catch(() => undefined))?.discard();
        throw error;
      }
      await (await adding).commit();
    };
    const staged = stage();
    staged.catch(() => undefined); // rejects through writeIndexes, which awaits it
    try {
      await writeIndexes(
        layout,
        records.filter((r) => !dropped.has(r)),
        signer,
        new Date(),
        { gzip, ready: staged },
      );
    } catch (error) {
      const what =
        fresh.length === 1
          ? `${fresh[0]!.record.name} ${fresh[0]!.record.version}`
          : `${fresh.length} packages`;
      if (indexesAreLive(error)) {
        // Readers see the new indexes: their pool files and records stay (the staging finished
        // before the renames), and retention waits for a publish of these names that is surely
        // on disk.
        throw new RingmasterError('REPOSITORY', `${what} published; ${plainMessage(error.message)}`, {
          scope: SCOPE,
          cause: error,
          details: error.details,
        });
      }
      // The previous indexes are untouched; forget the new packages so the catalogue agrees with
      // them (once the staging stopped: no write outlives the lock), records before pool files.
      await staged.catch(() => undefined);
      await pools.discard();
      await catalogue.remove(fresh.map((f) => f.record));
      for (const { record } of fresh) await rm(join(root, record.filename), { force: true }).catch(notThere);
      throw toRingmasterError(error, 'REPOSITORY', SCOPE, `cannot publish ${what}`);
    }
    // The records first: a crash in between leaves a pool file no record names (which reindex()
    // takes back, and retention drops again), never a record whose pool file is gone.
    await catalogue.remove(drop);
    for (const r of drop) await rm(join(root, r.filename), { force: true });
    await catalogue.compact();
    return stored();
  };

  return {
    name: 'apt',
    dir: root,
    publish: (artifact) => locked(async () => (await publishManyLocked([artifact]))[0]!),
    publishMany: (artifacts) => locked(() => publishManyLocked(artifacts)),
    reindex: () =>
      locked(async () => {
        const { records, read, checksummed } = await rebuildCatalogue(root, catalogue, o);
        await writeIndexes(layout, await catalogue.all(), signer, new Date(), { gzip });
        await rings.rewriteAll();
        return { packages: records.length, read, checksummed };
      }),
    async admit(ring, artifacts) {
      rings.suiteOf(ring); // a ring without a usable suite fails before waiting for the lock
      return locked(() => rings.admit(ring, artifacts));
    },
    suite: (ring) => rings.suite(ring),
    async versions(name) {
      const all = await (await current()).all();
      return [...new Set(all.filter((r) => r.name === name).map((r) => r.version))].sort(compareVersions);
    },
    async find(name, version) {
      const record = await (await current()).find(name, version);
      return record && toArtifact(root, record);
    },
    async serve(serveOptions) {
      await mkdir(root, { recursive: true });
      const server = await serveDirectory(root, serveOptions);
      servers.add(server);
      return {
        ...server,
        close: async () => {
          servers.delete(server);
          await server.close();
        },
      };
    },
    async close() {
      for (const server of servers) await server.close();
      servers.clear();
      await signer?.close();
    },
  };
}
