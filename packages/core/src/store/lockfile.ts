/**
 * Leased lock files that survive their holder's death: a lock is a file created with O_EXCL and
 * holding its owner's pid, host and lease end. A lock whose lease ran out, or whose process is
 * gone (same host), is stale and is taken over. Takeover happens under a short "steal" mutex and
 * re-checks the token, so two processes recovering the same stale lock cannot both win.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Lease, LockInfo } from '../contracts/store.js';
import { RingmasterError } from '../errors.js';
import { errno, type FileHandleLike, type FsLike } from './fs.js';

interface LockContent extends LockInfo {
  token: string;
}

const HOST = hostname();
/** A lock file that cannot be read (not written by this code) is taken over after this long. */
const HALF_WRITTEN_GRACE_MS = 2_000;
/** The steal mutex is held for microseconds; one older than this was left by a dead process. */
const STEAL_MUTEX_STALE_MS = 5_000;

/** Whether process `pid` runs on this machine (an unknown pid counts as alive: never cut short). */
export function processAlive(pid: number | undefined | null): boolean {
  if (!pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errno(error) === 'EPERM';
  }
}

/**
 * A lease is over when it expired, or when its holder runs on this host and its process is gone.
 * A holder on another host cannot be checked: its lease is waited out, never cut short.
 */
function isStale(content: LockContent, now: number): boolean {
  return content.expiresAt <= now || (content.hostname === HOST && !processAlive(content.pid));
}

export class LockFiles {
  constructor(
    private readonly fs: FsLike,
    private readonly pathOf: (name: string) => string,
    private readonly now: () => number = Date.now,
  ) {}

  /** Temp names of locks just made, still being removed: awaited when the lock is given back. */
  private readonly cleanups = new Map<string, Promise<void>>();

