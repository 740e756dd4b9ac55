/**
 * `aptRepository(options)`: a Repository that is an ordinary signed apt repository on disk
 * (`pool/`, `dists/<suite>/<component>/binary-<arch>/Packages[.gz]`, `Release`, `InRelease`,
 * `Release.gpg`), published atomically and incrementally under a lock, with retention, a suite
 * per ring (see ring-suites.ts), and able to serve itself over HTTP on loopback.
 */
import { copyFile, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Artifact, Repository, SuiteListing } from '@ringmaster/core/adapter';
import { parseOptions, RingmasterError, toRingmasterError } from '@ringmaster/core/adapter';
import { fieldOf, parseControlFile } from '../archive/control-file.js';
import { readDeb, sha256File } from '../archive/read-deb.js';
import { DEBIAN_PACKAGE_NAME } from '../control.js';
import { relationsOf } from '../relations.js';
import { compareVersions, versionProblem } from '../version.js';
import { fsyncFile, tempNameFor, writeTemp } from './fs-atomic.js';
import { removeStaleTemps, writeIndexes } from './indexes.js';
import { acquireLock } from './lock.js';
import { type AptRepositoryOptions, aptRepositoryOptionsSchema } from './options.js';
import { Catalogue, type PackageRecord, poolPath, renderStanza } from './records.js';
import { ringSuites } from './ring-suites.js';
import { type RepositoryServer, type ServeOptions, serveDirectory } from './serve.js';
import { Signer } from './sign.js';

const SCOPE = 'pkg-deb';
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
  /** Rewrites every index from the catalogue, the ring suites' too (after a crash, or to re-sign). */
  reindex(): Promise<void>;
  /** Stops the servers it started and the private gpg-agent, if any. */
  close(): Promise<void>;
}

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

