/**
 * The repository's catalogue, `.ringmaster/catalogue/` (which the HTTP server never exposes):
 * what it stores, as JSON lines in a few files that never change once written. `<seq>.base`
 * holds every record; each `<seq>.log` after it holds what one publish added (a record per
 * line) or removed (`{"removed": key}`). So a publish writes one file however many packages it
 * adds — to a temporary name, fsynced, renamed, its directory fsynced — and a process that read
 * the catalogue before reads only the files that appeared since. When the logs grow many (or
 * hold many removals), or on `reindex()`, a new base replaces them, and the older files go.
 *
 * Every line carries the SHA-256 of its own JSON (`check`), a file's last line says how many
 * lines it has (`{"end": n}`), and a file is only ever seen whole (renamed into place after its
 * fsync): a line that does not check, or a file cut short (even between lines), fails every
 * reader, naming the file and the line, except `reindex()`, which reads the pool again instead.
 *
 * Before this directory existed the catalogue was a file per record in `.ringmaster/packages/`:
 * while that is there and this is not, `legacy()` says so and reading refuses (the repository
 * then rebuilds the catalogue from the pool, once, under the lock).
 */
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readdirSync, readSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { RingmasterError } from '@ringmaster/core/adapter';
import { parentsOfMade, syncDir, tempNameFor, writeTemp } from './fs-atomic.js';
import {
  checkedJson,
  compareRecords,
  insertSorted,
  type PackageRecord,
  parseLine,
  recordJson,
  recordKey,
  slices,
} from './records.js';

/** `000000000042.base` or `000000000043.log`. */
const FILE = /^(\d{12})\.(base|log)$/;
/** A new base replaces the logs once there are this many of them… */
const MAX_LOGS = 128;
/** …or once they hold this many more lines than there are records. */
const SLACK = 1024;

const seqName = (seq: number, kind: 'base' | 'log') => `${String(seq).padStart(12, '0')}.${kind}`;

/** What the catalogue held when last read or written. */
interface View {
  /** The base read (0: none). */
  base: number;
  /** The last file read (base or log). */
  last: number;
  /** Logs read after the base. */
  logs: number;
  /** Lines read, base and logs. */
  lines: number;
  /** Key → record. */
  records: Map<string, PackageRecord>;
  sorted?: PackageRecord[];
  byFilename?: Map<string, PackageRecord>;
}

/** What `scan()` found, trusting nothing: the records of the lines that check, by pool path. */
export interface CatalogueScan {
  records: Map<string, PackageRecord>;
  /** True when a line or a file did not check. */
  damaged: boolean;
}

/** Each record's line, as read or written: a new base is written from them, not serialised again. */
const lineCache = new WeakMap<PackageRecord, string>();
const lineOf = (record: PackageRecord): string => {
  let line = lineCache.get(record);
  if (line === undefined) {
    line = `${recordJson(record)}\n`;
    lineCache.set(record, line);
  }
  return line;
};

const emptyView = (): View => ({ base: 0, last: 0, logs: 0, lines: 0, records: new Map() });

