/**
 * Rebuilding the catalogue from the pool, for `reindex()`: every `.deb` under
 * `pool/<component>/` is what the repository holds. A file's catalogue record is its control-data
 * cache, taken without reading the file while the record's stat key still matches the file:
 * device, inode, size, mtime and ctime, to the nanosecond, as git's index keeps them. Any other
 * file is read and its SHA-256 compared with its record's; one that differs, or has no record, is
 * checked in full, as a publish checks it, and must sit at its own pool path. Records of files
 * that are gone are dropped; lines of the catalogue that do not check are never used.
 *
 * Why the key is enough: every write to a file, and every change of its times, sets its ctime to
 * the current time, and nothing sets it back (utimes sets mtime and atime only), so a file
 * rewritten under the same size with its mtime put back (`touch -d`) is read again; one replaced
 * by another has another inode. A key is recorded only for a file whose ctime was over a second
 * old when it was taken — git's "racily clean" case: a change in the same clock tick as the stat
 * would leave every field as it was. Publishing records no key (its files are new). What a key
 * cannot see is a change that bypasses the filesystem (a disk corrupting a block, writes to the
 * block device, a clock set back): apt still checks every package it downloads against the
 * signed index's SHA-256, which is the one the package had when it was checked.
 */
import { createHash } from 'node:crypto';
import { type Dirent, lstatSync, readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { RingmasterError } from '@ringmaster/core/adapter';
import { sha256File } from '../archive/read-deb.js';
import type { Catalogue } from './catalogue.js';
import { mapLimit } from './concurrency.js';
import { packageRecord, type RecordContext, readPackage, readSmallFile } from './inspect.js';
import { type PackageRecord, poolPath, slices, statKey } from './records.js';

const SCOPE = 'pkg-deb';

/** A stat key is recorded only for a file whose ctime is older than the reindex by this much. */
const RACY_NS = 1_000_000_000n;

/** What a reindex found: the records of the pool, and how many files it read. */
export interface Rebuilt {
  records: PackageRecord[];
  /** Packages read and checked in full (the rest came from their records). */
  read: number;
  /** Packages read to compare their SHA-256 with their record (the rest matched their stat key). */
  checksummed: number;
}

/** `record` with the stat key `key` (or none). */
function withKey(record: PackageRecord, key: string | undefined): PackageRecord {
  if (record.stat === key) return record;
  const { stat: _old, ...rest } = record;
  return key === undefined ? rest : { ...rest, stat: key };
}

/** The `.deb` files under `dir` (paths relative to `root`) and the temporary files crashed publishers left. */
async function walkPool(root: string, dir: string): Promise<{ debs: string[]; temps: string[] }> {
  const debs: string[] = [];
  const temps: string[] = [];
  const pause = slices();
  const pending = [dir];
  // Each turn lists one directory and queues its subdirectories: bounded by the tree.
  while (pending.length > 0) {
    const current = pending.pop()!;
    let entries: Dirent[];
    try {
      entries = readdirSync(current, { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    for (const entry of entries) {
      const path = join(current, entry.name);
      if (entry.isDirectory()) pending.push(path);
      else if (entry.name.startsWith('.') && entry.name.endsWith('.tmp')) temps.push(path);
      else if (entry.name.endsWith('.deb')) {
        if (!entry.isFile()) {
          throw new RingmasterError(
            'REPOSITORY',
            `${path} is not a regular file; the pool holds only packages the repository wrote; nothing was reindexed`,
            { scope: SCOPE, details: { path } },
          );
        }
        debs.push(relative(root, path));
      }
    }
    await pause();
  }
  return { debs: debs.sort(), temps };
}

/**
 * Reads the pool and makes the catalogue match it (under the publish lock). Throws `REPOSITORY`,
 * with the catalogue unchanged, when a pool file is not a valid package or not at its place.
 */
export async function rebuildCatalogue(
  root: string,
  catalogue: Catalogue,
  context: RecordContext,
): Promise<Rebuilt> {
  const trustBefore = BigInt(Date.now()) * 1_000_000n - RACY_NS;
  const scan = await catalogue.scan();
  const { debs, temps } = await walkPool(root, join(root, 'pool', context.component));
  const pause = slices();
  let read = 0;
  let checksummed = 0;
  const records = await mapLimit(debs, 4, async (rel) => {
    const file = join(root, rel);
    const cached = scan.records.get(rel);
    const placed =
      cached !== undefined &&
      poolPath(context.component, cached.name, cached.version, cached.architecture) === rel &&
      // One no longer indexed is read again, and refused as a publish would refuse it.
      (cached.architecture === 'all' || context.architectures.includes(cached.architecture));
    if (placed && cached.stat !== undefined && statKey(lstatSync(file, { bigint: true })) === cached.stat) {
      return cached;
    }
    checksummed++;
    const small = readSmallFile(file);
    // The stat taken before the bytes were read: a change since gives the file a newer ctime.
    const key = small.info.ctimeNs < trustBefore ? statKey(small.info) : undefined;
    if (placed && cached.size === small.size) {
      const sha256 = small.bytes
        ? createHash('sha256').update(small.bytes).digest('hex')
        : await sha256File(file);
      await pause();
      if (sha256 === cached.sha256) return withKey(cached, key);
    }
    read++;
    const record = packageRecord(file, await readPackage(file, small.bytes), context);
    await pause();
    if (record.filename !== rel) {
      throw new RingmasterError(
        'REPOSITORY',
        `${file} holds ${record.name} ${record.version} (${record.architecture}), whose place is ${record.filename}; move or remove it, then reindex() again; nothing was reindexed`,
        { scope: SCOPE, details: { path: file } },
      );
    }
    return withKey(record, key);
  });

  // The catalogue becomes exactly the pool's records, rewritten as one file unless it holds
  // them already (each record durable before the indexes that name it are written).
  for (const temp of temps) await rm(temp, { force: true });
  const same =
    !scan.damaged &&
    records.length === scan.records.size &&
    records.every((r) => scan.records.get(r.filename) === r);
  if (!same || catalogue.legacy()) await catalogue.rewrite(records);
  return { records, read, checksummed };
}
