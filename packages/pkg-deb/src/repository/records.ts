/**
 * The repository's own catalogue: one small JSON record per stored package (its Packages stanza
 * already rendered, its pool path and checksums), so adding a package never rehashes the pool.
 * Records live in `<dir>/.ringmaster/packages/`, which the HTTP server never exposes.
 *
 * A record is also the control-data cache of its pool file (as apt-ftparchive's database is):
 * `reindex()` reuses it instead of reading the package again only when the file's path, size,
 * mtime and SHA-256 all match it. Each record carries the SHA-256 of its own JSON (`check`), so
 * a torn or corrupt record is never taken for a good one: `reindex()` ignores it and reads the
 * package again; every other reader refuses it, naming it.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { RingmasterError } from '@ringmaster/core/adapter';
import { compareVersions, versionForFileName } from '../version.js';
import { type StagedFiles, writeFileAtomic } from './fs-atomic.js';

/** One stored package. */
export interface PackageRecord {
  name: string;
  version: string;
  architecture: string;
  dependencies: string[];
  /** Pool path relative to the repository root (the `Filename:` field). */
  filename: string;
  sha256: string;
  size: number;
  /** The Packages stanza, without the trailing blank line. */
  stanza: string;
  /**
   * The pool file's mtime in nanoseconds when the record was made (absent in records written
   * before the cache existed, which are never cache hits).
   */
  mtime?: string;
}

/** `pool/main/f/foo/foo_1.0_amd64.deb`, with `lib` packages under `libf/` as Debian does. */
export function poolPath(component: string, name: string, version: string, architecture: string): string {
  const initial = name.startsWith('lib') && name.length > 3 ? name.slice(0, 4) : name[0]!;
  return `pool/${component}/${initial}/${name}/${name}_${versionForFileName(version)}_${architecture}.deb`;
}

/** Renders the Packages stanza: the control fields, then Filename, Size and SHA256 before Description. */
export function renderStanza(
  fields: [string, string][],
  filename: string,
  size: number,
  sha256: string,
): string {
  const lines: string[] = [];
  const pool = [`Filename: ${filename}`, `Size: ${size}`, `SHA256: ${sha256}`];
  let placed = false;
  for (const [key, value] of fields) {
    if (key === 'Filename' || key === 'Size' || key === 'SHA256' || key === 'MD5sum' || key === 'SHA1')
      continue;
    if (key === 'Description' && !placed) {
      lines.push(...pool);
      placed = true;
    }
    lines.push(`${key}: ${value}`);
  }
  if (!placed) lines.push(...pool);
  return lines.join('\n');
}

/** Catalogue order: name, then Debian version, then architecture. */
function compareRecords(a: PackageRecord, b: PackageRecord): number {
  return (
    (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) ||
    compareVersions(a.version, b.version) ||
    (a.architecture < b.architecture ? -1 : a.architecture > b.architecture ? 1 : 0)
  );
}

/** Inserts `record` into the sorted `records` at its place. */
function insertSorted(records: PackageRecord[], record: PackageRecord): void {
  let lo = 0;
  let hi = records.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareRecords(records[mid]!, record) < 0) lo = mid + 1;
    else hi = mid;
  }
  records.splice(lo, 0, record);
}

/** The name of a record's file in the catalogue directory. */
export function recordFileName(record: Pick<PackageRecord, 'name' | 'version' | 'architecture'>): string {
  return `${record.name}_${record.version}_${record.architecture}.json`;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** How a record's file ends: `,"check":"<64 hex digits>"}`. */
const CHECK_TAIL = /,"check":"([0-9a-f]{64})"\}$/;

/**
 * A record's file content: its JSON, then as its last member `check`, the SHA-256 of that JSON
 * without it (so checking a record hashes its text; nothing is serialised again).
 */
export function recordJson(record: PackageRecord): string {
  const json = JSON.stringify(record);
  return `${json.slice(0, -1)},"check":"${sha256(json)}"}`;
}

const isString = (v: unknown): v is string => typeof v === 'string';

/**
 * The record a file holds, or the reason it is not one: not JSON (torn), a `check` that does
 * not match, or not a record's shape. A record written before checks existed has none; it is
 * taken by its shape alone.
 */
