/**
 * Rebuilding the catalogue from the pool, for `reindex()`: every `.deb` under
 * `pool/<component>/` is what the repository holds. Each file is stat'ed and its SHA-256
 * computed; its catalogue record is reused (the control-data cache) only when the file's path,
 * size, mtime and SHA-256 all match the record, so a file changed in place — even under the same
 * size with its mtime put back — is read again. Every file read again is checked in full, as a
 * publish checks it, and must sit at its own pool path. Records of files that are gone are
 * removed; torn or corrupt records are ignored and rewritten.
 */
import { createHash } from 'node:crypto';
import { type Dirent, readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { RingmasterError } from '@ringmaster/core/adapter';
import { sha256File } from '../archive/read-deb.js';
import { mapLimit } from './concurrency.js';
import { StagedFiles, syncDir } from './fs-atomic.js';
import { packageRecord, type RecordContext, readPackage, readSmallFile } from './inspect.js';
import {
  type Catalogue,
  type PackageRecord,
  poolPath,
  recordFileName,
  recordJson,
  slices,
} from './records.js';

const SCOPE = 'pkg-deb';

/** What a reindex found: the records of the pool, and how many were read again. */
export interface Rebuilt {
  records: PackageRecord[];
  /** Packages read and checked in full (the rest came from the cache). */
  read: number;
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
  const scan = await catalogue.scan();
  const byPath = new Map<string, PackageRecord>();
  for (const record of scan.records.values())
    if (typeof record !== 'string') byPath.set(record.filename, record);
  const { debs, temps } = await walkPool(root, join(root, 'pool', context.component));
  const pause = slices();
  let read = 0;
  const records = await mapLimit(debs, 4, async (rel) => {
    const file = join(root, rel);
    const small = readSmallFile(file);
    const cached = byPath.get(rel);
    if (
      cached &&
      cached.size === small.size &&
      cached.mtime === String(small.mtime) &&
      poolPath(context.component, cached.name, cached.version, cached.architecture) === rel &&
      // One no longer indexed is read again, and refused as a publish would refuse it.
      (cached.architecture === 'all' || context.architectures.includes(cached.architecture))
    ) {
      const sha256 = small.bytes
        ? createHash('sha256').update(small.bytes).digest('hex')
        : await sha256File(file);
      await pause();
      if (sha256 === cached.sha256) return cached;
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
    return { ...record, mtime: String(small.mtime) };
  });

  // The catalogue becomes exactly the pool's records: what is gone or unreadable first, then
  // what is new or changed (each record durable before the indexes that name it are written).
  const keep = new Set(records.map(recordFileName));
  for (const name of scan.records.keys()) if (!keep.has(name)) await catalogue.removeFile(name);
  for (const temp of temps) await rm(temp, { force: true });
  for (const temp of scan.temps) await catalogue.removeFile(temp);
  const changed = records.filter((record) => {
    const before = scan.records.get(recordFileName(record));
    // A cache hit is the very record read: nothing to write.
    return (
      before !== record &&
      (typeof before === 'string' || !before || recordJson(before) !== recordJson(record))
    );
  });
  // Written, fsynced in waves and renamed into place together, as a publish does.
  const batch = new StagedFiles();
  try {
    for (let wave = 0; wave < changed.length; wave += 256) {
      await mapLimit(changed.slice(wave, wave + 256), 8, (record) => catalogue.stage(record, batch));
      await batch.sync();
    }
    await batch.rename();
  } catch (error) {
    await batch.discard();
    throw error;
  }
  if (changed.length > 0) await syncDir(catalogue.dir);
  await catalogue.replaced(records);
  return { records, read };
}
