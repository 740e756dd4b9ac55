/**
 * data.tar, written into fixed-size chunks that are handed to a sink (a compressor's stdin, the
 * in-process gzip, a file) while each file's MD5 is taken. A chunk is filled by one synchronous
 * call (headers written in place, file contents read straight into it with positioned reads): a
 * build tree was just written and sits in the page cache, where a read costs microseconds, far
 * less than a round trip through the thread pool or an await per file. After each chunk the
 * event loop gets a turn, so the sink's writes go on while the next chunk fills. At most `count`
 * chunks are out at once; where the sink lets go of a chunk once it is written (a pipe, a file),
 * the same buffers are used over and over, so memory stays a few MiB whatever the tree holds.
 */
import * as crypto from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { RingmasterError } from '@ringmaster/core/adapter';
import type { TreeEntry } from '../tree.js';
import { BLOCK, padding, type TarHeader, tarEnd, tarHeaderSize, writeTarHeader } from './tar.js';

/** Where the chunks go. `done` is called once the chunk's bytes are written (or failed). */
export interface ChunkSink {
  write(bytes: Buffer, done: (error?: Error | null) => void): void;
}

export interface ChunkOptions {
  /** Bytes per chunk. */
  size: number;
  /** Chunks handed out and not yet done, at most. */
  count: number;
  /** Whether a chunk is used again once done (false when the sink keeps what it is given). */
  reuse: boolean;
}

type Hash = (algorithm: string, data: Buffer, encoding: 'hex') => string;
/** One-shot hashing where Node has it (20.12+): most files fit in one chunk. */
const oneShot = (crypto as { hash?: Hash }).hash;

const ZEROS = Buffer.alloc(512);

const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);

const changed = (entry: TreeEntry): RingmasterError =>
  new RingmasterError('PACKAGE', `${entry.source} changed size while it was packaged; build again`, {
    scope: 'pkg-deb',
    details: { path: entry.path },
  });

const replaced = (entry: TreeEntry, how: string, cause?: unknown): RingmasterError =>
  new RingmasterError('PACKAGE', `${entry.source} ${how} while it was packaged; build again`, {
    scope: 'pkg-deb',
    details: { path: entry.path },
    ...(cause ? { cause } : {}),
  });

/**
 * Opens a file the walk saw, and checks it is still what the walk saw (its header is already
 * written): a regular file (not a directory, symlink or FIFO put in its place), executable or
 * not as it was.
 */
function openAsWalked(entry: TreeEntry): number {
  let fd: number;
  try {
    fd = openSync(entry.source!, OPEN_FLAGS);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw replaced(entry, code === 'ENOENT' ? 'was removed' : `was replaced (${code})`, error);
  }
  const now = fstatSync(fd);
  // Its size is checked as it is read (see `copyFile`), which also catches a change after this.
  const problem = !now.isFile()
    ? 'was replaced by something other than a file'
    : ((now.mode & 0o111) !== 0) !== ((entry.mode & 0o111) !== 0)
      ? 'changed its executable bits'
      : undefined;
  if (problem) {
    closeSync(fd);
    throw replaced(entry, problem);
  }
  return fd;
}

/** Hands out chunks, at most `count` at once; waits for one to come back when all are out. */
class ChunkPool {
  private free: Buffer[] = [];
  private out = 0;
  private waiting: (() => void)[] = [];
  private allDone: (() => void) | undefined;
  error: Error | undefined;

  constructor(private readonly options: ChunkOptions) {}

  async take(): Promise<Buffer> {
    while (this.out >= this.options.count && !this.error)
      await new Promise<void>((r) => this.waiting.push(r));
    if (this.error) throw this.error;
    this.out++;
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.options.size);
  }

  give(chunk: Buffer, error?: Error | null): void {
    this.out--;
    if (error && !this.error) this.error = error;
    if (this.options.reuse && !error) this.free.push(chunk);
    this.waiting.shift()?.();
    if (this.out === 0) this.allDone?.();
  }

  /** Resolves once every chunk handed out is done; throws the sink's first error. */
  async drain(): Promise<void> {
    if (this.out > 0) await new Promise<void>((r) => (this.allDone = r));
    if (this.error) throw this.error;
  }
}

/** A turn of the event loop, so that pending writes are carried out. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

const entryName = (entry: TreeEntry) => (entry.type === 'dir' ? `./${entry.path}/` : `./${entry.path}`);

/** The size of the data.tar `writeDataTar` writes, from the entries alone. */
export function dataTarSize(entries: TreeEntry[]): number {
  let size = BLOCK; // ./
  for (const entry of entries) {
    size += tarHeaderSize(entryName(entry), entry.linkname);
    if (entry.type === 'file') size += entry.size + padding(entry.size);
  }
  return size + tarEnd().length;
}

/** The file being copied into the tar: what is read of it so far, and its MD5 if in pieces. */
interface OpenFile {
  entry: TreeEntry;
  fd: number;
  read: number;
  hash: crypto.Hash | undefined;
}

