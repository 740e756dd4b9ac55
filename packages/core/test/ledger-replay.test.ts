/**
 * Long ledgers: the file store reads its journal a chunk at a time (never whole), the ledger
 * replays it chunk by chunk into the state, and the fold changes in place only what it made
 * itself. What is proven here is that none of this changes what is read: every record once, in
 * order, whole appends only, corruption named, torn tails dropped, and values a reader holds
 * never changing under it.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Volume } from 'memfs';
import { describe, expect, it } from 'vitest';
import {
  auto,
  batches,
  createEngine,
  entry,
  type FileHandleLike,
  type FsLike,
  fileStore,
  foldRecords,
  isRingmasterError,
  Ledger,
  type LedgerRecord,
  type LedgerState,
  manualClock,
  memoryRepository,
  memorySource,
  memoryStore,
  pipeline,
  type Store,
  simulatedPackager,
  type TypedRecord,
} from '../src/index.js';
import type { ScanningStore } from '../src/ledger/ledger.js';
import { closeAfter, tempDir } from './helpers.js';

/** A record of about 250 bytes on disk, saying which append it was written in. */
const rec = (append: number, i: number, of: number) => ({
  type: 'test',
  time: '2026-01-01T00:00:00.000Z',
  data: { append, i, of, pad: 'x'.repeat(160) },
});

/** Appends `sizes.length` appends of `sizes[k]` records each; returns the records' count. */
async function fill(store: Store, sizes: number[]): Promise<number> {
  let n = 0;
  for (const [k, size] of sizes.entries()) {
    await store.append(Array.from({ length: size }, (_, i) => rec(k, i, size)));
    n += size;
  }
  return n;
}

const scanner = (store: Store) => store as ScanningStore;

async function rejection(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e as Error,
  );
}

