/**
 * Atomic file replacement: write to a unique temporary name in the same directory, fsync, then
 * rename over the target, so a reader sees the old bytes or the new ones, never half of either.
 */
import { randomBytes } from 'node:crypto';
import { close, closeSync, constants, fsync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { copyFile, type FileHandle, open, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { slices } from './records.js';

const fsyncFd = promisify(fsync);
const closeFd = promisify(close);

/**
 * Data up to this size is written synchronously, and only its fsync goes to the thread pool: a
 * small file's create and write take microseconds, each trip through the pool (behind other
 * fsyncs, and waiting for the main thread to go on) far longer.
 */
const SMALL = 256 * 1024;

/** Creates `temp` (which must not exist) and writes `data` to it, synchronously; returns its descriptor. */
function createSync(temp: string, data: string | Buffer): number {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  const fd = openSync(temp, 'wx', 0o644);
  try {
    let at = 0;
    // Each write moves forward: bounded by the data.
    while (at < bytes.length) at += writeSync(fd, bytes, at, bytes.length - at);
    return fd;
  } catch (error) {
    closeSync(fd);
    rmSync(temp, { force: true });
    throw error;
  }
}

/** A temporary name next to `path` (same filesystem, so rename is atomic). */
export function tempNameFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/**
 * Writes `data` to a temporary file next to `path` (named `temp`, when the caller chose the name
 * already) and fsyncs it; returns the temporary name.
 */
export async function writeTemp(
  path: string,
  data: string | Buffer,
  temp = tempNameFor(path),
): Promise<string> {
  if (data.length <= SMALL) {
    const fd = createSync(temp, data);
    try {
      await fsyncFd(fd);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    } finally {
      await closeFd(fd);
    }
    return temp;
  }
  try {
    // flush: fsync before close, in one call on the thread pool.
    await writeFile(temp, data, { mode: 0o644, flush: true });
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  return temp;
}

/**
 * Files of one batch written under temporary names, fsynced together, then renamed into place.
 * A burst of fsyncs after many writes costs far less than an fsync after each write (which
 * makes the next file's creation wait for the journal), and each file keeps the descriptor it
 * was written with until its fsync. The caller bounds how many are open: `sync()` closes them.
 */
export class StagedFiles {
  private readonly pending: (FileHandle | number)[] = [];
  private readonly staged: { temp: string; path: string; renamed: boolean }[] = [];

  /**
   * Writes `data` to a temporary name next to `path` through the thread pool; resolves with that
   * name. For a batch: files in many directories are created in parallel, while the main thread
   * reads the next packages.
   */
  async write(path: string, data: Buffer): Promise<string> {
    const temp = tempNameFor(path);
    const handle = await open(temp, 'wx', 0o644);
    this.staged.push({ temp, path, renamed: false });
    this.pending.push(handle);
    await handle.writeFile(data);
    return temp;
  }

  /**
   * Writes `data` to a temporary name next to `path` synchronously, and returns that name: for a
   * publish of a few packages, whose every trip through the thread pool would wait behind the
   * indexes' fsyncs. Only its fsync, in `sync()`, goes there.
   */
  writeNow(path: string, data: Buffer): string {
    const temp = tempNameFor(path);
    this.pending.push(createSync(temp, data));
    this.staged.push({ temp, path, renamed: false });
    return temp;
  }

  /** Copies `source` to a temporary name next to `path`; resolves with that name. */
  async copy(path: string, source: string): Promise<string> {
    const temp = tempNameFor(path);
    this.staged.push({ temp, path, renamed: false });
    await copyFile(source, temp, constants.COPYFILE_EXCL);
    this.pending.push(await open(temp, 'r'));
    return temp;
  }

  /** fsyncs and closes every file written since the last call. */
  async sync(): Promise<void> {
    const handles = this.pending.splice(0);
    let next = 0;
    let failure: unknown;
    // Eight at a time (libuv's pool has four threads); every handle is closed, even after a failure.
    await Promise.all(
      Array.from({ length: Math.min(8, handles.length) }, async () => {
        while (next < handles.length) {
          const handle = handles[next++]!;
          try {
            if (failure === undefined) await (typeof handle === 'number' ? fsyncFd(handle) : handle.sync());
          } catch (error) {
            failure ??= error;
          } finally {
            await (typeof handle === 'number' ? closeFd(handle) : handle.close());
          }
        }
      }),
    );
    if (failure !== undefined) throw failure;
  }

  /**
   * Renames every synced file into place, in the order they were written: synchronously, in
   * slices (a rename costs a few microseconds; a trip through the thread pool, behind fsyncs,
   * far more).
   */
  async rename(): Promise<void> {
    const pause = slices();
    for (const file of this.staged) {
      if (file.renamed) continue;
      renameSync(file.temp, file.path);
      file.renamed = true;
      await pause();
    }
  }

  /** Closes what is open and removes every temporary file not renamed yet. */
  async discard(): Promise<void> {
    for (const handle of this.pending.splice(0))
      await (typeof handle === 'number' ? closeFd(handle) : handle.close()).catch(() => undefined);
    for (const file of this.staged) if (!file.renamed) await rm(file.temp, { force: true });
  }
}

/**
 * The directories whose entries `mkdir -p dir` changed, given what mkdir returned (the first
 * directory it made, or undefined): the parent of each directory it made. fsynced, they keep
 * the new directories across a crash, as `syncDir(dir)` keeps what is renamed into `dir`.
 */
export function parentsOfMade(dir: string, firstMade: string | undefined): string[] {
  if (firstMade === undefined) return [];
  const out: string[] = [];
  // From the deepest up to the first made: bounded by the path's depth.
  for (let made = dir; ; made = dirname(made)) {
    out.push(dirname(made));
    if (made === firstMade || dirname(made) === made) break;
  }
  return out;
}

/**
 * fsyncs a directory the repository's own directory was made in (outside the repository): one
 * that may be written but not read (mode 0730, say) is left as it is, rather than refusing the
 * first publish.
 */
export async function syncParentDir(dir: string): Promise<void> {
  try {
    await syncDir(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM') throw error;
  }
}

/** fsyncs a directory so the renames in it survive a crash. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Atomically replaces `path` with `data`. */
export async function writeFileAtomic(path: string, data: string | Buffer): Promise<void> {
  const temp = await writeTemp(path, data);
  try {
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}
