/**
 * A catalogue record: what the repository stores of one package (its Packages stanza already
 * rendered, its pool path and checksum), so adding a package never rehashes the pool; and how a
 * record is written as one line of the catalogue (see catalogue.ts), with the SHA-256 of its own
 * JSON (`check`), so a torn or corrupt line is never taken for a good one.
 *
 * A record is also the control-data cache of its pool file (as apt-ftparchive's database is):
 * see reindex.ts for when `reindex()` takes it instead of reading the package again.
 */
import { createHash } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { compareVersions, versionForFileName } from '../version.js';

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
   * The pool file's stat key, `dev:ino:size:mtimeNs:ctimeNs` ({@link statKey}), recorded only
   * when the file had not changed for a while when it was taken (see reindex.ts): a file whose
   * key still matches is not read again.
   */
  stat?: string;
}

/** A file's identity and last changes, as git's index keeps them: device, inode, size, mtime, ctime. */
export function statKey(info: BigIntStats): string {
  return `${info.dev}:${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
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
export function compareRecords(a: PackageRecord, b: PackageRecord): number {
  return (
    (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) ||
    compareVersions(a.version, b.version) ||
    (a.architecture < b.architecture ? -1 : a.architecture > b.architecture ? 1 : 0)
  );
}

/** Inserts `record` into the sorted `records` at its place. */
export function insertSorted(records: PackageRecord[], record: PackageRecord): void {
  let lo = 0;
  let hi = records.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareRecords(records[mid]!, record) < 0) lo = mid + 1;
    else hi = mid;
  }
  records.splice(lo, 0, record);
}

/** What identifies a record in the catalogue: `name_version_architecture` (none of them has a `_`). */
export function recordKey(record: Pick<PackageRecord, 'name' | 'version' | 'architecture'>): string {
  return `${record.name}_${record.version}_${record.architecture}`;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** How a record's file ends: `,"check":"<64 hex digits>"}`. */
const CHECK_TAIL = /,"check":"([0-9a-f]{64})"\}$/;

/**
 * A catalogue line's JSON: the value's, then as its last member `check`, the SHA-256 of that JSON
 * without it (so checking a line hashes its text; nothing is serialised again).
 */
export function checkedJson(value: object): string {
  const json = JSON.stringify(value);
  return `${json.slice(0, -1)},"check":"${sha256(json)}"}`;
}

/** A record's line. */
export const recordJson = (record: PackageRecord): string => checkedJson(record);

const isString = (v: unknown): v is string => typeof v === 'string';

/** What one catalogue line says: a record added, the record of a key removed, or a file's end. */
export type CatalogueLine = { record: PackageRecord } | { removed: string } | { end: number };

/**
 * What a line holds, or the reason it is not a catalogue line: not JSON (torn), no `check` or
 * one that does not match, or none of a record's, a removal's or an end's shape.
 */
export function parseLine(text: string): CatalogueLine | string {
  const tail = CHECK_TAIL.exec(text);
  if (!tail) return 'it has no check (a torn write?)';
  if (sha256(`${text.slice(0, tail.index)}}`) !== tail[1]) return 'its check does not match its content';
  let value: Record<string, unknown>;
  try {
    value = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return 'it is not JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'it is not a record';
  const { check: _check, ...record } = value;
  if (Object.keys(record).length === 1 && isString(record.removed)) return { removed: record.removed };
  if (Object.keys(record).length === 1 && Number.isSafeInteger(record.end))
    return { end: record.end as number };
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
    (record.stat === undefined || (isString(record.stat) && /^\d+:\d+:\d+:\d+:\d+$/.test(record.stat)));
  return shaped ? { record: record as unknown as PackageRecord } : 'it is not a record';
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
