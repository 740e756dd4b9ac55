/**
 * data.tar, written into fixed-size chunks that are handed to a sink (a compressor's stdin, the
 * in-process gzip, a file) while each file's MD5 is taken. File contents are read straight into
 * the chunk with positioned synchronous reads: a build tree was just written and sits in the page
 * cache, where a read costs microseconds, far less than a round trip through the thread pool.
 * After each chunk the event loop gets a turn, so the sink's writes go on while the next chunk
 * fills. At most `count` chunks are out at once; where the sink lets go of a chunk once it is
 * written (a pipe, a file), the same buffers are used over and over, so memory stays a few MiB
 * whatever the tree holds.
 */
import * as crypto from 'node:crypto';
import { closeSync, constants, openSync, readSync } from 'node:fs';
import { RingmasterError } from '@ringmaster/core/adapter';
import type { TreeEntry } from '../tree.js';
import { BLOCK, padding, tarEnd, tarHeader, tarHeaderSize } from './tar.js';

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
  let chunk = await pool.take();
  let at = 0;
  const flush = async () => {
    const full = chunk;
    sink.write(at === full.length ? full : full.subarray(0, at), (error) => pool.give(full, error));
    await turn();
    chunk = await pool.take();
    at = 0;
  };
  const put = async (bytes: Buffer) => {
    let from = 0;
    while (from < bytes.length) {
      if (at === chunk.length) await flush();
      const n = bytes.copy(chunk, at, from);
      at += n;
      from += n;
    }
  };
  const probe = Buffer.alloc(1);
  try {
    await put(tarHeader({ name: './', type: 'dir', mode: 0o755, size: 0, mtime }));
    for (const entry of entries) {
      await put(
        tarHeader({
          name: entryName(entry),
          type: entry.type,
          mode: entry.mode,
          size: entry.size,
          mtime,
          linkname: entry.linkname,
        }),
      );
      if (entry.type !== 'file') continue;
      const fd = openSync(entry.source!, OPEN_FLAGS);
      try {
        let read = 0;
        let hash: crypto.Hash | undefined;
        let whole: Buffer | undefined;
        while (read < entry.size) {
          if (at === chunk.length) await flush();
          const want = Math.min(entry.size - read, chunk.length - at);
          const n = readSync(fd, chunk, at, want, read);
          if (n === 0) throw changed(entry);
          const piece = chunk.subarray(at, at + n);
          if (read === 0 && n === entry.size && oneShot) whole = piece;
          else {
            hash ??= crypto.createHash('md5');
            hash.update(piece);
          }
          at += n;
          read += n;
        }
        // One byte more would mean the file grew since the walk measured it.
        if (readSync(fd, probe, 0, 1, entry.size) !== 0) throw changed(entry);
        md5s.set(
          entry.path,
          whole ? oneShot!('md5', whole, 'hex') : (hash ?? crypto.createHash('md5')).digest('hex'),
        );
      } finally {
        closeSync(fd);
      }
      const pad = padding(entry.size);
      if (pad) await put(ZEROS.subarray(0, pad));
    }
    await put(tarEnd());
    const last = chunk;
    sink.write(last.subarray(0, at), (error) => pool.give(last, error));
    await pool.drain();
  } catch (error) {
    // Whatever is out still comes back; the sink's own failure says more than ours.
    throw pool.error ?? error;
  }
}