describe('file store: a journal longer than a read chunk (4 MiB)', () => {
  it('is read whole and in order, a chunk of whole appends at a time, an append larger than a chunk included', async () => {
    const dir = await tempDir();
    // 24 appends of 1,000 records (about 6 MB), then one of 25,000 (about 6 MB on its own).
    const total = await fill(closeAfter(fileStore({ dir })), [
      ...Array.from({ length: 24 }, () => 1000),
      25_000,
    ]);
    const { size } = await import('node:fs/promises').then((fs) => fs.stat(join(dir, 'journal.jsonl')));
    expect(size).toBeGreaterThan(10 * 1024 * 1024);

    const store = fileStore({ dir });
    const chunks: LedgerRecord[][] = [];
    await scanner(store).scan(0, (records) => chunks.push(records));
    const all = chunks.flat();
    expect(all.map((r) => r.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(all.at(-1)!.data).toMatchObject({ append: 24, i: 24_999, of: 25_000 });
    // Handed over a chunk at a time, each ending where an append ends.
    expect(chunks.length).toBeGreaterThan(10);
    for (const chunk of chunks) {
      const last = chunk.at(-1)!.data as { i: number; of: number };
      expect(last.i).toBe(last.of - 1);
    }
    // Read again by the same handle, from inside an append: from the file, the same records.
    const again = await store.read(23_500);
    expect(again.map((r) => r.seq)).toEqual(Array.from({ length: total - 23_500 }, (_, i) => 23_501 + i));
    expect(again[0]!.data).toMatchObject({ append: 23, i: 500 });
    expect(await store.read(total)).toEqual([]);
  });

  it('a corrupt record past the first chunk stops the read and the replay naming its line; a torn tail there is dropped whole', async () => {
    const dir = await tempDir();
    const total = await fill(
      closeAfter(fileStore({ dir })),
      Array.from({ length: 30 }, () => 1000),
    );
    const journal = join(dir, 'journal.jsonl');
    const text = await readFile(journal, 'utf8');
    const lines = text.split('\n');
    const at = 27_123; // well past the first 4 MiB
    await writeFile(journal, text.replace(lines[at - 1]!, lines[at - 1]!.replace('"i":122', '"i":999')));
    for (const read of [
      () => fileStore({ dir }).read(),
      () => new Ledger(fileStore({ dir }), manualClock('2026-01-01T00:00:00Z')).replay(),
    ]) {
      const error = await rejection(read());
      expect(isRingmasterError(error, 'LEDGER')).toBe(true);
      expect(error.message).toContain(`${journal}:${at}`);
      expect(error.message).toContain('checksum mismatch');
    }

    // A crash in the middle of the last append: its first 400 lines made it, the rest did not.
    await writeFile(
      journal,
      `${lines.slice(0, total - 600).join('\n')}\n${lines[total - 600]!.slice(0, 40)}`,
    );
    const store = closeAfter(fileStore({ dir }));
    const read = await store.read();
    expect(read).toHaveLength(total - 1000);
    expect((await store.append([rec(99, 0, 1)]))[0]!.seq).toBe(total - 1000 + 1);
    expect((await fileStore({ dir }).read()).at(-1)!.data).toMatchObject({ append: 99 });
  });
});

/** memfs, with the journal's writes and datasync held (see holdNext) on demand; leases measured on `now`. */
function gatedFs(now?: () => number) {
  const vol = new Volume();
  const base = vol.promises as unknown as FsLike;
  const gate: {
    sync?: () => Promise<void>;
    write?: () => Promise<void>;
    /** Fails the close of the next lock file written (as NFS reports a failed write). */
    lockClose?: string;
  } = {};
  const wrap = (handle: FileHandleLike): FileHandleLike => ({
    read: (...args) => handle.read(...args),
    write: async (...args) => {
      await gate.write?.();
      return handle.write(...args);
    },
    stat: () => handle.stat(),
    close: () => handle.close(),
    truncate: (len) => handle.truncate(len),
    async datasync() {
      await gate.sync?.();
      return handle.datasync();
    },
  });
  const fs: FsLike = {
    open: async (path, flags, mode) => {
      const handle = await base.open(path, flags, mode);
      if (path.endsWith('journal.jsonl')) return wrap(handle);
      if (flags === 'wx' && gate.lockClose) {
        const code = gate.lockClose;
        gate.lockClose = undefined;
        return {
          ...handle,
          read: (...args) => handle.read(...args),
          write: (...args) => handle.write(...args),
          stat: () => handle.stat(),
          truncate: (len) => handle.truncate(len),
          datasync: () => handle.datasync(),
          close: async () => {
            await handle.close();
            throw Object.assign(new Error(`${code}: injected at close`), { code });
          },
        } as FileHandleLike;
      }
      return handle;
    },
    readFile: (p) => base.readFile(p),
    writeFile: (p, d) => base.writeFile(p, d),
    rename: (a, b) => base.rename(a, b),
    link: (a, b) => base.link(a, b),
    unlink: (p) => base.unlink(p),
    mkdir: (p, o) => base.mkdir(p, o),
    rmdir: (p) => base.rmdir(p),
    stat: (p) => base.stat(p),
  };
  return { fs, gate, open: () => fileStore({ dir: '/ledger', fs, ...(now ? { now } : {}) }) };
}

/**
 * Holds the journal's next `write` or `datasync` (the default): `started` once an append is in it
 * (holding the append mutex; at a datasync, its bytes written); `release()` lets it finish,
 * `release('EIO')` fails it with that errno.
 */
function holdNext(disk: ReturnType<typeof gatedFs>, at: 'write' | 'sync' = 'sync') {
  let release: (code?: string) => void = () => {};
  const started = new Promise<void>((holding) => {
    disk.gate[at] = () =>
      new Promise<void>((resolve, reject) => {
        disk.gate[at] = undefined; // only that one
        release = (code) =>
          code ? reject(Object.assign(new Error(`${code}: injected`), { code })) : resolve();
        holding();
      });
  });
  return { started, release: (code?: string) => release(code) };
}
const holdSync = (disk: ReturnType<typeof gatedFs>) => holdNext(disk, 'sync');

describe('file store: reading while another handle appends', () => {
  it('an append written but not yet synced is not read; once it fails and is cut off, it never was', async () => {
    const disk = gatedFs();
    const writer = disk.open();
    const total = await fill(
      writer,
      Array.from({ length: 25 }, () => 1000),
    );
    const sync = holdSync(disk);
    const failing = rejection(writer.append([rec(50, 0, 2), rec(50, 1, 2)]));
    await sync.started; // its bytes are in the file, whole, and it holds the append mutex
    const reading = disk.open().read();
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    sync.release('EIO');
    expect((await failing).message).toContain('EIO');
    const read = await reading;
    expect(read).toHaveLength(total);
    expect(read.at(-1)!.data).toMatchObject({ append: 24 });
    // The next append takes the failed one's seqs, and is read.
    await writer.append([rec(51, 0, 1)]);
    expect(
      (await disk.open().read()).map((r) => [r.seq, (r.data as { append: number }).append]).at(-1),
    ).toEqual([total + 1, 51]);
  });

  it('an append under way is read once it is acknowledged', async () => {
    const disk = gatedFs();
    const writer = disk.open();
    const total = await fill(
      writer,
      Array.from({ length: 25 }, () => 1000),
    );
    const sync = holdSync(disk);
    const appending = writer.append([rec(50, 0, 1)]);
    await sync.started;
    const reading = disk.open().read();
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    sync.release();
    await appending;
    expect((await reading).map((r) => r.seq).at(-1)).toBe(total + 1);
  });
});

describe('file store: reads and the append mutex', () => {
  it('a read started while another handle holds the mutex, its append not yet written, waits for that append', async () => {
    // Where a runner took a ring's lease over, the old holder's fenced append may already be
    // past its fence check: the new holder's read must see it before it decides anything.
    const disk = gatedFs();
    const writer = disk.open();
    const total = await fill(writer, [1000, 1000, 1000]);
    const reader = disk.open(); // a runner's handle, already caught up: its next read is a refresh
    expect(await reader.read()).toHaveLength(total);
    const write = holdNext(disk, 'write');
    const appending = writer.append([rec(60, 0, 1)]);
    await write.started; // it holds the mutex; nothing of it is in the file yet
    let done = false;
    const reading = reader.read().finally(() => {
      done = true;
    });
    // Time enough for a read that did not wait to be done (it takes a few ms); one that waits
    // for the mutex waits as long as the append holds it.
    await new Promise((r) => setTimeout(r, 500));
    expect(done).toBe(false);
    write.release();
    await appending;
    expect((await reading).map((r) => r.seq).at(-1)).toBe(total + 1);
  });

  it("an append stalled past the mutex's lease and taken over is not cut back over the next writer's acknowledged append: its outcome is unknown", async () => {
    // A sync hung on a dead NFS server, 30 s and more: another writer takes the mutex over,
    // reads the stalled bytes as records, appends after them and is told so. When the stalled
    // sync fails at last, cutting the journal back would lose that acknowledged append.
    let now = Date.parse('2026-01-01T00:00:00.000Z');
    const disk = gatedFs(() => now);
    const stalled = disk.open();
    const total = await fill(stalled, [1000]);
    const sync = holdSync(disk);
    const failing = rejection(stalled.append([rec(80, 0, 1)]));
    await sync.started;
    now += 31_000; // past the mutex's lease
    const [next] = await disk.open().append([rec(81, 0, 1)]);
    expect(next!.seq).toBe(total + 2);
    sync.release('EIO');
    const error = await failing;
    const read = await disk.open().read();
    expect(read.slice(-2).map((r) => [r.seq, (r.data as { append: number }).append])).toEqual([
      [total + 1, 80],
      [total + 2, 81],
    ]);
    expect(error.message).toMatch(/EIO.*whether its records were kept is unknown/);
    expect((error as { details?: unknown }).details).toMatchObject({ outcome: 'unknown', errno: 'EIO' });
    // The stalled handle goes on: its next append follows both.
    const [after] = await stalled.append([rec(82, 0, 1)]);
    expect(after!.seq).toBe(total + 3);
  });

  it("a writer whose append stalled past the mutex's lease does not give back the next holder's mutex", async () => {
    let now = Date.parse('2026-01-01T00:00:00.000Z');
    const disk = gatedFs(() => now);
    const stalled = disk.open();
    await fill(stalled, [10]);
    const first = holdSync(disk);
    const stalling = stalled.append([rec(90, 0, 1)]);
    await first.started;
    now += 31_000; // past the mutex's lease: the next writer takes it over
    const second = holdSync(disk);
    const next = disk.open().append([rec(91, 0, 1)]);
    await second.started; // the next writer holds the mutex now
    first.release();
    await stalling; // its sync went through at last: its append stands
    const lock = '/ledger/locks/.journal-append.lock';
    expect(JSON.parse(String(await disk.fs.readFile(lock)))).toMatchObject({ owner: 'journal append' });
    second.release();
    await next;
    expect((await disk.open().read()).slice(-2).map((r) => (r.data as { append: number }).append)).toEqual([
      90, 91,
    ]);
  });

  it('a lock file whose close fails (NFS reports write errors there) is not taken: the append fails, and the next one goes through', async () => {
    const disk = gatedFs();
    const store = disk.open();
    await fill(store, [1000]);
    disk.gate.lockClose = 'EIO';
    await expect(store.append([rec(70, 0, 1)])).rejects.toThrow(/EIO/);
    const [written] = await disk.open().append([rec(71, 0, 1)]);
    expect(written!.seq).toBe(1001);
    expect((await disk.open().read()).at(-1)!.data).toMatchObject({ append: 71 });
  });
});

/** A pipeline through three rings of `hosts` hosts each, on in-memory hosts. */
function benchProject(hosts: number) {
  const memoryTarget = (ring: string) => {
    const installed = new Map<string, string>();
    return {
      name: 'memory',
      hosts: Array.from({ length: hosts }, (_, i) => ({ name: `${ring}-${i + 1}` })),
      installed: async (host: string) => {
        const version = installed.get(host);
        return version === undefined ? undefined : { version, status: 'installed' as const };
      },
      install: async (host: string, artifact: { version: string }) =>
        void installed.set(host, artifact.version),
      run: async () => ({ exitCode: 0, stdout: '', stderr: '' }),
    };
  };
  const source = memorySource({ commits: [{ files: { a: '0' }, message: 'c0' }] });
  const app = pipeline({
    name: 'app',
    source,
    packager: simulatedPackager({ name: 'app' }),
    repository: memoryRepository(),
    rings: ['eng', 'sandbox', 'prod'].map((name) => ({
      name,
      target: memoryTarget(name),
      rollout: batches(5),
      policy: auto(),
    })),
  });
  return { source, app };
}

/** Runs `releases` releases through the project on a file ledger in `dir`; returns the writer's state. */
async function history(dir: string, releases: number, hosts = 20) {
  const { source, app } = benchProject(hosts);
  const engine = closeAfter(
    createEngine({ pipelines: [app], store: fileStore({ dir }), workDir: join(dir, 'work') }),
  );
  await engine.start();
  for (let i = 1; i <= releases; i++) {
    if (i > 1) await source.commit({ a: String(i) }, `c${i}`);
    await engine.tick();
  }
  await engine.close();
  return { state: engine.ledger.state, app };
}

/** The state folded one record at a time, each its own batch. */
function oneByOne(records: TypedRecord[]): LedgerState {
  const state = foldRecords([]);
  for (const record of records) foldRecords([record], state);
  return state;
}

describe('ledger replay', () => {
  it('folds, a chunk at a time and telling no one, the state its writer had, as one record at a time would', async () => {
    const dir = await tempDir();
    const writer = await history(dir, 10, 30);
    const records = (await fileStore({ dir }).read()) as TypedRecord[];
    // More than one of the store's 256 KiB batches.
    expect((await readFile(join(dir, 'journal.jsonl'))).length).toBeGreaterThan(256 * 1024);

    let told = 0;
    const ledger = new Ledger(fileStore({ dir }), manualClock('2026-01-01T00:00:00Z'), {
      onRecord: () => told++,
    });
    await ledger.replay();
    expect(told).toBe(0);
    expect(ledger.state).toEqual(writer.state);
    expect(ledger.state).toEqual(oneByOne(records));

    // An engine loading the ledger has the same state and tells nothing of its history.
    const engine = createEngine({
      pipelines: [writer.app],
      store: fileStore({ dir }),
      workDir: join(dir, 'w2'),
    });
    const events: string[] = [];
    engine.on('record', (r) => events.push(r.type));
    await engine.load();
    expect(engine.ledger.state).toEqual(writer.state);
    expect(events).toEqual([]);
    expect(engine.ledger.state.pipelines.get('app')!.rings.get('prod')!.current).toBe('1.0.10');
  });

  it('values read from the state never change as more records are folded, in one batch or by a replay', async () => {
    const dir = await tempDir();
    await history(dir, 3, 10);
    const records = (await fileStore({ dir }).read()) as TypedRecord[];
    // Cut in the middle of prod's second rollout: half its hosts done.
    const cut = records.findIndex(
      (r) => r.type === 'host.finished' && r.data.rollout === 'prod#2' && r.data.host === 'prod-5',
    );
    expect(cut).toBeGreaterThan(0);
    const held = (state: LedgerState) => {
      const p = state.pipelines.get('app')!;
      const rollout = p.rollouts.get('prod#2')!;
      const ring = p.rings.get('prod')!;
      return {
        rollout,
        hosts: rollout.hosts,
        ring,
        ringHosts: ring.hosts,
        rollouts: ring.rollouts,
        release: p.releaseRings.get('1.0.2')!,
      };
    };

    const state = foldRecords(records.slice(0, cut + 1));
    const before = held(state);
    const copy = structuredClone(before);
    foldRecords(records.slice(cut + 1), state);
    expect(before).toEqual(copy);
    expect(held(state).hosts.size).toBe(10);
    expect(before.hosts.size).toBe(5);
    expect(state).toEqual(oneByOne(records));

    // The same through the ledger: replay part of the journal, hold, then read the rest.
    const partial = await tempDir();
    const text = (await readFile(join(dir, 'journal.jsonl'), 'utf8')).split('\n');
    await writeFile(join(partial, 'journal.jsonl'), `${text.slice(0, cut + 1).join('\n')}\n`);
    const ledger = new Ledger(fileStore({ dir: partial }), manualClock('2026-01-01T00:00:00Z'));
    await ledger.replay();
    const replayed = held(ledger.state);
    const replayedCopy = structuredClone(replayed);
    await writeFile(join(partial, 'journal.jsonl'), `${text.join('\n').trimEnd()}\n`);
    await ledger.replay();
    expect(replayed).toEqual(replayedCopy);
    expect(ledger.state).toEqual(state);
  });
});

describe('ledger: group commit', () => {
  it('writes made at once go out in one append, in the order they were made', async () => {
    const handle = memoryStore();
    let appends = 0;
    const counting = Object.assign(Object.create(handle) as Store, {
      append: (...args: Parameters<Store['append']>) => {
        appends++;
        return handle.append(...args);
      },
    });
    const ledger = new Ledger(counting, manualClock('2026-11-02T09:00:00Z'));
    const fact = (n: number) => entry('lease.lost', { lease: `l${n}`, owner: 'test', reason: 'a fact' });
    const written = await Promise.all(Array.from({ length: 10 }, (_, i) => ledger.write(fact(i))));
    expect(appends).toBe(1);
    expect(written.map(([r]) => [r!.seq, (r!.data as { lease: string }).lease])).toEqual(
      Array.from({ length: 10 }, (_, i) => [i + 1, `l${i}`]),
    );
  });
});
