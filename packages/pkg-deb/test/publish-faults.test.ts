/**
 * A directory fsync that fails after the new indexes were renamed into place: they are served
 * already, but a crash may bring the previous ones back. The publish says so (REPOSITORY,
 * outcome unknown) and undoes nothing the live indexes name: the pool file, the record, a ring
 * suite's listing. Retention waits: the previous indexes, should they come back, name what it
 * would drop. (The fsync fails by a module mock; the rest is the real repository, gpgv and
 * apt's sums.)
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isRingmasterError } from '@ringmaster/core/adapter';
import { describe, expect, it, vi } from 'vitest';
import { aptRepository } from '../src/index.js';
import { buildVersion, fileKey, ok, rejection, sha256, tempDir } from './helpers.js';

/** Directories whose next fsync fails with EIO (once each), and every directory fsynced, in order. */
const failing = vi.hoisted(() => new Set<string>());
const synced = vi.hoisted(() => [] as string[]);
/** For each pool directory fsynced: whether its repository had a Release then (were the indexes live?). */
const poolSyncs = vi.hoisted(() => [] as { dir: string; releaseThere: boolean }[]);
vi.mock('../src/repository/fs-atomic.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../src/repository/fs-atomic.js')>();
  return {
    ...original,
    async syncParentDir(dir: string) {
      await original.syncParentDir(dir);
      synced.push(dir);
    },
    async syncDir(dir: string) {
      if (failing.delete(dir))
        throw Object.assign(new Error(`EIO: i/o error, fsync '${dir}'`), { code: 'EIO' });
      await original.syncDir(dir);
      synced.push(dir);
      const pool = /^(.*)\/pool(\/|$)/.exec(dir);
      if (pool) {
        const { existsSync } = await import('node:fs');
        poolSyncs.push({ dir, releaseThere: existsSync(`${pool[1]}/dists/stable/Release`) });
      }
    },
  };
});

const key = fileKey();

/** Each stanza of a suite's Packages: its package, version, pool file and SHA256. */
async function stanzas(dir: string, suite: string) {
  const text = await readFile(join(dir, `dists/${suite}/main/binary-amd64/Packages`), 'utf8');
  return text
    .split('\n\n')
    .filter((s) => s.trim())
    .map((s) => ({
      is: `${/^Package: (.*)$/m.exec(s)![1]} ${/^Version: (.*)$/m.exec(s)![1]}`,
      filename: /^Filename: (.*)$/m.exec(s)![1]!,
      sha256: /^SHA256: (.*)$/m.exec(s)![1]!,
    }));
}

/** Every file the suite's Packages names is in the pool, with the sum it says. */
async function everyNamedFileIsThere(dir: string, suite: string): Promise<void> {
  for (const stanza of await stanzas(dir, suite)) {
    expect(existsSync(join(dir, stanza.filename)), `${stanza.filename} (${stanza.is})`).toBe(true);
    expect(sha256(await readFile(join(dir, stanza.filename)))).toBe(stanza.sha256);
  }
}

describe('new directories survive a crash', () => {
  it('the first publish fsyncs the parent of every directory it made, and pool directories before the indexes go live', async () => {
    const dir = join(await tempDir('repo'), 'fresh');
    const repo = aptRepository({
      dir,
      signingKey: { keyFile: key.secretKeyFile, passphrase: key.passphrase },
    });
    try {
      synced.length = 0;
      poolSyncs.length = 0;
      await repo.publish(await buildVersion('app', '1.0'));
      const first = [...synced];
      for (const made of [
        'pool/main/a/app',
        'pool/main/a',
        'pool/main',
        'pool',
        'dists/stable/main/binary-amd64/by-hash/SHA256',
        'dists/stable/main/binary-amd64/by-hash',
        'dists/stable/main/binary-amd64',
        'dists/stable/main',
        'dists/stable',
        'dists',
        '.ringmaster/catalogue',
        '.ringmaster',
        '.',
      ]) {
        // Each directory made is an entry of its parent: that parent is fsynced.
        expect(first, `the parent of ${made}`).toContain(join(dir, made, '..'));
      }
      // The pool's renames are kept before the indexes that name them go live: no Release yet.
      expect(poolSyncs.map((p) => p.dir)).toEqual(
        expect.arrayContaining([join(dir, 'pool/main/a/app'), join(dir, 'pool/main/a')]),
      );
      expect(poolSyncs.filter((p) => p.releaseThere)).toEqual([]);

      // Into a pool directory that exists: it, not its parents again.
      synced.length = 0;
      await repo.publish(await buildVersion('app', '2.0'));
      expect(synced).toContain(join(dir, 'pool/main/a/app'));
      expect(synced).not.toContain(join(dir, 'pool/main'));
    } finally {
      await repo.close();
    }
  }, 60_000);
});

