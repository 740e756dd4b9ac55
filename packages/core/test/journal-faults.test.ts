/**
 * The file ledger under disk faults, on an injected filesystem (memfs with faults switched on
 * and off per call): short writes, ENOSPC, EIO on sync, a truncate that fails, and proof that
 * an append resolves only once its bytes are synced. The same faults on a real full tmpfs are
 * in `disk-full.test.ts`.
 */
import { Volume } from 'memfs';
import { describe, expect, it } from 'vitest';
import type { FileHandleLike, FsLike } from '../src/index.js';
import { fileStore, isRingmasterError } from '../src/index.js';

const rec = (n: number) => ({ type: 'test', time: '2026-01-01T00:00:00.000Z', data: { n } });

/** What the next calls on the journal's handle do instead of their normal work. */
interface Faults {
  /** Write only this many bytes of the next write (a filling disk). */
  shortWrite?: number;
  /** Fail every write with this errno. */
  writeError?: string;
  /** Fail the next datasync with this errno. */
  syncError?: string;
  /** Fail truncate with this errno. */
  truncateError?: string;
  /** Called at each datasync; resolves when the sync may finish. */
  syncGate?: () => Promise<void>;
}

const errnoError = (code: string) => Object.assign(new Error(`${code}: injected`), { code });

/** memfs, with the journal's file handle wrapped so faults can be injected per call. */
function faultyFs() {
  const vol = new Volume();
  const base = vol.promises as unknown as FsLike;
  const faults: Faults = {};
  const wrap = (handle: FileHandleLike): FileHandleLike => ({
    read: (...args) => handle.read(...args),
    stat: () => handle.stat(),
    close: () => handle.close(),
    async write(buffer, offset = 0, length = buffer.length - offset, position) {
      if (faults.writeError) throw errnoError(faults.writeError);
      if (faults.shortWrite !== undefined) {
        const n = Math.min(faults.shortWrite, length);
        faults.shortWrite = undefined;
        faults.writeError = 'ENOSPC'; // the disk is full after the short write
        return handle.write(buffer, offset, n, position);
      }
      return handle.write(buffer, offset, length, position);
    },
    async datasync() {
      await faults.syncGate?.();
      if (faults.syncError) {
        const code = faults.syncError;
        faults.syncError = undefined;
        throw errnoError(code);
      }
      return handle.datasync();
    },
    async truncate(len) {
      if (faults.truncateError) throw errnoError(faults.truncateError);
      return handle.truncate(len);
    },
  });
  const fs: FsLike = {
    ...base,
    open: async (path, flags, mode) => {
      const handle = await base.open(path, flags, mode);
      return path.endsWith('journal.jsonl') ? wrap(handle) : handle;
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
  const size = async () => (await base.stat('/ledger/journal.jsonl')).size;
  return { fs, faults, size, reopen: () => fileStore({ dir: '/ledger', fs }) };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
}

describe('file ledger: fail-stop appends', () => {
  it('a short write then ENOSPC fails the append with ENOSPC, cuts the partial bytes off, and the next append continues the numbering', async () => {
    const disk = faultyFs();
    const store = disk.reopen();
    await store.append([rec(1), rec(2)]);
    const before = await disk.size();
    disk.faults.shortWrite = 30;
    const error = await rejection(store.append([rec(3), rec(4)]));
    expect(isRingmasterError(error, 'LEDGER')).toBe(true);
    expect((error as { details: { errno?: string } }).details.errno).toBe('ENOSPC');
    expect((error as Error).message).toContain('ENOSPC');
    expect(await disk.size()).toBe(before);
    expect((await store.read()).map((r) => r.seq)).toEqual([1, 2]);

    // Space is back: the next append is numbered after the last acknowledged record.
    disk.faults.writeError = undefined;
    const next = await store.append([rec(5)]);
    expect(next.map((r) => r.seq)).toEqual([3]);
    const reread = await disk.reopen().read();
    expect(reread.map((r) => [r.seq, r.data.n])).toEqual([
      [1, 1],
      [2, 2],
      [3, 5],
    ]);
  });

  it('EIO on sync fails the append: it is cut off, never read back, and its seq is given to the next append', async () => {
    const disk = faultyFs();
    const store = disk.reopen();
    await store.append([rec(1)]);
    disk.faults.syncError = 'EIO';
    const error = await rejection(store.append([rec(2)]));
    expect((error as { details: { errno?: string } }).details.errno).toBe('EIO');
    expect((await disk.reopen().read()).map((r) => r.data.n)).toEqual([1]);
    const next = await store.append([rec(3)]);
    expect(next[0]!.seq).toBe(2);
    expect((await disk.reopen().read()).map((r) => [r.seq, r.data.n])).toEqual([
      [1, 1],
      [2, 3],
    ]);
  });

  it('when the partial write cannot be cut off, the handle refuses further appends; a new handle drops the partial append as a torn tail', async () => {
    const disk = faultyFs();
    const store = disk.reopen();
    await store.append([rec(1)]);
    disk.faults.shortWrite = 120; // the first of two lines (about 95 bytes) makes it, the second does not
    disk.faults.truncateError = 'EIO';
    const first = await rejection(store.append([rec(2), rec(3)]));
    expect(isRingmasterError(first, 'LEDGER')).toBe(true);
    expect((first as Error).message).toContain('refuses further appends');
    disk.faults.writeError = undefined;
    disk.faults.truncateError = undefined;
    const again = await rejection(store.append([rec(4)]));
    expect(again).toBe(first);
    // The first line of the failed append is complete on disk, but its append never closed.
    const fresh = disk.reopen();
    expect((await fresh.read()).map((r) => r.data.n)).toEqual([1]);
    expect((await fresh.append([rec(5)]))[0]!.seq).toBe(2);
    expect((await disk.reopen().read()).map((r) => [r.seq, r.data.n])).toEqual([
      [1, 1],
      [2, 5],
    ]);
  });

  it('an append resolves only after its data is synced', async () => {
    const disk = faultyFs();
    const store = disk.reopen();
    let letSync: () => void = () => {};
    let syncing: () => void = () => {};
    const syncStarted = new Promise<void>((r) => {
      syncing = r;
    });
    disk.faults.syncGate = () =>
      new Promise<void>((resolve) => {
        letSync = resolve;
        syncing();
      });
    let resolved = false;
    const appending = store.append([rec(1)]).then((r) => {
      resolved = true;
      return r;
    });
    await syncStarted;
    // Give the append every chance to resolve early.
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(resolved).toBe(false);
    letSync();
    expect((await appending).map((r) => r.seq)).toEqual([1]);
    expect(resolved).toBe(true);
  });
});

describe('file ledger: torn tails and corruption', () => {
  it('a complete, newline-terminated last line with a bad checksum stops start-up naming file:line', async () => {
    const disk = faultyFs();
    await disk.reopen().append([rec(1), rec(2)]);
    await disk.reopen().append([rec(3)]);
    const text = (await disk.fs.readFile('/ledger/journal.jsonl')).toString();
    await disk.fs.writeFile('/ledger/journal.jsonl', text.replace('"n":3', '"n":8'));
    const error = await rejection(disk.reopen().read());
    expect(isRingmasterError(error, 'LEDGER')).toBe(true);
    expect((error as Error).message).toContain('/ledger/journal.jsonl:3');
    expect((error as Error).message).toContain('checksum mismatch');
  });

  it('an append cut short between its lines is dropped whole, never half applied', async () => {
    const disk = faultyFs();
    await disk.reopen().append([rec(1)]);
    await disk.reopen().append([rec(2), rec(3), rec(4)]);
    const text = (await disk.fs.readFile('/ledger/journal.jsonl')).toString();
    const lines = text.split('\n');
    // Keep the first two lines of the three-record append, as a crash between writes would.
    await disk.fs.writeFile('/ledger/journal.jsonl', `${lines.slice(0, 3).join('\n')}\n`);
    const store = disk.reopen();
    expect((await store.read()).map((r) => r.data.n)).toEqual([1]);
    expect((await store.append([rec(9)]))[0]!.seq).toBe(2);
    expect((await disk.reopen().read()).map((r) => [r.seq, r.data.n])).toEqual([
      [1, 1],
      [2, 9],
    ]);
  });
});

describe('file ledger: leases', () => {
  it('a lock held from another host (its pid cannot be checked) is taken over once its lease expired, never before', async () => {
    const disk = faultyFs();
    let now = Date.parse('2026-12-01T10:00:00Z');
    const store = fileStore({ dir: '/ledger', fs: disk.fs, now: () => now });
    await store.read(); // creates the ledger directory
    // pid 1 is alive here, but the holder is elsewhere: only its lease can tell.
    const held = {
      name: 'rollout:app:prod',
      token: 'their-token',
      owner: 'engine',
      pid: 1,
      hostname: 'another-runner.invalid',
      acquiredAt: now,
      expiresAt: now + 30_000,
    };
    await disk.fs.writeFile(`/ledger/locks/${encodeURIComponent(held.name)}.lock`, JSON.stringify(held));
    expect(await store.acquire(held.name, { owner: 'me', ttlMs: 30_000 })).toBeUndefined();
    expect((await store.inspect(held.name))?.hostname).toBe('another-runner.invalid');
    now += 29_999;
    expect(await store.acquire(held.name, { owner: 'me', ttlMs: 30_000 })).toBeUndefined();
    now += 2;
    const mine = await store.acquire(held.name, { owner: 'me', ttlMs: 30_000 });
    expect(mine?.owner).toBe('me');
    // And the old holder, were it to wake up, is fenced off.
    const error = await rejection(
      store.append([rec(1)], {
        fence: [{ name: held.name, token: held.token, owner: 'engine', expiresAt: 0 }],
      }),
    );
    expect(isRingmasterError(error, 'LOCKED')).toBe(true);
  });
});