/** Maps with at most `limit` calls in flight, results in input order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    // Each worker takes the next index until none is left: bounded by items.length.
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

function splitRelations(value: string | undefined): string[] {
  if (!value) return [];
  return value
    .split(',')
    .map((s) => s.replace(/\s+/g, ' ').trim())
    .filter(Boolean);
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
  const catalogue = new Catalogue(join(state, 'packages'));
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
  const rings = ringSuites({
    layout,
    catalogue,
    signer,
    dir: join(state, 'suites'),
    suites: o.suites,
    suiteKeep: o.suiteKeep,
  });

  const locked = async <T>(fn: () => Promise<T>): Promise<T> => {
    await mkdir(state, { recursive: true });
    const release = await acquireLock(join(state, 'lock'), o.lockTimeoutMs);
    try {
      return await fn();
    } finally {
      await release();
    }
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
    let info: Awaited<ReturnType<typeof readDeb>>;
    try {
      info = await readDeb(artifact.file);
    } catch (error) {
      throw new RingmasterError(
        'REPOSITORY',
        `refusing ${artifact.file}: not a valid .deb (${(error as Error).message}); the repository is unchanged`,
        { scope: SCOPE, cause: error, details: { path: artifact.file } },
      );
    }
    const field = (k: string) => fieldOf(info.fields, k);
    const name = field('Package')!;
    const version = field('Version')!;
    const architecture = field('Architecture')!;
    if (name !== artifact.name || version !== artifact.version) {
      throw new RingmasterError(
        'REPOSITORY',
        `${artifact.file} contains ${name} ${version}, not ${artifact.name} ${artifact.version}; the repository is unchanged`,
        { scope: SCOPE, details: { path: artifact.file } },
      );
    }
    const problem =
      versionProblem(version) ?? (DEBIAN_PACKAGE_NAME.test(name) ? undefined : 'invalid package name');
    if (problem) {
      throw new RingmasterError('REPOSITORY', `${artifact.file}: ${problem}; the repository is unchanged`, {
        scope: SCOPE,
        details: { path: artifact.file },
      });
    }
    if (architecture !== 'all' && !o.architectures.includes(architecture)) {
      throw new RingmasterError(
        'REPOSITORY',
        `${name} ${version} is for ${architecture}, which this repository does not index (${o.architectures.join(', ')}); add it to "architectures"`,
        { scope: SCOPE },
      );
    }
    const filename = poolPath(o.component, name, version, architecture);
    const record: PackageRecord = {
      name,
      version,
      architecture,
      dependencies: [...splitRelations(field('Pre-Depends')), ...splitRelations(field('Depends'))],
      filename,
      sha256: info.sha256,
      size: info.size,
      stanza: renderStanza(info.fields, filename, info.size, info.sha256),
    };
    return { record, ...(info.bytes ? { bytes: info.bytes } : {}) };
  };

  const publishManyLocked = async (artifacts: readonly Artifact[]): Promise<Artifact[]> => {
    const inspected = await mapLimit(artifacts, 8, inspect);
    const all = await catalogue.all();
    const byFile = new Map(all.map((r) => [r.filename, r]));
    const fresh: { record: PackageRecord; source: string; bytes?: Buffer }[] = [];
    for (const [i, { record, bytes }] of inspected.entries()) {
      const existing = byFile.get(record.filename);
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
      byFile.set(record.filename, record);
      fresh.push({ record, source: artifacts[i]!.file, ...(bytes ? { bytes } : {}) });
    }
    const stored = () => inspected.map(({ record }) => toArtifact(root, byFile.get(record.filename)!));
    if (fresh.length === 0) return stored();

    // Pool files first (fsynced, renamed into place): nothing names them yet.
    const poolDirs = new Map<string, Promise<unknown>>();
    await mapLimit(fresh, 8, async ({ record, source, bytes }) => {
      const pool = join(root, record.filename);
      const parent = join(pool, '..');
      if (!poolDirs.has(parent)) poolDirs.set(parent, mkdir(parent, { recursive: true }));
      await poolDirs.get(parent);
      // Store the bytes that were checked when we have them, so a file swapped meanwhile cannot slip in.
      let temp: string;
      if (bytes) temp = await writeTemp(pool, bytes);
      else {
        temp = tempNameFor(pool);
        try {
          await copyFile(source, temp);
          await fsyncFile(temp);
          // A large file is not held in memory: check the copy is what was inspected.
          if ((await sha256File(temp)) !== record.sha256) {
            throw new RingmasterError(
              'REPOSITORY',
              `${source} changed while it was being published; publish it again`,
              {
                scope: SCOPE,
                details: { path: source },
              },
            );
          }
        } catch (error) {
          await rm(temp, { force: true });
          throw error;
        }
      }
      await rename(temp, pool);
    });
    const records = [...all, ...fresh.map((f) => f.record)];
    const drop: PackageRecord[] = [];
    const listed = o.keep === undefined ? new Map<string, Set<string>>() : await rings.held();
    for (const name of new Set(fresh.map((f) => f.record.name))) {
      const keepVersions = new Set(fresh.filter((f) => f.record.name === name).map((f) => f.record.version));
      drop.push(...(await expired(records, name, keepVersions, listed)));
    }
    const dropped = new Set(drop);
    try {
      await removeStaleTemps(catalogue.dir);
      await mapLimit(fresh, 16, ({ record }) => catalogue.put(record));
      await writeIndexes(
        layout,
        records.filter((r) => !dropped.has(r)),
        signer,
        new Date(),
      );
    } catch (error) {
      // The previous indexes are untouched; forget the new packages so the catalogue agrees with them.
      for (const { record } of fresh) {
        await catalogue.remove(record);
        await rm(join(root, record.filename), { force: true });
      }
      const what =
        fresh.length === 1
          ? `${fresh[0]!.record.name} ${fresh[0]!.record.version}`
          : `${fresh.length} packages`;
      throw toRingmasterError(error, 'REPOSITORY', SCOPE, `cannot publish ${what}`);
    }
    for (const r of drop) {
      await catalogue.remove(r);
      await rm(join(root, r.filename), { force: true });
    }
    await catalogue.remember(
      fresh.map((f) => f.record),
      drop,
    );
    return stored();
  };

  return {
    name: 'apt',
    dir: root,
    publish: (artifact) => locked(async () => (await publishManyLocked([artifact]))[0]!),
    publishMany: (artifacts) => locked(() => publishManyLocked(artifacts)),
    reindex: () =>
      locked(async () => {
        await writeIndexes(layout, await catalogue.all(), signer, new Date());
        await rings.rewriteAll();
      }),
    async admit(ring, artifacts) {
      rings.suiteOf(ring); // a ring without a usable suite fails before waiting for the lock
      return locked(() => rings.admit(ring, artifacts));
    },
    suite: (ring) => rings.suite(ring),
    async versions(name) {
      const all = await catalogue.all();
      return [...new Set(all.filter((r) => r.name === name).map((r) => r.version))].sort(compareVersions);
    },
    async find(name, version) {
      const prefix = `${name}_${version}_`;
      const files = await readdir(catalogue.dir).catch(() => [] as string[]);
      const match = files.find((f) => f.startsWith(prefix) && !f.slice(prefix.length).includes('_'));
      if (!match) return undefined;
      const record = await catalogue.get(name, version, match.slice(prefix.length, -'.json'.length));
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
