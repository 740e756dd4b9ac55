/**
 * Atomic file replacement: write to a unique temporary name in the same directory, fsync, then
 * rename over the target, so a reader sees the old bytes or the new ones, never half of either.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** A temporary name next to `path` (same filesystem, so rename is atomic). */
export function tempNameFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/** Writes `data` to a temporary file next to `path` and fsyncs it; returns the temporary name. */
export async function writeTemp(path: string, data: string | Buffer): Promise<string> {
  const temp = tempNameFor(path);
  try {
    // flush: fsync before close, in one call on the thread pool.
    await writeFile(temp, data, { mode: 0o644, flush: true });
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  return temp;
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
