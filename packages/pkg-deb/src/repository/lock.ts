/**
 * The publisher lock: a file created with O_EXCL holding the owner's pid and host. A lock whose
 * process is gone (same host, pid not alive) is taken over; otherwise a second publisher waits,
 * bounded by a timeout, then fails with `LOCKED` naming the holder.
 */
import { randomBytes } from 'node:crypto';
import { link, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { RingmasterError } from '@ringmaster/core/adapter';

interface LockOwner {
  pid: number;
  hostname: string;
  time: string;
  token: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Takes the lock at `path`, waiting at most `timeoutMs`; resolves with the release function. */
export async function acquireLock(path: string, timeoutMs: number): Promise<() => Promise<void>> {
  const me: LockOwner = {
    pid: process.pid,
    hostname: hostname(),
    time: new Date().toISOString(),
    token: randomBytes(8).toString('hex'),
  };
  const deadline = Date.now() + timeoutMs;
  let holder = '';
  // Bounded by the deadline; each turn either takes the lock, takes over a dead one, or sleeps.
  for (;;) {
    try {
      const handle = await open(path, 'wx', 0o644);
      try {
        await handle.writeFile(JSON.stringify(me));
      } finally {
        await handle.close();
      }
      return async () => {
        const current = await readFile(path, 'utf8').catch(() => '');
        if (current.includes(me.token)) await rm(path, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const text = await readFile(path, 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    let owner: LockOwner | undefined;
    try {
      owner = JSON.parse(text) as LockOwner;
    } catch {
      owner = undefined;
    }
    // A lock file left empty by a crash between create and write is dead once it is a few seconds old.
    const abandoned =
      !owner && Date.now() - ((await stat(path).catch(() => undefined))?.mtimeMs ?? Date.now()) > 5000;
    if (abandoned || (owner && owner.hostname === me.hostname && !alive(owner.pid))) {
      // Move the dead lock aside under a unique name, then check we moved the one we judged dead.
      const aside = `${path}.stale.${me.token}`;
      try {
        await rename(path, aside);
        const moved = await readFile(aside, 'utf8');
        if (moved !== text) await link(aside, path).catch(() => undefined);
      } catch {
        // Someone else took it over first; try again.
      }
      await rm(aside, { force: true });
      continue;
    }
    holder = owner ? `pid ${owner.pid} on ${owner.hostname} since ${owner.time}` : 'an unreadable lock file';
    if (Date.now() >= deadline) {
      throw new RingmasterError(
        'LOCKED',
        `the repository is being published by ${holder}; wait for it, or remove ${path} if that process is gone`,
        { scope: 'pkg-deb', details: { path, holder } },
      );
    }
    await sleep(20);
  }
}
