/**
 * The embedded default Store: a directory holding `journal.jsonl` (append-only, fsync'd) and
 * `locks/`. Several processes may share one directory: appends are serialised by a short
 * append mutex and checked with compare-and-set, and leased locks recover from dead holders.
 *
 * Fail-stop: an append is acknowledged only once every byte is written and synced. A short
 * write, ENOSPC or EIO fails that append with its cause, and what it partly wrote is cut off
 * again, so the next append (once there is space) continues with the next seq and nothing
 * acknowledged is ever lost or renumbered.
 */
import { join } from 'node:path';
import { z } from 'zod';
import type {
  AcquireOptions,
  AppendOptions,
  Lease,
  LedgerRecord,
  LockInfo,
  NewRecord,
  Store,
} from '../contracts/store.js';
import { isRingmasterError, parseOptions, RingmasterError } from '../errors.js';
import { errno, type FileHandleLike, type FsLike, nodeFsLike } from './fs.js';
import { type DecodedAppends, decodeAppends, encodeLines } from './journal.js';
import { LockFiles } from './lockfile.js';

export const fileStoreOptionsSchema = z
  .object({
    /** Directory of the ledger; created on first use. */
    dir: z.string().min(1),
    /** Filesystem to use (memfs in unit tests). @default node:fs/promises */
    fs: z
      .custom<FsLike>((v) => typeof v === 'object' && v !== null, 'expected an fs/promises-like object')
      .optional(),
    /** Skip fsync (benchmarks of everything but the disk). @default true */
    durable: z.boolean().default(true),
    /** The wall clock leases are measured on (tests move it). @default Date.now */
    now: z.custom<() => number>((v) => typeof v === 'function', 'expected a function').optional(),
  })
  .strict();
export type FileStoreOptions = z.input<typeof fileStoreOptionsSchema>;

const APPEND_MUTEX = '.journal-append';
/**
 * How long the append mutex is held before another writer may take it over, and how long a
 * writer waits for it. An append holds it for milliseconds; one stalled longer (a hung NFS
 * sync, SIGSTOP) is taken over, and then must not undo its write (see `writeSynced`).
 */
const APPEND_MUTEX_MS = 30_000;

/** Turns a failed write or sync into the append's error: LEDGER, with the errno in details. */
function appendError(journal: string, error: unknown, undone: boolean): RingmasterError {
  const code = errno(error);
  const reason = error instanceof Error ? error.message : String(error);
  return new RingmasterError(
    'LEDGER',
    `cannot append to ${journal}: ${reason}; ${
      undone
        ? 'nothing of this append was kept, and the ledger goes on once the cause is fixed'
        : 'what it partly wrote could not be cut off again: this handle refuses further appends (a restart drops the partial records as a torn tail)'
    }`,
    { scope: 'ledger', cause: error, details: { file: journal, ...(code ? { errno: code } : {}) } },
  );
}

/**
 * A failed write or sync that could not be cut back (the append mutex may have been taken over
 * meanwhile): its records may or may not be in the journal.
 */
function outcomeUnknown(journal: string, error: unknown): RingmasterError {
  const code = errno(error);
  const reason = error instanceof Error ? error.message : String(error);
  return new RingmasterError(
    'LEDGER',
    `cannot append to ${journal}: ${reason}; the append stalled past the journal's append mutex, and another writer may have appended after it, so it was not cut back: whether its records were kept is unknown until the journal is read again`,
    {
      scope: 'ledger',
      cause: error,
      details: { file: journal, outcome: 'unknown', ...(code ? { errno: code } : {}) },
    },
  );
}

/** Bytes read from the journal at a time. */
const CHUNK_BYTES = 4 * 1024 * 1024;
/** Bytes of it decoded, and handed over to be folded, at a time: few records are alive at once. */
const BATCH_BYTES = 256 * 1024;

/**
 * Unlocked: hands over the append held back and the batch's appends but its last, which is held
 * back in turn (it may be an append under way). Returns what is held back now.
 */
function handOver(
  held: { records: LedgerRecord[]; starts: number[] } | undefined,
  decoded: DecodedAppends,
  base: number,
  each: (records: LedgerRecord[], starts: number[], until: number) => void,
): { records: LedgerRecord[]; starts: number[] } {
  const starts = decoded.starts.map((s) => s + base);
  const cut = decoded.records.length - decoded.lastAppend;
  if (held) each(held.records, held.starts, starts[0]!);
  if (cut > 0) each(decoded.records.slice(0, cut), starts.slice(0, cut), starts[cut]!);
  return { records: decoded.records.slice(cut), starts: starts.slice(cut) };
}

