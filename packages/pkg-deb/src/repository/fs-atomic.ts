/**
 * Atomic file replacement: write to a unique temporary name in the same directory, fsync, then
 * rename over the target, so a reader sees the old bytes or the new ones, never half of either.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, type FileHandle, open, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

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
  private readonly pending: FileHandle[] = [];
  private readonly staged: { temp: string; path: string; renamed: boolean }[] = [];

  /** Writes `data` to a temporary name next to `path`; resolves with that name. */
  async write(path: string, data: string | Buffer): Promise<string> {
    const temp = tempNameFor(path);
    const handle = await open(temp, 'wx', 0o644);
    this.staged.push({ temp, path, renamed: false });
    this.pending.push(handle);
    await handle.writeFile(data);
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
            if (failure === undefined) await handle.sync();
          } catch (error) {
            failure ??= error;
          } finally {
            await handle.close();
          }
        }
      }),
    );
    if (failure !== undefined) throw failure;
  }

  /** Renames every synced file into place, in the order they were written. */
  async rename(): Promise<void> {
    for (const file of this.staged) {
      if (file.renamed) continue;
      await rename(file.temp, file.path);
      file.renamed = true;
    }
  }

  /** Closes what is open and removes every temporary file not renamed yet. */
  async discard(): Promise<void> {
    for (const handle of this.pending.splice(0)) await handle.close().catch(() => undefined);
    for (const file of this.staged) if (!file.renamed) await rm(file.temp, { force: true });
  }
}

/** fsyncs a file written by someone else (gpg, copyFile). */
export async function fsyncFile(path: string): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
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