/**
 * The tar as a sequence of bytes poured into chunks: `fill` writes as much as the chunk takes,
 * synchronously, and carries over to the next call whatever did not fit (the rest of a header,
 * of a file, of its padding).
 */
class TarFiller {
  private next = 0;
  private file: OpenFile | undefined;
  /** Bytes that must come before anything else: a header that did not fit, padding, the end. */
  private pending: Buffer | undefined;
  private ended = false;
  private readonly scratch = Buffer.allocUnsafe(4 * BLOCK);
  private readonly probe = Buffer.alloc(1);

  constructor(
    private readonly entries: TreeEntry[],
    private readonly mtime: number,
    private readonly md5s: Map<string, string>,
  ) {
    this.header({ name: './', type: 'dir', mode: 0o755, size: 0, mtime }, undefined, 0);
  }

  get done(): boolean {
    return this.ended && !this.pending && !this.file;
  }

  /** Fills `chunk` from `at` on; returns where the bytes end (the chunk's length unless done). */
  fill(chunk: Buffer, at: number): number {
    while (at < chunk.length) {
      if (this.pending) {
        const n = this.pending.copy(chunk, at);
        this.pending = n < this.pending.length ? this.pending.subarray(n) : undefined;
        at += n;
      } else if (this.file) at = this.copyFile(this.file, chunk, at);
      else if (this.next < this.entries.length) {
        const entry = this.entries[this.next++]!;
        at = this.header(
          {
            name: entryName(entry),
            type: entry.type,
            mode: entry.mode,
            size: entry.size,
            mtime: this.mtime,
            linkname: entry.linkname,
          },
          chunk,
          at,
        );
        if (entry.type === 'file') {
          this.file = { entry, fd: openAsWalked(entry), read: 0, hash: undefined };
        }
      } else if (!this.ended) {
        this.ended = true;
        this.pending = tarEnd();
      } else break;
    }
    return at;
  }

  /** Closes the file being read, if any (the build failed). */
  close(): void {
    if (this.file) closeSync(this.file.fd);
    this.file = undefined;
  }

  /** Writes a header into the chunk when it fits, else into `pending`; returns the new end. */
  private header(h: TarHeader, chunk: Buffer | undefined, at: number): number {
    const size = tarHeaderSize(h.name, h.linkname);
    if (chunk && chunk.length - at >= size) return at + writeTarHeader(chunk, at, h);
    const buf = size <= this.scratch.length ? this.scratch.subarray(0, size) : Buffer.allocUnsafe(size);
    writeTarHeader(buf, 0, h);
    this.pending = buf;
    return at;
  }

  /**
   * Reads the open file into the chunk. Each read asks for one byte more than the file should
   * still hold: a regular file's read comes back short only at its end, so a short read where
   * the file should end proves it did not grow, and a byte too many proves it did. Only a file
   * ending right at a chunk's end takes a read of its own to prove it.
   */
  private copyFile(file: OpenFile, chunk: Buffer, at: number): number {
    const { entry } = file;
    const left = entry.size - file.read;
    const want = Math.min(left + 1, chunk.length - at);
    const n = readSync(file.fd, chunk, at, want, file.read);
    if (n > left) throw changed(entry);
    const whole = file.read === 0 && n === entry.size;
    file.read += n;
    const atEnd =
      file.read === entry.size && (n < want || readSync(file.fd, this.probe, 0, 1, entry.size) === 0);
    // A file that ends early (nothing where more was due) or goes on past its size has changed.
    if (file.read === entry.size ? !atEnd : n === 0) throw changed(entry);
    const piece = chunk.subarray(at, at + n);
    if (whole && atEnd && oneShot) this.finish(file, oneShot('md5', piece, 'hex'));
    else {
      file.hash ??= crypto.createHash('md5');
      file.hash.update(piece);
      if (atEnd) this.finish(file, file.hash.digest('hex'));
    }
    return at + n;
  }

  private finish(file: OpenFile, md5: string): void {
    this.file = undefined;
    closeSync(file.fd);
    this.md5s.set(file.entry.path, md5);
    const pad = padding(file.entry.size);
    if (pad) this.pending = ZEROS.subarray(0, pad);
  }
}

/**
 * Writes the data.tar of `entries` (every mtime `mtime`) to `sink`, recording each regular
 * file's MD5 into `md5s`. A file that is not the size the walk saw is refused.
 */
export async function writeDataTar(
  entries: TreeEntry[],
  mtime: number,
  md5s: Map<string, string>,
  sink: ChunkSink,
  options: ChunkOptions,
): Promise<void> {
  const pool = new ChunkPool(options);
  const filler = new TarFiller(entries, mtime, md5s);
  try {
    while (!filler.done) {
      const chunk = await pool.take();
      const end = filler.fill(chunk, 0);
      sink.write(end === chunk.length ? chunk : chunk.subarray(0, end), (error) => pool.give(chunk, error));
      if (!filler.done) await turn();
    }
    await pool.drain();
  } catch (error) {
    filler.close();
    // Whatever is out still comes back; the sink's own failure says more than ours.
    throw pool.error ?? error;
  }
}