  /**
   * Reads a lock file: open and read it, closing it without waiting (a lock is read before every
   * fenced append, so each round trip to the disk counts).
   */
  private async readContent(path: string): Promise<LockContent | 'missing' | 'unreadable'> {
    let handle: FileHandleLike;
    try {
      handle = await this.fs.open(path, 'r');
    } catch (error) {
      return errno(error) === 'ENOENT' ? 'missing' : 'unreadable';
    }
    try {
      const chunks: Buffer[] = [];
      let size = 0;
      for (;;) {
        const buffer = Buffer.allocUnsafe(4096);
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, size);
        chunks.push(buffer.subarray(0, bytesRead));
        size += bytesRead;
        // A regular file reads short only at its end.
        if (bytesRead < buffer.length) break;
      }
      return JSON.parse(Buffer.concat(chunks).toString('utf8')) as LockContent;
    } catch {
      return 'unreadable';
    } finally {
      handle.close().catch(() => {});
    }
  }

  /**
   * Creates the lock file with its content in one step: the content goes to a private temp file,
   * which is then hard-linked to the lock's name (link fails if the name exists). A holder killed
   * at any point leaves either no lock or a complete one naming its pid, never an empty file.
   */
  private async create(path: string, content: LockContent): Promise<boolean> {
    const tmp = `${path}.${content.token}.new`;
    // Written, then linked while it is still being closed: one round trip less per lock.
    const file = await this.fs.open(tmp, 'wx');
    try {
      const bytes = Buffer.from(JSON.stringify(content));
      let written = 0;
      while (written < bytes.length) {
        const { bytesWritten } = await file.write(bytes, written, bytes.length - written, written);
        if (bytesWritten <= 0)
          throw Object.assign(new Error(`ENOSPC: ${tmp} took ${written} bytes`), { code: 'ENOSPC' });
        written += bytesWritten;
      }
    } catch (error) {
      await file.close().catch(() => {});
      await this.fs.unlink(tmp).catch(() => {});
      throw error;
    }
    // Closed before it is linked: a network filesystem reports a failed write (ENOSPC, EDQUOT,
    // EIO) at close, and a lock linked with no content would read as free to others.
    try {
      await file.close();
    } catch (error) {
      await this.fs.unlink(tmp).catch(() => {});
      throw error;
    }
    try {
      await this.fs.link(tmp, path);
    } catch (error) {
      await this.fs.unlink(tmp).catch(() => {});
      if (errno(error) === 'EEXIST') return false;
      throw error;
    }
    // The lock is made: its temp name goes while the holder works, and is gone by the release.
    const cleanup = this.fs.unlink(tmp).then(
      () => {},
      () => {},
    );
    this.cleanups.set(content.token, cleanup);
    void cleanup.then(() => this.cleanups.delete(content.token));
    return true;
  }

  /** Runs `fn` holding the per-lock steal mutex (a directory), or skips it if another process holds it. */
  private async underStealMutex(path: string, fn: () => Promise<void>): Promise<void> {
    const mutex = `${path}.steal`;
    try {
      await this.fs.mkdir(mutex);
    } catch (error) {
      if (errno(error) !== 'EEXIST') throw error;
      const stat = await this.fs.stat(mutex).catch(() => undefined);
      if (stat && this.now() - stat.mtimeMs > STEAL_MUTEX_STALE_MS)
        await this.fs.rmdir(mutex).catch(() => {});
      return;
    }
    try {
      await fn();
    } finally {
      await this.fs.rmdir(mutex).catch(() => {});
    }
  }

  async acquire(name: string, owner: string, ttlMs: number): Promise<Lease | undefined> {
    const path = this.pathOf(name);
    for (let attempt = 0; attempt < 5; attempt++) {
      const now = this.now();
      const content: LockContent = {
        name,
        token: randomUUID(),
        owner,
        pid: process.pid,
        hostname: HOST,
        acquiredAt: now,
        expiresAt: now + ttlMs,
      };
      if (await this.create(path, content)) {
        return { name, token: content.token, owner, expiresAt: content.expiresAt };
      }
      const existing = await this.readContent(path);
      if (existing === 'missing') continue;
      if (existing === 'unreadable') {
        const stat = await this.fs.stat(path).catch(() => undefined);
        if (!stat || now - stat.mtimeMs < HALF_WRITTEN_GRACE_MS) return undefined;
      } else if (!isStale(existing, now)) {
        return undefined;
      }
      await this.underStealMutex(path, async () => {
        const again = await this.readContent(path);
        const sameStale =
          again === 'unreadable' ||
          (again !== 'missing' && existing !== 'unreadable' && again.token === existing.token);
        if (sameStale) await this.fs.unlink(path).catch(() => {});
      });
    }
    return undefined;
  }

  /** Waits (bounded) for a lock held only briefly, such as the journal's append mutex. */
  async acquireWaiting(name: string, owner: string, ttlMs: number, waitMs: number): Promise<Lease> {
    const deadline = Date.now() + waitMs;
    let delay = 1;
    for (;;) {
      const lease = await this.acquire(name, owner, ttlMs);
      if (lease) return lease;
      if (Date.now() > deadline) {
        const info = await this.inspect(name);
        throw new RingmasterError(
          'LOCKED',
          `${name} is held by ${info ? describeHolder(info) : 'another process'}; waited ${waitMs} ms`,
          { scope: 'ledger', details: { lock: name, holder: info } },
        );
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 50);
    }
  }

  async renew(lease: Lease, ttlMs: number): Promise<Lease> {
    const path = this.pathOf(lease.name);
    const current = await this.readContent(path);
    if (current === 'missing' || current === 'unreadable' || current.token !== lease.token) {
      throw new RingmasterError('LOCKED', `lost the lock ${lease.name}: another process took it over`, {
        scope: 'ledger',
        details: { lock: lease.name },
      });
    }
    const renewed: LockContent = { ...current, expiresAt: this.now() + ttlMs };
    const tmp = `${path}.${randomUUID()}.tmp`;
    await this.fs.writeFile(tmp, JSON.stringify(renewed));
    await this.fs.rename(tmp, path);
    return { ...lease, expiresAt: renewed.expiresAt };
  }

  /**
   * The fence: throws `LOCKED` unless `lease` is still held — its lock file carries the lease's
   * token and has not expired. Called under the append mutex before every fenced append.
   */
  async check(lease: Lease): Promise<void> {
    const current = await this.readContent(this.pathOf(lease.name));
    const now = this.now();
    if (current !== 'missing' && current !== 'unreadable' && current.token === lease.token) {
      if (current.expiresAt > now) return;
      throw new RingmasterError(
        'LOCKED',
        `the lease ${lease.name} expired ${now - current.expiresAt} ms ago without being renewed; the append made under it is refused`,
        { scope: 'ledger', details: { lock: lease.name, reason: 'expired' } },
      );
    }
    const holder = current !== 'missing' && current !== 'unreadable' ? current : undefined;
    throw new RingmasterError(
      'LOCKED',
      `lost the lease ${lease.name}: ${holder ? `${describeHolder(holder)} holds it now` : 'it was taken over and released'}; the append made under it is refused`,
      {
        scope: 'ledger',
        details: { lock: lease.name, reason: 'lost', ...(holder ? { holder: holder.owner } : {}) },
      },
    );
  }

  /**
   * Whether `lease` is still held — its token, not expired — with more than `marginMs` left:
   * what must hold before undoing a write that, were the lease gone, another holder could have
   * built on. An unreadable lock counts as not held.
   */
  async heldFor(lease: Lease, marginMs: number): Promise<boolean> {
    const current = await this.readContent(this.pathOf(lease.name));
    if (current === 'missing' || current === 'unreadable' || current.token !== lease.token) return false;
    return current.expiresAt - this.now() > marginMs;
  }

  /**
   * Releases a lock held for a few milliseconds (the append mutex) without reading it back:
   * it is taken over only once its lease expires, which such a short hold never reaches.
   */
  async releaseShort(lease: Lease): Promise<void> {
    await Promise.all([
      this.fs.unlink(this.pathOf(lease.name)).catch(() => {}),
      this.cleanups.get(lease.token),
    ]);
  }

  async release(lease: Lease): Promise<void> {
    await this.cleanups.get(lease.token);
    const path = this.pathOf(lease.name);
    const current = await this.readContent(path);
    if (current !== 'missing' && current !== 'unreadable' && current.token === lease.token) {
      await this.fs.unlink(path).catch(() => {});
    }
  }

  /** Whether a lock file of `name` is there at all (held, being made, stale or unreadable). */
  async present(name: string): Promise<boolean> {
    return (await this.readContent(this.pathOf(name))) !== 'missing';
  }

  async inspect(name: string): Promise<LockInfo | undefined> {
    const current = await this.readContent(this.pathOf(name));
    if (current === 'missing' || current === 'unreadable') return undefined;
    if (isStale(current, this.now())) return undefined;
    const { token: _token, ...info } = current;
    return info;
  }
}

/** `pid 42 on host build-1 (engine) since 2026-11-28T10:00:00Z` */
export function describeHolder(info: LockInfo): string {
  return `${info.owner} (pid ${info.pid ?? '?'} on ${info.hostname ?? '?'}, since ${new Date(info.acquiredAt).toISOString()})`;
}