/** The catalogue of one repository; `dir` is its `.ringmaster` directory. */
export class Catalogue {
  /** The catalogue's directory. */
  readonly path: string;
  /** Where an older version kept a file per record. */
  readonly legacyDir: string;
  private view: View | undefined;
  /**
   * Every operation on the view, one after another: a load changes the view in place and yields
   * between slices, so two at once (two readers, or a reader beside a publish) would each apply
   * the same files and leave `sorted` as one of them saw it halfway.
   */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly dir: string) {
    this.path = join(dir, 'catalogue');
    this.legacyDir = join(dir, 'packages');
  }

  /** Runs `fn` once every operation queued before it has settled. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** True when the catalogue is still an older version's directory of record files. */
  legacy(): boolean {
    return this.list().files.length === 0 && existsSync(this.legacyDir);
  }

  private corrupt(file: string, why: string): RingmasterError {
    const path = join(this.path, file);
    return new RingmasterError(
      'REPOSITORY',
      `the catalogue file ${path} is unreadable (${why}); reindex() rebuilds the catalogue from the pool`,
      { scope: 'pkg-deb', details: { path } },
    );
  }

  /** The catalogue's files by sequence number, oldest first, and what a crashed writer left. */
  private list(): { files: { seq: number; name: string; base: boolean }[]; temps: string[] } {
    let names: string[];
    try {
      names = readdirSync(this.path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      names = [];
    }
    const files = names
      .map((name) => ({ name, m: FILE.exec(name) }))
      .filter((f) => f.m !== null)
      .map(({ name, m }) => ({ seq: Number(m![1]), name, base: m![2] === 'base' }))
      .sort((a, b) => a.seq - b.seq);
    const temps = names.filter((n) => n.startsWith('.') && n.endsWith('.tmp'));
    return { files, temps };
  }

  /** The whole of one file, synchronously (they are small, and many small reads cost less so). */
  private readWhole(name: string): Buffer {
    const fd = openSync(join(this.path, name), 'r');
    try {
      const size = fstatSync(fd).size;
      const data = Buffer.allocUnsafe(size);
      let got = 0;
      // Each read moves forward; bounded by the size.
      while (got < size) {
        const n = readSync(fd, data, got, size - got, got);
        if (n === 0) break;
        got += n;
      }
      return data.subarray(0, got);
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Applies one file's lines to `view`, in slices. `strict` throws at the first line that does
   * not check, or when the file is cut short; otherwise that line is skipped (and the rest of a
   * file cut short taken). Resolves with whether anything was skipped.
   */
  private async apply(view: View, name: string, strict: boolean): Promise<boolean> {
    const text = this.readWhole(name);
    const pause = slices();
    const problems: string[] = [];
    let at = 0;
    let line = 0;
    let end: number | undefined;
    // Each turn consumes one line.
    while (at < text.length) {
      line++;
      const eol = text.indexOf(10, at);
      const content = eol === -1 ? undefined : text.toString('utf8', at, eol);
      const parsed = content === undefined ? 'it ends without a newline (cut short?)' : parseLine(content);
      if (typeof parsed === 'string') problems.push(`line ${line}: ${parsed}`);
      else if (end !== undefined) problems.push(`line ${line} follows its end line`);
      else if ('end' in parsed) {
        end = line;
        if (parsed.end !== line - 1)
          problems.push(`its end line counts ${parsed.end} lines, not ${line - 1}`);
      } else if ('removed' in parsed) view.records.delete(parsed.removed);
      else {
        view.records.set(recordKey(parsed.record), parsed.record);
        lineCache.set(parsed.record, `${content}\n`);
      }
      if (strict && problems.length > 0) throw this.corrupt(name, problems[0]!);
      view.lines++;
      if (eol === -1) break;
      at = eol + 1;
      await pause();
    }
    if (end === undefined) problems.push('it has no end line (cut short?)');
    if (strict && problems.length > 0) throw this.corrupt(name, problems[0]!);
    return problems.length > 0;
  }

  /**
   * The catalogue as it is on disk now: only the files that appeared since the last call are
   * read, when its base is the one read then. `strict` as for {@link apply}; a tolerant read is
   * never kept. A file removed between the listing and its reading was folded into a newer base
   * meanwhile (by a publisher, outside this reader's lock): the reading starts over, from the
   * new listing.
   */
  private async load(strict = true): Promise<{ view: View; damaged: boolean }> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.loadOnce(strict);
      } catch (error) {
        // Half applied, or gone: the next read starts over.
        this.view = undefined;
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 5) throw error;
      }
    }
  }

  private async loadOnce(strict: boolean): Promise<{ view: View; damaged: boolean }> {
    const { files } = this.list();
    if (files.length === 0 && strict && existsSync(this.legacyDir)) {
      throw new RingmasterError(
        'REPOSITORY',
        `${this.legacyDir} is the catalogue of an older version (a file per package); reindex() converts it`,
        { scope: 'pkg-deb', details: { path: this.legacyDir } },
      );
    }
    const base = files.filter((f) => f.base).at(-1)?.seq ?? 0;
    const current = files.filter((f) => f.seq >= base);
    const known = strict ? this.view : undefined;
    const reuse = known !== undefined && known.base === base;
    const view = reuse ? known : emptyView();
    view.base = base;
    const unread = current.filter((f) => f.seq > view.last);
    let damaged = false;
    if (unread.length > 0) {
      // The records change in place: what callers were given stays as it was.
      view.sorted = undefined;
      view.byFilename = undefined;
    }
    for (const f of unread) {
      damaged = (await this.apply(view, f.name, strict)) || damaged;
      view.last = f.seq;
      if (!f.base) view.logs++;
    }
    if (strict) this.view = view;
    return { view, damaged };
  }

  /** Every record, in catalogue order (name, Debian version, architecture): a copy. */
  all(): Promise<PackageRecord[]> {
    return this.serial(() => this.sortedCopy());
  }

  private async sortedCopy(): Promise<PackageRecord[]> {
    const { view } = await this.load();
    view.sorted ??= [...view.records.values()].sort(compareRecords);
    return [...view.sorted];
  }

  /** The records by pool path (`Filename:`), as of the last `all()` (never change it). */
  byFilename(): ReadonlyMap<string, PackageRecord> {
    const view = this.view;
    if (!view) return new Map();
    view.byFilename ??= new Map([...view.records.values()].map((r) => [r.filename, r]));
    return view.byFilename;
  }

  get(name: string, version: string, architecture: string): Promise<PackageRecord | undefined> {
    return this.serial(async () => {
      const { view } = await this.load();
      return view.records.get(recordKey({ name, version, architecture }));
    });
  }

  /** The record of `name` `version`, of any architecture (the first in catalogue order). */
  find(name: string, version: string): Promise<PackageRecord | undefined> {
    return this.serial(async () =>
      (await this.sortedCopy()).find((r) => r.name === name && r.version === version),
    );
  }

  /** Every line that checks, trusting nothing else: for `reindex()`, which reads the pool again. */
  scan(): Promise<CatalogueScan> {
    return this.serial(async () => {
      const { view, damaged } = await this.load(false);
      return { records: new Map([...view.records.values()].map((r) => [r.filename, r])), damaged };
    });
  }

  /**
   * Writes `lines` as the catalogue's next file under a temporary name, fsynced (under the
   * publish lock, after a `load()`); `commit()` renames it into place and fsyncs the directory.
   */
  private async prepare(
    kind: 'base' | 'log',
    lines: string[],
  ): Promise<{ seq: number; commit(): Promise<void>; discard(): Promise<void> }> {
    // A catalogue directory made now is kept across a crash before anything is renamed into it.
    for (const dir of parentsOfMade(this.path, mkdirSync(this.path, { recursive: true }))) await syncDir(dir);
    const { files, temps } = this.list();
    // What a crashed writer left (under the lock, so no live writer's).
    for (const temp of temps) await rm(join(this.path, temp), { force: true });
    const seq = (files.at(-1)?.seq ?? 0) + 1;
    const path = join(this.path, seqName(seq, kind));
    const end = `${checkedJson({ end: lines.length })}\n`;
    const temp = await writeTemp(path, lines.join('') + end, tempNameFor(path));
    return {
      seq,
      commit: async () => {
        try {
          await rename(temp, path);
        } catch (error) {
          await rm(temp, { force: true });
          throw error;
        }
        await syncDir(this.path);
      },
      discard: () => rm(temp, { force: true }),
    };
  }

  /** Writes `lines` as the catalogue's next file, durably; resolves with its sequence number. */
  private async write(kind: 'base' | 'log', lines: string[]): Promise<number> {
    const file = await this.prepare(kind, lines);
    await file.commit();
    return file.seq;
  }

  /**
   * Adds records, durably, under the publish lock, in two steps: their file is written and
   * fsynced first (while the pool files are), then `commit()` puts it in place.
   */
  async prepareAdd(
    records: readonly PackageRecord[],
  ): Promise<{ commit(): Promise<void>; discard(): Promise<void> }> {
    if (records.length === 0) return { commit: async () => undefined, discard: async () => undefined };
    const { view, file } = await this.serial(async () => {
      const { view } = await this.load();
      return { view, file: await this.prepare('log', records.map(lineOf)) };
    });
    return {
      commit: () =>
        this.serial(async () => {
          await file.commit();
          // Unless a read started over meanwhile (it then read this file too).
          if (this.view === view) this.added(view, file.seq, records);
        }),
      discard: file.discard,
    };
  }

  /** Adds records, durably, under the publish lock: one new file. */
  async add(records: readonly PackageRecord[]): Promise<void> {
    await (await this.prepareAdd(records)).commit();
  }

  /** Takes what `add()` wrote into the view. */
  private added(view: View, seq: number, records: readonly PackageRecord[]): void {
    view.last = seq;
    view.logs++;
    view.lines += records.length;
    const { sorted, byFilename } = view;
    for (const r of records) {
      const old = view.records.get(recordKey(r));
      if (old) {
        byFilename?.delete(old.filename);
        const at = sorted?.indexOf(old) ?? -1;
        if (at >= 0) sorted!.splice(at, 1);
      }
      view.records.set(recordKey(r), r);
      byFilename?.set(r.filename, r);
    }
    // Keep the order when a few were added (a large batch is sorted again on the next read).
    if (sorted && records.length <= 64) for (const r of records) insertSorted(sorted, r);
    else view.sorted = undefined;
  }

  /**
   * Removes records, durably, under the publish lock: one new file. After a failed `add()`,
   * removes whatever of it reached the disk.
   */
  remove(records: readonly PackageRecord[]): Promise<void> {
    return this.serial(() => this.removeNow(records));
  }

  private async removeNow(records: readonly PackageRecord[]): Promise<void> {
    const { view } = await this.load();
    const keys = [...new Set(records.map(recordKey))].filter((k) => view.records.has(k));
    if (keys.length === 0) return;
    view.last = await this.write(
      'log',
      keys.map((removed) => `${checkedJson({ removed })}\n`),
    );
    view.logs++;
    view.lines += keys.length;
    for (const key of keys) {
      const old = view.records.get(key)!;
      view.records.delete(key);
      view.byFilename?.delete(old.filename);
      const at = view.sorted?.indexOf(old) ?? -1;
      if (at >= 0) view.sorted!.splice(at, 1);
    }
  }

  /**
   * Replaces the logs with a new base once they are many or hold many removals (under the
   * publish lock, at the end of a publish: the indexes do not wait for it).
   */
  compact(): Promise<void> {
    return this.serial(async () => {
      const { view } = await this.load();
      if (view.logs >= MAX_LOGS || view.lines > view.records.size + SLACK) {
        await this.rewriteNow([...view.records.values()]);
      }
    });
  }

  /**
   * Makes the catalogue exactly `records` (under the publish lock): a new base, durable, then
   * the files before it removed.
   */
  rewrite(records: readonly PackageRecord[]): Promise<void> {
    return this.serial(() => this.rewriteNow(records));
  }

  private async rewriteNow(records: readonly PackageRecord[]): Promise<void> {
    const seq = await this.write('base', records.map(lineOf));
    this.view = { base: seq, last: seq, logs: 0, lines: records.length, records: new Map() };
    for (const r of records) this.view.records.set(recordKey(r), r);
    for (const f of this.list().files) if (f.seq < seq) await rm(join(this.path, f.name), { force: true });
  }
}