describe('a failed directory fsync after the new indexes went live', () => {
  it('publish: says published but not surely durable, keeps what the indexes name, and retention waits', async () => {
    const dir = await tempDir('repo');
    const repo = aptRepository({
      dir,
      keep: 1,
      signingKey: { keyFile: key.secretKeyFile, passphrase: key.passphrase },
    });
    try {
      await repo.publish(await buildVersion('app', '1.0'));
      failing.add(join(dir, 'dists', 'stable'));
      const error = await rejection(repo.publish(await buildVersion('app', '2.0')));
      expect(failing.size).toBe(0);
      // What readers see, signed and whole: 2.0, its pool file there with the sum the index says.
      expect((await stanzas(dir, 'stable')).map((s) => s.is)).toEqual(['app 2.0']);
      await everyNamedFileIsThere(dir, 'stable');
      await ok(['gpgv', '--keyring', key.publicKeyFile, join(dir, 'dists/stable/InRelease')]);
      expect(await repo.versions('app')).toEqual(['1.0', '2.0']);
      // keep: 1 did not drop 1.0: the previous indexes, which name it, may come back.
      expect(existsSync(join(dir, 'pool/main/a/app/app_1.0_all.deb'))).toBe(true);
      expect(isRingmasterError(error, 'REPOSITORY')).toBe(true);
      expect(error.message).toContain('app 2.0 published; the new indexes of suite stable are in place');
      expect(error.message).toContain('reindex() writes them again');
      expect(error.message).toContain('EIO');
      expect((error as { details?: Record<string, unknown> }).details).toMatchObject({
        outcome: 'unknown',
        indexes: 'live',
      });
      // The next publish, on disk for sure, lets retention drop it.
      await repo.publish(await buildVersion('app', '3.0'));
      expect(await repo.versions('app')).toEqual(['3.0']);
      await everyNamedFileIsThere(dir, 'stable');
    } finally {
      await repo.close();
    }
  }, 60_000);

  it("admit: the ring suite's listing is the one its live indexes list", async () => {
    const dir = await tempDir('repo');
    const repo = aptRepository({
      dir,
      signingKey: { keyFile: key.secretKeyFile, passphrase: key.passphrase },
    });
    try {
      const one = await buildVersion('svc', '1.0');
      const two = await buildVersion('svc', '2.0');
      await repo.publishMany([one, two]);
      await repo.admit('prod', [one]);
      failing.add(join(dir, 'dists', 'prod'));
      const error = await rejection(repo.admit('prod', [two]));
      expect(failing.size).toBe(0);
      // The ring's suite keeps the version before the newest (suiteKeep 2), as a rollback target.
      expect((await stanzas(dir, 'prod')).map((s) => s.is)).toEqual(['svc 1.0', 'svc 2.0']);
      await everyNamedFileIsThere(dir, 'prod');
      expect((await repo.suite('prod')).packages).toEqual({ svc: ['1.0', '2.0'] });
      expect(isRingmasterError(error, 'REPOSITORY')).toBe(true);
      expect(error.message).toContain('the new indexes of suite prod are in place and served');
    } finally {
      await repo.close();
    }
  }, 60_000);
});