/** How a range of the journal is read: see {@link FileStore.decodeRange}. */
type RangeMode = 'strict' | 'unlocked';

class FileStore implements Store {
  readonly name = 'file';
  private readonly fs: FsLike;
  private readonly journal: string;
  private readonly locks: LockFiles;
  private ready: Promise<void> | undefined;
  /**
   * What this handle has read: `seqs` records, ending at byte `bytes`, record n's line starting
   * at `starts[n - 1]`. The records themselves are not kept: a long ledger is read again from
   * the file when asked for, never held in memory twice.
   */
  private seqs = 0;
  private bytes = 0;
  private starts: number[] = [];
  /** This handle's reads and appends, one at a time (each moves `seqs` and `bytes` on). */
  private queue: Promise<unknown> = Promise.resolve();
  /** The journal opened for appending, kept open between appends. */
  private appender: FileHandleLike | undefined;
  /** Set when a failed append could not be undone: the file's tail is unknown to this handle. */
  private broken: RingmasterError | undefined;

  /** The clock leases are measured on. */
  private readonly now: () => number;

  constructor(private readonly opts: z.output<typeof fileStoreOptionsSchema>) {
    this.now = opts.now ?? Date.now;
    this.fs = opts.fs ?? nodeFsLike;
    this.journal = join(opts.dir, 'journal.jsonl');
    this.locks = new LockFiles(
      this.fs,
      (name) => join(opts.dir, 'locks', `${encodeURIComponent(name)}.lock`),
      opts.now,
    );
  }

