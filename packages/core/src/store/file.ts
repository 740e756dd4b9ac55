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
import { decodeJournal, encodeAppend } from './journal.js';
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

class FileStore implements Store {
  readonly name = 'file';
  private readonly fs: FsLike;
  private readonly journal: string;
  private readonly locks: LockFiles;
  private ready: Promise<void> | undefined;
  /** What this handle has read: records up to `seq`, ending at byte `bytes`. */
  private cache: LedgerRecord[] = [];
  /** The journal opened for appending, kept open between appends. */
  private appender: FileHandleLike | undefined;
  private bytes = 0;
  /** Set when a failed append could not be undone: the file's tail is unknown to this handle. */
  private broken: RingmasterError | undefined;

  constructor(private readonly opts: z.output<typeof fileStoreOptionsSchema>) {
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

  /** Reads records appended (by anyone) since this handle last looked. */
  private async catchUp(): Promise<{ tornAt?: number }> {
    let size: number;
    try {
      size = (await this.fs.stat(this.journal)).size;
    } catch (error) {
      if (errno(error) === 'ENOENT') return {};
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
    if (size === this.bytes) return {};
    const handle = await this.fs.open(this.journal, 'r');
    try {
      const buffer = Buffer.alloc(size - this.bytes);
      let read = 0;
      while (read < buffer.length) {
        const { bytesRead } = await handle.read(buffer, read, buffer.length - read, this.bytes + read);
        if (bytesRead === 0) break;
        read += bytesRead;
      }
      const decoded = decodeJournal(
        buffer.subarray(0, read),
        this.journal,
        this.cache.length + 1,
        this.cache.length + 1,
      );
      for (const record of decoded.records) this.cache.push(record);
      this.bytes += decoded.validBytes;
      return decoded.tornTail ? { tornAt: this.bytes } : {};
    } finally {
      await handle.close();
    }
  }

  /**
   * Reads under the append mutex, so an append that fails and is cut off again is never seen.
   * Where the mutex cannot be made (a full disk, a read-only ledger) it reads without it.
   */
  async read(afterSeq = 0): Promise<LedgerRecord[]> {
    await this.init();
    let mutex: Lease | undefined;
    try {
      mutex = await this.locks.acquireWaiting(APPEND_MUTEX, 'journal read', 30_000, 30_000);
    } catch (error) {
      if (isRingmasterError(error, 'LOCKED') || errno(error) === undefined) throw error;
    }
    try {
      await this.catchUp();
    } finally {
      if (mutex) await this.locks.releaseShort(mutex);
    }
    return this.cache.slice(afterSeq);
  }

  async append(records: readonly NewRecord[], options: AppendOptions = {}): Promise<LedgerRecord[]> {
    await this.init();
    if (this.broken) throw this.broken;
    let mutex: Lease;
    try {
      mutex = await this.locks.acquireWaiting(APPEND_MUTEX, 'journal append', 30_000, 30_000);
    } catch (error) {
      // A full disk has no room for the mutex file either: the append fails before writing.
      if (errno(error) !== undefined) throw appendError(this.journal, error, true);
      throw error;
    }
    try {
      const { tornAt } = await this.catchUp();
      const last = this.cache.length;
      if (options.expectedSeq !== undefined && options.expectedSeq !== last) {
        throw new RingmasterError(
          'CONFLICT',
          `the ledger moved on: expected record ${options.expectedSeq} to be the last, found ${last}`,
          { scope: 'ledger', details: { expectedSeq: options.expectedSeq, lastSeq: last } },
        );
      }
      for (const lease of options.fence ?? []) await this.locks.check(lease);
      const stored = records.map((r, i) => ({ seq: last + i + 1, type: r.type, time: r.time, data: r.data }));
      const text = Buffer.from(encodeAppend(stored));
      this.appender ??= await this.fs.open(this.journal, 'a+');
      // A torn tail left by a crash is cut off before anything is written after it.
      if (tornAt !== undefined) await this.appender.truncate(tornAt);
      await this.writeSynced(text);
      for (const record of stored) this.cache.push(record);
      this.bytes += text.length;
      return stored;
    } finally {
      await this.locks.releaseShort(mutex);
    }
  }

  /**
   * Writes `text` at the end of the journal and syncs it, or fails having cut the journal back
   * to where it ended before. `write` may write less than asked (a filling disk): the rest is
   * written until done or until it fails.
   */
  private async writeSynced(text: Buffer): Promise<void> {
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
