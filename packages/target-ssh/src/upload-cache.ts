/**
 * The package being fanned out, read once: every host's upload sends from the same Buffer
 * instead of reading the file again (half the controller's CPU for a 30-host fan-out, measured
 * in bench/ssh.mjs). Its sha256 is checked here, once, so a file that changed after it was built
 * is refused before anything is sent. Packages above `uploadCacheBytes` are not held: they are
 * streamed from disk per host (and checked on each host, as every upload is).
 */
import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { readFile } from 'node:fs/promises';

/** How long a package stays in memory after its last install ended (the next batch reuses it). */
const KEEP_MS = 30_000;

interface Entry {
  bytes: Promise<Buffer>;
  users: number;
  timer?: NodeJS.Timeout;
}

/** What {@link SharedUploads.acquire} gives: the bytes (undefined: stream the file), and release. */
export interface HeldUpload {
  bytes: Buffer | undefined;
  release(): void;
}

export class SharedUploads {
  /** By path, inode, size, mtime and the sha256 the artifact claims. */
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly maxBytes: number) {}

  /**
   * The bytes of `file` as `stats` describe it, checked against `sha256`, held until
   * `release()` (and {@link KEEP_MS} more). Rejects, naming what it found, when the file no
   * longer has that size or sha256.
   */
  async acquire(file: string, stats: Stats, sha256: string): Promise<HeldUpload> {
    if (stats.size > this.maxBytes) return { bytes: undefined, release: () => {} };
    const key = `${stats.ino}:${stats.size}:${stats.mtimeMs}:${sha256.toLowerCase()}:${file}`;
    let entry = this.entries.get(key);
    if (!entry) {
      const made: Entry = { bytes: read(file, stats.size, sha256), users: 0 };
      made.bytes.catch(() => {
        if (this.entries.get(key) === made) this.entries.delete(key);
      });
      this.entries.set(key, made);
      entry = made;
    }
    const held = entry;
    held.users++;
    clearTimeout(held.timer);
    held.timer = undefined;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      held.users--;
      if (held.users > 0) return;
      held.timer = setTimeout(() => {
        if (held.users === 0 && this.entries.get(key) === held) this.entries.delete(key);
      }, KEEP_MS);
      held.timer.unref();
    };
    try {
      return { bytes: await held.bytes, release };
    } catch (error) {
      release();
      throw error;
    }
  }

  clear(): void {
    for (const entry of this.entries.values()) clearTimeout(entry.timer);
    this.entries.clear();
  }
}

async function read(file: string, size: number, sha256: string): Promise<Buffer> {
  const bytes = await readFile(file);
  if (bytes.length !== size) {
    throw new Error(
      `the artifact file ${file} changed while it was read: ${bytes.length} bytes, not ${size}`,
    );
  }
  const sum = createHash('sha256').update(bytes).digest('hex');
  if (sum !== sha256.toLowerCase()) {
    throw new Error(
      `the artifact file ${file} has sha256 ${sum}, the artifact says ${sha256.toLowerCase()}: it changed after it was built`,
    );
  }
  return bytes;
}