  private init(): Promise<void> {
    this.ready ??= (async () => {
      await this.fs.mkdir(join(this.opts.dir, 'locks'), { recursive: true });
    })();
    return this.ready;
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async size(): Promise<number | undefined> {
    let size: number;
    try {
      size = (await this.fs.stat(this.journal)).size;
    } catch (error) {
      if (errno(error) === 'ENOENT') return undefined;
      throw error;
    }
    if (size < this.bytes) {
      throw new RingmasterError(
        'LEDGER',
        `${this.journal} shrank from ${this.bytes} to ${size} bytes under us`,
        {
          scope: 'ledger',
        },
      );
    }
    return size;
  }

  /**
   * Reads the records appended (by anyone) since this handle last looked, handing each chunk of
   * them to `each`. Under the append mutex (`strict`), every complete line must be a valid
   * record, and an unfinished append at the end is a torn tail (its start is returned). Without
   * it (`unlocked`), an append may be under way at the end, or a torn tail being cut off and
   * written over: decoding stops at the first line that does not read as a record, and the last
   * whole append before it is left for the read under the mutex, which checks it all again.
   */
  private async catchUp(
    mode: RangeMode,
    each?: (records: LedgerRecord[]) => void,
  ): Promise<{ tornAt?: number; size?: number }> {
    const size = await this.size();
    if (size === undefined) return {};
    if (size === this.bytes) return { size };
    const end = await this.decodeRange(this.bytes, this.seqs + 1, size, mode, (records, starts, until) => {
      for (const start of starts) this.starts.push(start);
      this.seqs += records.length;
      this.bytes = until;
      each?.(records);
    });
    return mode === 'strict' && end < size ? { tornAt: end, size } : { size };
  }

  /**
   * Decodes the whole appends in bytes `from` to `to` of the journal, a batch at a time, handing
   * each batch's records (with where their lines start, and where the batch ends) to `each`.
   * Returns where the last whole append handed over ends. `unlocked` holds the last append back
   * (it may be under way) and stops, without an error, at a line that is not a record.
   */
  private async decodeRange(
    from: number,
    firstSeq: number,
    to: number,
    mode: RangeMode,
    each: (records: LedgerRecord[], starts: number[], until: number) => void,
  ): Promise<number> {
    const handle = await this.fs.open(this.journal, 'r');
    try {
      let offset = from;
      let seq = firstSeq;
      let chunk = CHUNK_BYTES;
      /** Unlocked: the last whole append decoded, handed over once another follows it. */
      let held: { records: LedgerRecord[]; starts: number[] } | undefined;
      reading: while (offset < to) {
        if (held) {
          // Unlocked, an append is handed over only with its successor from the same read (an
          // append cut off and written over between two reads could otherwise pass): the next
          // read starts again at the one held back.
          offset = held.starts[0]!;
          seq = held.records[0]!.seq;
          held = undefined;
        }
        const buffer = Buffer.allocUnsafe(Math.min(chunk, to - offset));
        let read = 0;
        while (read < buffer.length) {
          const want = buffer.length - read;
          const { bytesRead } = await handle.read(buffer, read, want, offset + read);
          // Unlocked, a short read means the file shrank under us (a torn append being cut off):
          // nothing of this read is trusted, and what follows is for the read under the mutex.
          if (mode === 'unlocked' && bytesRead < want) break reading;
          if (bytesRead === 0) break;
          read += bytesRead;
        }
        let handed = 0;
        const count = (records: LedgerRecord[], starts: number[], until: number) => {
          handed++;
          each(records, starts, until);
        };
        // Decoded and folded a batch at a time, so few records are alive at once.
        let pos = 0;
        while (pos < read) {
          const decoded = decodeAppends(
            buffer.subarray(pos, read),
            this.journal,
            seq,
            seq,
            mode === 'strict',
            BATCH_BYTES,
          );
          if (decoded.validBytes > 0) {
            const base = offset + pos;
            if (mode === 'unlocked') held = handOver(held, decoded, base, count);
            else {
              const starts = decoded.starts.map((s) => s + base);
              count(decoded.records, starts, base + decoded.validBytes);
            }
            pos += decoded.validBytes;
            seq += decoded.records.length;
          }
          if (decoded.problem) {
            offset += pos;
            break reading;
          }
          if (decoded.validBytes === 0) break;
        }
        offset += pos;
        // What is left of the buffer is an append that is not finished: at the end, torn or
        // under way; before it, larger than the chunk, read whole with a larger one.
        if (pos < read && (offset + (read - pos) >= to || read < buffer.length)) break;
        // Nothing handed over (an append larger than the chunk, or only the one held back):
        // the next read is larger.
        if (pos === 0 || handed === 0) chunk *= 2;
      }
      return held ? held.starts[0]! : offset;
    } finally {
      await handle.close();
    }
  }

  /**
   * Hands the records after `afterSeq` to `each`, a chunk at a time, as the journal is read: a
   * long ledger is replayed without ever being held whole. The records this handle read before
   * are read again from the file (their bytes, acknowledged, never change); most of what is new
   * is read before taking the append mutex, so a long replay does not hold up others' appends,
   * and the rest (if any) under it, so an append that fails and is cut off again is never seen.
   * Where the mutex cannot be made (a full disk, a read-only ledger) it reads without it.
   */
  scan(afterSeq: number, each: (records: LedgerRecord[]) => void): Promise<void> {
    const after = (records: LedgerRecord[]) => {
      const first = records.findIndex((r) => r.seq > afterSeq);
      if (first !== -1) each(first === 0 ? records : records.slice(first));
    };
    return this.serial(async () => {
      await this.init();
      if (afterSeq < this.seqs) {
        await this.decodeRange(this.starts[afterSeq]!, afterSeq + 1, this.bytes, 'strict', after);
      }
      // Looked at before the journal: with no mutex file then and no new bytes after, no append
      // can be acknowledged that this read misses. (A writer that held the mutex while we
      // looked might have checked its fence, say a ring lease, before we took that lease
      // over: its record must be read before we decide anything, so then we wait for it.)
      const quiet = !(await this.locks.present(APPEND_MUTEX));
      const { size } = await this.catchUp('unlocked', after);
      if (size === undefined || (quiet && size === this.bytes)) return;
      let mutex: Lease | undefined;
      try {
        mutex = await this.locks.acquireWaiting(
          APPEND_MUTEX,
          'journal read',
          APPEND_MUTEX_MS,
          APPEND_MUTEX_MS,
        );
      } catch (error) {
        if (isRingmasterError(error, 'LOCKED') || errno(error) === undefined) throw error;
      }
      try {
        await this.catchUp('strict', after);
      } finally {
        if (mutex) await this.releaseMutex(mutex);
      }
    });
  }

  async read(afterSeq = 0): Promise<LedgerRecord[]> {
    const out: LedgerRecord[] = [];
    await this.scan(afterSeq, (records) => {
      for (const record of records) out.push(record);
    });
    return out;
  }

  append(records: readonly NewRecord[], options: AppendOptions = {}): Promise<LedgerRecord[]> {
    return this.serial(() => this.appendNow(records, options));
  }

  private async appendNow(records: readonly NewRecord[], options: AppendOptions): Promise<LedgerRecord[]> {
    await this.init();
    if (this.broken) throw this.broken;
    let mutex: Lease;
    try {
      mutex = await this.locks.acquireWaiting(
        APPEND_MUTEX,
        'journal append',
        APPEND_MUTEX_MS,
        APPEND_MUTEX_MS,
      );
    } catch (error) {
      // A full disk has no room for the mutex file either: the append fails before writing.
      if (errno(error) !== undefined) throw appendError(this.journal, error, true);
      throw error;
    }
    try {
      const { tornAt } = await this.catchUp('strict');
      const last = this.seqs;
      if (options.expectedSeq !== undefined && options.expectedSeq !== last) {
        throw new RingmasterError(
          'CONFLICT',
          `the ledger moved on: expected record ${options.expectedSeq} to be the last, found ${last}`,
          { scope: 'ledger', details: { expectedSeq: options.expectedSeq, lastSeq: last } },
        );
      }
      // The fence last, right before the write: the leases must still be ours when it lands.
      await Promise.all((options.fence ?? []).map((lease) => this.locks.check(lease)));
      const stored = records.map((r, i) => ({ seq: last + i + 1, type: r.type, time: r.time, data: r.data }));
      const lines = encodeLines(stored).map((l) => Buffer.from(l));
      const text = Buffer.concat(lines);
      this.appender ??= await this.fs.open(this.journal, 'a+');
      // A torn tail left by a crash is cut off before anything is written after it.
      if (tornAt !== undefined) await this.appender.truncate(tornAt);
      await this.writeSynced(text, mutex);
      let start = this.bytes;
      for (const line of lines) {
        this.starts.push(start);
        start += line.length;
      }
      this.seqs += stored.length;
      this.bytes += text.length;
      return stored;
    } finally {
      await this.releaseMutex(mutex);
    }
  }

  /**
   * Gives the append mutex back. Held past half its lease (a stalled sync or read), it may have
   * been taken over: then it is given back only if it is still ours, never unlinking the next
   * holder's.
   */
  private async releaseMutex(mutex: Lease): Promise<void> {
    if (mutex.expiresAt - this.now() > APPEND_MUTEX_MS / 2) await this.locks.releaseShort(mutex);
    else await this.locks.release(mutex).catch(() => {});
  }

  /**
   * Writes `text` at the end of the journal and syncs it, or fails having cut the journal back
   * to where it ended before. `write` may write less than asked (a filling disk): the rest is
   * written until done or until it fails.
   *
   * It cuts back only while `mutex` is surely still held (its token, with half its lease left).
   * A writer stalled past it (a sync hung on a dead NFS server) may have been taken over, and the
   * next writer may have read these bytes as records and appended after them, and been told its
   * append was written: cutting back would lose that. Then the journal is left as it is and the
   * error says the append's outcome is unknown; the journal, read again, says what was kept.
   */
  private async writeSynced(text: Buffer, mutex: Lease): Promise<void> {
    const appender = this.appender!;
    try {
      let written = 0;
      while (written < text.length) {
        const { bytesWritten } = await appender.write(text, written, text.length - written, null);
        if (bytesWritten <= 0) {
          throw Object.assign(new Error(`ENOSPC: the journal took ${written} of ${text.length} bytes`), {
            code: 'ENOSPC',
          });
        }
        written += bytesWritten;
      }
      if (this.opts.durable) await appender.datasync();
    } catch (error) {
      const ours = await this.locks.heldFor(mutex, APPEND_MUTEX_MS / 2).catch(() => false);
      if (!ours) throw outcomeUnknown(this.journal, error);
      try {
        await appender.truncate(this.bytes);
        if (this.opts.durable) await appender.datasync();
      } catch {
        this.broken = appendError(this.journal, error, false);
        throw this.broken;
      }
      throw appendError(this.journal, error, true);
    }
  }

  async acquire(name: string, options: AcquireOptions): Promise<Lease | undefined> {
    await this.init();
    return this.locks.acquire(name, options.owner, options.ttlMs);
  }

  renew(lease: Lease, ttlMs: number): Promise<Lease> {
    return this.locks.renew(lease, ttlMs);
  }

  release(lease: Lease): Promise<void> {
    return this.locks.release(lease);
  }

  async inspect(name: string): Promise<LockInfo | undefined> {
    await this.init();
    return this.locks.inspect(name);
  }

  async close(): Promise<void> {
    await this.appender?.close();
    this.appender = undefined;
  }
}

/**
 * The embedded ledger store: a directory on disk (or on an injected fs such as memfs).
 *
 * @example
 * ```ts
 * const store = fileStore({ dir: '.ringmaster/ledger' });
 * const engine = createEngine({ store, pipelines: [app] });
 * ```
 */
export function fileStore(options: FileStoreOptions): Store {
  return new FileStore(parseOptions(fileStoreOptionsSchema, options, 'ledger', 'fileStore'));
}
