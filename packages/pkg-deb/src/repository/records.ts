/**
 * The repository's own catalogue: one small JSON record per stored package (its Packages stanza
 * already rendered, its pool path and checksums), so adding a package never rehashes the pool.
 * Records live in `<dir>/.ringmaster/packages/`, which the HTTP server never exposes.
 */
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { compareVersions, versionForFileName } from '../version.js';
import { writeFileAtomic } from './fs-atomic.js';

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

function fileName(name: string, version: string, architecture: string): string {
  return `${name}_${version}_${architecture}.json`;
}

function recordFile(dir: string, name: string, version: string, architecture: string): string {
  return join(dir, fileName(name, version, architecture));
}

/**
 * The catalogue directory's operations. Records never change once written (a name, version and
 * architecture is published once), so `all()` keeps them in memory and only re-reads when the
 * directory's listing or mtime changed (another publisher added or removed one).
 */
export class Catalogue {
  private cache:
    | { mtimeMs: number; names: string; records: Map<string, PackageRecord>; sorted?: PackageRecord[] }
    | undefined;

  constructor(readonly dir: string) {}

  async all(): Promise<PackageRecord[]> {
    const [names, info] = await Promise.all([
      readdir(this.dir).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return [] as string[];
        throw error;
      }),
      stat(this.dir).catch(() => undefined),
    ]);
    const jsonNames = names.filter((n) => n.endsWith('.json')).sort();
    const key = jsonNames.join('\n');
    const mtimeMs = info?.mtimeMs ?? 0;
    let records: Map<string, PackageRecord>;
    if (this.cache && this.cache.names === key && this.cache.mtimeMs === mtimeMs) {
      // The same records as last time: their order too (sorting by Debian version is not free).
      if (this.cache.sorted) return [...this.cache.sorted];
      records = this.cache.records;
    } else {
      const previous = this.cache?.records;
      records = new Map();
      await Promise.all(
        jsonNames.map(async (n) => {
          const known = this.cache?.mtimeMs === mtimeMs ? previous?.get(n) : undefined;
          records.set(n, known ?? (JSON.parse(await readFile(join(this.dir, n), 'utf8')) as PackageRecord));
        }),
      );
      this.cache = { mtimeMs, names: key, records };
    }
    const sorted = [...records.values()].sort(compareRecords);
    this.cache.sorted = sorted;
    return [...sorted];
  }

  /** Adds records we just wrote to the cache (called under the publish lock, after `put`s). */
  async remember(added: PackageRecord[], removed: PackageRecord[]): Promise<void> {
    if (!this.cache) return;
    const records = new Map(this.cache.records);
    for (const r of removed) records.delete(fileName(r.name, r.version, r.architecture));
    for (const r of added) records.set(fileName(r.name, r.version, r.architecture), r);
    // Keep the order too: a publish adds a few records to thousands, which need no new sort
    // (a large batch is sorted again on the next read).
    let sorted: PackageRecord[] | undefined;
    if (this.cache.sorted && added.length <= 64) {
      const gone = new Set([...removed, ...added].map((r) => fileName(r.name, r.version, r.architecture)));
      sorted = this.cache.sorted.filter((r) => !gone.has(fileName(r.name, r.version, r.architecture)));
      for (const r of added) insertSorted(sorted, r);
    }
    const info = await stat(this.dir);
    this.cache = {
      mtimeMs: info.mtimeMs,
      names: [...records.keys()].sort().join('\n'),
      records,
      ...(sorted ? { sorted } : {}),
    };
  }

  async get(name: string, version: string, architecture: string): Promise<PackageRecord | undefined> {
    try {
      return JSON.parse(
        await readFile(recordFile(this.dir, name, version, architecture), 'utf8'),
      ) as PackageRecord;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  private made = false;

  async put(record: PackageRecord): Promise<void> {
    if (!this.made) {
      await mkdir(this.dir, { recursive: true });
      this.made = true;
    }
    await writeFileAtomic(
      recordFile(this.dir, record.name, record.version, record.architecture),
      JSON.stringify(record),
    );
  }

  async remove(record: PackageRecord): Promise<void> {
    await rm(recordFile(this.dir, record.name, record.version, record.architecture), { force: true });
  }
}