export function parseRecord(text: string): PackageRecord | string {
  const tail = CHECK_TAIL.exec(text);
  if (tail && sha256(`${text.slice(0, tail.index)}}`) !== tail[1]) {
    return 'its check does not match its content';
  }
  let value: Record<string, unknown>;
  try {
    value = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return 'it is not JSON (a torn write?)';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'it is not a record';
  const { check, ...record } = value;
  // A check anywhere but at the end was not written by recordJson().
  if (check !== undefined && !tail) return 'its check does not match its content';
  const shaped =
    isString(record.name) &&
    isString(record.version) &&
    isString(record.architecture) &&
    Array.isArray(record.dependencies) &&
    record.dependencies.every(isString) &&
    isString(record.filename) &&
    isString(record.sha256) &&
    /^[0-9a-f]{64}$/.test(record.sha256) &&
    Number.isSafeInteger(record.size) &&
    isString(record.stanza) &&
    (record.mtime === undefined || (isString(record.mtime) && /^[0-9]+$/.test(record.mtime)));
  return shaped ? (record as unknown as PackageRecord) : 'it is not a record';
}

/** A synchronous stretch yields to the event loop after this long. */
const SLICE_MS = 8;

/**
 * Returns a function that resolves at once until `SLICE_MS` of synchronous work went by, then
 * after one turn of the event loop: many small reads done synchronously cost a fifth of what
 * the promise API does, and a caller serving HTTP meanwhile still gets its turn.
 */
export function slices(): () => Promise<void> | undefined {
  let since = performance.now();
  return () => {
    if (performance.now() - since < SLICE_MS) return undefined;
    return new Promise<void>((resolve) =>
      setImmediate(() => {
        since = performance.now();
        resolve();
      }),
    );
  };
}

/** What the catalogue directory holds: each record file's record, or why it is unreadable. */
export interface CatalogueScan {
  records: Map<string, PackageRecord | string>;
  /** Temporary files a crashed writer left. */
  temps: string[];
}

/**
 * The catalogue directory's operations. Records never change once written (a name, version and
 * architecture is published once), so `all()` keeps them in memory and only re-reads when the
 * directory's listing or mtime changed (another publisher added or removed one).
 */
export class Catalogue {
  /** What the directory held when last read or written: record file name → record. */
  private cache:
    | {
        mtimeMs: number;
        records: Map<string, PackageRecord>;
        sorted?: PackageRecord[];
        byFilename?: Map<string, PackageRecord>;
      }
    | undefined;

  /** Temporary files seen by the last `all()`: a crashed writer's, removed under the lock. */
  staleTemps: string[] = [];

  constructor(readonly dir: string) {}

  private async list(): Promise<{ names: string[]; temps: string[]; mtimeMs: number }> {
    const [names, info] = await Promise.all([
      readdir(this.dir).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return [] as string[];
        throw error;
      }),
      stat(this.dir).catch(() => undefined),
    ]);
    return {
      names: names.filter((n) => n.endsWith('.json') && !n.startsWith('.')),
      temps: names.filter((n) => n.startsWith('.') && n.endsWith('.tmp')),
      mtimeMs: info?.mtimeMs ?? 0,
    };
  }

  /** Reads record files synchronously, in slices (they are small; see `slices()`). */
  private async read(names: readonly string[]): Promise<Map<string, PackageRecord | string>> {
    const out = new Map<string, PackageRecord | string>();
    const pause = slices();
    for (const n of names) {
      let text: string | undefined;
      try {
        text = readFileSync(join(this.dir, n), 'utf8');
      } catch (error) {
        // Removed since the listing: another publisher's retention.
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
      if (text !== undefined) out.set(n, parseRecord(text));
      await pause();
    }
    return out;
  }

  async all(): Promise<PackageRecord[]> {
    const { names, temps, mtimeMs } = await this.list();
    this.staleTemps = temps;
    const cache = this.cache;
    let records: Map<string, PackageRecord>;
    if (
      cache &&
      cache.mtimeMs === mtimeMs &&
      cache.records.size === names.length &&
      names.every((n) => cache.records.has(n))
    ) {
      // The same records as last time: their order too (sorting by Debian version is not free).
      if (cache.sorted) return [...cache.sorted];
      records = cache.records;
    } else {
      // Anything changed: every record is read again (one may have been rewritten by reindex()).
      records = new Map();
      for (const [n, record] of await this.read(names)) {
        if (typeof record === 'string') throw this.corrupt(n, record);
        records.set(n, record);
      }
      this.cache = { mtimeMs, records };
    }
    const sorted = [...records.values()].sort(compareRecords);
    this.cache!.sorted = sorted;
    return [...sorted];
  }

  /** Every record file, read without trusting any: for `reindex()`, which reads the pool again. */
  async scan(): Promise<CatalogueScan> {
    const { names, temps } = await this.list();
    return { records: await this.read(names), temps };
  }

  private corrupt(name: string, why: string): RingmasterError {
    const path = join(this.dir, name);
    return new RingmasterError(
      'REPOSITORY',
      `the catalogue record ${path} is unreadable (${why}); reindex() rebuilds the catalogue from the pool`,
      { scope: 'pkg-deb', details: { path } },
    );
  }

  /**
   * The records by pool path (`Filename:`), as of the last `all()` (never change it). Kept with
   * the cache: a publish looks up thousands of them to add one.
   */
  byFilename(): ReadonlyMap<string, PackageRecord> {
    const cache = this.cache;
    if (!cache) return new Map();
    cache.byFilename ??= new Map([...cache.records.values()].map((r) => [r.filename, r]));
    return cache.byFilename;
  }

  /** Adds records we just wrote to the cache (called under the publish lock, after their writes). */
  async remember(added: PackageRecord[], removed: PackageRecord[]): Promise<void> {
    const cache = this.cache;
    if (!cache) return;
    // In place: callers only ever get copies, and a publish adds a few records to thousands.
    const { records, byFilename } = cache;
    let { sorted } = cache;
    for (const r of [...removed, ...added]) {
      const name = recordFileName(r);
      const old = records.get(name);
      if (!old) continue;
      records.delete(name);
      byFilename?.delete(old.filename);
      const at = sorted?.indexOf(old) ?? -1;
      if (at >= 0) sorted!.splice(at, 1);
    }
    for (const r of added) {
      records.set(recordFileName(r), r);
      byFilename?.set(r.filename, r);
    }
    // Keep the order too when a few were added (a large batch is sorted again on the next read).
    if (sorted && added.length <= 64) for (const r of added) insertSorted(sorted, r);
    else sorted = undefined;
    const info = await stat(this.dir).catch(() => undefined);
    this.cache = {
      mtimeMs: info?.mtimeMs ?? 0,
      records,
      ...(sorted ? { sorted } : {}),
      ...(byFilename ? { byFilename } : {}),
    };
  }

  /** Makes the in-memory view exactly `records` (after `reindex()` rewrote the directory). */
  async replaced(records: readonly PackageRecord[]): Promise<void> {
    const sorted = [...records].sort(compareRecords);
    await this.settle(new Map(sorted.map((r) => [recordFileName(r), r])), sorted);
  }

  private async settle(records: Map<string, PackageRecord>, sorted?: PackageRecord[]): Promise<void> {
    const info = await stat(this.dir).catch(() => undefined);
    this.cache = { mtimeMs: info?.mtimeMs ?? 0, records, ...(sorted ? { sorted } : {}) };
  }

  async get(name: string, version: string, architecture: string): Promise<PackageRecord | undefined> {
    const file = recordFileName({ name, version, architecture });
    let text: string;
    try {
      text = readFileSync(join(this.dir, file), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    const record = parseRecord(text);
    if (typeof record === 'string') throw this.corrupt(file, record);
    return record;
  }

  private made = false;

  async put(record: PackageRecord): Promise<void> {
    await this.ensureDir();
    await writeFileAtomic(join(this.dir, recordFileName(record)), recordJson(record));
  }

  /** Writes a record into `batch` (fsynced and renamed into place with the batch). */
  async stage(record: PackageRecord, batch: StagedFiles): Promise<void> {
    await this.ensureDir();
    await batch.write(join(this.dir, recordFileName(record)), recordJson(record));
  }

  private async ensureDir(): Promise<void> {
    if (this.made) return;
    await mkdir(this.dir, { recursive: true });
    this.made = true;
  }

  async remove(record: PackageRecord): Promise<void> {
    await this.removeFile(recordFileName(record));
  }

  /** Removes one file of the catalogue directory by name (a record's, or a temporary one). */
  async removeFile(name: string): Promise<void> {
    await rm(join(this.dir, name), { force: true });
  }
}
