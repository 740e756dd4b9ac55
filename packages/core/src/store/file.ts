/**
 * The embedded default Store: a directory holding `journal.jsonl` (append-only, fsync'd) and
 * `locks/`. Several processes may share one directory: appends are serialised by a short
 * append mutex and checked with compare-and-set, and leased locks recover from dead holders.
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
import { parseOptions, RingmasterError } from '../errors.js';
import { errno, type FileHandleLike, type FsLike, nodeFsLike } from './fs.js';
import { decodeJournal, encodeRecord } from './journal.js';
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
  })
  .strict();
export type FileStoreOptions = z.input<typeof fileStoreOptionsSchema>;

const APPEND_MUTEX = '.journal-append';

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

  constructor(private readonly opts: z.output<typeof fileStoreOptionsSchema>) {
    this.fs = opts.fs ?? nodeFsLike;
    this.journal = join(opts.dir, 'journal.jsonl');
    this.locks = new LockFiles(this.fs, (name) =>
      join(opts.dir, 'locks', `${encodeURIComponent(name)}.lock`),
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

  async read(afterSeq = 0): Promise<LedgerRecord[]> {
    await this.init();
    await this.catchUp();
    return this.cache.slice(afterSeq);
  }

  async append(records: readonly NewRecord[], options: AppendOptions = {}): Promise<LedgerRecord[]> {
    await this.init();
    const mutex = await this.locks.acquireWaiting(APPEND_MUTEX, 'journal append', 30_000, 30_000);
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
      const stored = records.map((r, i) => ({ seq: last + i + 1, type: r.type, time: r.time, data: r.data }));
      const text = Buffer.from(stored.map(encodeRecord).join(''));
      this.appender ??= await this.fs.open(this.journal, 'a+');
      // A torn tail left by a crash is cut off before anything is written after it.
      if (tornAt !== undefined) await this.appender.truncate(tornAt);
      await this.appender.write(text, 0, text.length, null);
      if (this.opts.durable) await this.appender.datasync();
      for (const record of stored) this.cache.push(record);
      this.bytes += text.length;
      return stored;
    } finally {
      await this.locks.releaseShort(mutex);
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
