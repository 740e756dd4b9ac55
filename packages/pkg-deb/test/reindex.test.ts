/**
 * reindex(): the catalogue rebuilt from the pool, its records used as a control-data cache: a
 * file whose stat key (device, inode, size, mtime, ctime) matches its record is not read, any
 * other is read and its SHA-256 compared with the record's. A file changed under the same size
 * with its mtime put back (touch -d) is read again, its ctime being new; a torn or corrupt record
 * is never trusted; a crafted package is refused as a publish refuses it; a catalogue an older
 * version wrote is rebuilt; and apt-get (through gpgv) reads the result.
 */
import { copyFile, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { isRingmasterError } from '@ringmaster/core/adapter';
import { describe, expect, it } from 'vitest';
import { type AptRepository, aptRepository } from '../src/index.js';
import { aptTool, buildVersion, fileKey, ok, rejection, sha256, tempDir } from './helpers.js';

const key = fileKey();

const PACKAGES = 'dists/stable/main/binary-amd64/Packages';

const build = (name: string, version: string) =>
  buildVersion(name, version, { depends: ['libc6 (>= 2.36)'] });

/** A signed repository with `names` published at 1.0, and its pool files by name. */
async function repository(
  names: string[],
): Promise<{ repo: AptRepository; dir: string; pool: Record<string, string> }> {
  const dir = await tempDir('reindex');
  const repo = aptRepository({
    dir,
    signingKey: { homedir: key.homedir, keyId: key.keyId, passphrase: key.passphrase },
  });
  const stored = await repo.publishMany(await Promise.all(names.map((n) => build(n, '1.0'))));
  return { repo, dir, pool: Object.fromEntries(stored.map((a) => [a.name, a.file])) };
}

/** Every file under dists/ and .ringmaster/catalogue/, with its bytes' hash: what "unchanged" means. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (at: string): Promise<void> => {
    for (const entry of await readdir(at, { withFileTypes: true }).catch(() => [])) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) await walk(path);
      else out[relative(dir, path)] = sha256(await readFile(path));
    }
  };
  await walk(join(dir, 'dists'));
  await walk(join(dir, '.ringmaster/catalogue'));
  return out;
}

/** The SHA256 the signed index gives the package `name` (gpgv checks the InRelease first). */
async function indexedSha256(dir: string, name: string): Promise<string | undefined> {
  await ok(['gpgv', '--keyring', key.publicKeyFile, join(dir, 'dists/stable/InRelease')]);
  const packages = await readFile(join(dir, PACKAGES), 'utf8');
  const stanza = packages.split('\n\n').find((s) => s.startsWith(`Package: ${name}\n`));
  return stanza && /^SHA256: (.*)$/m.exec(stanza)?.[1];
}

/** Sets a file's mtime to exactly `ns` nanoseconds, with coreutils' touch. */
async function touchMtime(file: string, ns: bigint): Promise<void> {
  const seconds = ns / 1_000_000_000n;
  const fraction = String(ns % 1_000_000_000n).padStart(9, '0');
  await ok(['touch', '-m', '-d', `@${seconds}.${fraction}`, file]);
  expect((await stat(file, { bigint: true })).mtimeNs).toBe(ns);
}

/** The catalogue's files (a publish writes one). */
async function catalogueFiles(dir: string): Promise<string[]> {
  const at = join(dir, '.ringmaster/catalogue');
  return (await readdir(at)).sort().map((name) => join(at, name));
}

/** Waits until every file written so far is over a second old: reindex() then records stat keys. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 1100));

describe('reindex() and its control-data cache', () => {
  it('rebuilds lost indexes from the pool, reading no package whose record matches it', async () => {
    const { repo, dir } = await repository(['alpha', 'beta', 'gamma']);
    const before = await readFile(join(dir, PACKAGES));
    await rm(join(dir, 'dists'), { recursive: true });
    // A publish records no stat key (its files are new): each file is checksummed, none read in full.
    expect(await repo.reindex()).toEqual({ packages: 3, read: 0, checksummed: 3 });
    expect(await readFile(join(dir, PACKAGES))).toEqual(before);
    await ok(['gpgv', '--keyring', key.publicKeyFile, join(dir, 'dists/stable/InRelease')]);
    await ok([
      'gpgv',
      '--keyring',
      key.publicKeyFile,
      join(dir, 'dists/stable/Release.gpg'),
      join(dir, 'dists/stable/Release'),
    ]);
    await repo.close();
  });

  it('reads again a file changed under the same size with its mtime put back (touch -d), and indexes its new bytes', async () => {
    const { repo, dir, pool } = await repository(['alpha', 'beta']);
    const file = pool.alpha!;
    const { mtimeNs } = await stat(file, { bigint: true });
    // A digit of the first ar member's mtime: still a valid .deb of the same size, other bytes.
    const bytes = Buffer.from(await readFile(file));
    bytes[8 + 16] = bytes[8 + 16] === 0x31 ? 0x32 : 0x31;
    await writeFile(file, bytes);
    await touchMtime(file, mtimeNs);
    expect((await stat(file)).size).toBe(bytes.length);

    expect(await repo.reindex()).toEqual({ packages: 2, read: 1, checksummed: 2 });
    expect(await indexedSha256(dir, 'alpha')).toBe(sha256(bytes));
    expect((await repo.find('alpha', '1.0'))?.sha256).toBe(sha256(bytes));
    // The record now matches the file: the next reindex reads nothing in full.
    expect(await repo.reindex()).toMatchObject({ packages: 2, read: 0 });
    await repo.close();
  });

  it('takes a file whose stat key matches without reading it, and catches by its ctime a same-size change with the mtime put back', async () => {
    const { repo, dir, pool } = await repository(['alpha', 'beta']);
    await settle();
    // Checksummed once more, then recorded with their stat keys.
    expect(await repo.reindex()).toEqual({ packages: 2, read: 0, checksummed: 2 });
    expect(await repo.reindex()).toEqual({ packages: 2, read: 0, checksummed: 0 });

    const file = pool.alpha!;
    const before = await stat(file, { bigint: true });
    const bytes = Buffer.from(await readFile(file));
    bytes[8 + 16] = bytes[8 + 16] === 0x31 ? 0x32 : 0x31;
    await writeFile(file, bytes);
    await touchMtime(file, before.mtimeNs);
    const after = await stat(file, { bigint: true });
    // Device, inode, size and mtime as recorded: only the ctime says the file changed.
    expect([after.dev, after.ino, after.size, after.mtimeNs]).toEqual([
      before.dev,
      before.ino,
      before.size,
      before.mtimeNs,
    ]);
    expect(after.ctimeNs).not.toBe(before.ctimeNs);

    expect(await repo.reindex()).toEqual({ packages: 2, read: 1, checksummed: 1 });
    expect(await indexedSha256(dir, 'alpha')).toBe(sha256(bytes));
    // touch alone (times changed, bytes not) has the file checksummed again, not read in full.
    await settle();
    expect(await repo.reindex()).toMatchObject({ packages: 2, read: 0 });
    await ok(['touch', pool.beta!]);
    expect(await repo.reindex()).toMatchObject({ packages: 2, read: 0, checksummed: 1 });
    await repo.close();
  });

  it('refuses a file corrupted under the same size and mtime, and then changes nothing', async () => {
    const { repo, dir, pool } = await repository(['alpha', 'beta']);
    const file = pool.beta!;
    const { mtimeNs } = await stat(file, { bigint: true });
    const bytes = Buffer.from(await readFile(file));
    // The end of the data member's gzip stream: its CRC and length no longer match.
    for (let i = bytes.length - 6; i < bytes.length - 2; i++) bytes[i] = bytes[i]! ^ 0xff;
    await writeFile(file, bytes);
    await touchMtime(file, mtimeNs);
    const before = await snapshot(dir);

    const error = await rejection(repo.reindex());
    expect(isRingmasterError(error, 'REPOSITORY')).toBe(true);
    expect(error.message).toContain(file);
    expect(error.message).toContain('does not decompress');
    expect(await snapshot(dir)).toEqual(before);
    await repo.close();
  });

  it('never trusts a torn or corrupt record: publish refuses it by name, reindex() reads its package again', async () => {
    const { repo, dir, pool } = await repository(['alpha', 'beta', 'gamma']);
    const truth = await readFile(join(dir, PACKAGES), 'utf8');
    // One publish, one catalogue file: alpha, beta, gamma. Beta's stanza changed without its
    // check, and the file cut short inside gamma's line (a torn write).
    const [file, ...others] = await catalogueFiles(dir);
    expect(others).toEqual([]);
    const text = (await readFile(file!, 'utf8')).replace('The beta package', 'The evil package');
    await writeFile(file!, text.slice(0, text.lastIndexOf('"name":"gamma"') + 20));

    const fresh = aptRepository({
      dir,
      signingKey: { homedir: key.homedir, keyId: key.keyId, passphrase: key.passphrase },
    });
    const error = await rejection(fresh.publish(await build('delta', '1.0')));
    expect(isRingmasterError(error, 'REPOSITORY')).toBe(true);
    expect(error.message).toContain(file!);
    expect(error.message).toContain('line 2: its check does not match');
    expect(error.message).toContain('reindex()');

    expect(await fresh.reindex()).toEqual({ packages: 3, read: 2, checksummed: 3 });
    expect(await readFile(join(dir, PACKAGES), 'utf8')).toBe(truth);
    expect(await readFile(join(dir, PACKAGES), 'utf8')).not.toContain('evil');
    expect(await indexedSha256(dir, 'alpha')).toBe(sha256(await readFile(pool.alpha!)));
    await fresh.publish(await build('delta', '1.0'));
    expect(await fresh.versions('delta')).toEqual(['1.0']);
    await fresh.close();
    await repo.close();
  });

  it('refuses a catalogue file cut short, even between two lines', async () => {
    const { repo, dir } = await repository(['alpha', 'beta']);
    const [file] = await catalogueFiles(dir);
    const text = await readFile(file!, 'utf8');
    const firstLine = text.indexOf('\n') + 1;
    for (const [cut, says] of [
      [firstLine + 10, 'line 2: it ends without a newline (cut short?)'],
      // Every line left checks: the file's end line is what is missing.
      [firstLine, 'it has no end line (cut short?)'],
    ] as const) {
      await writeFile(file!, text.slice(0, cut));
      const error = await rejection(aptRepository({ dir }).versions('alpha'));
      expect(isRingmasterError(error, 'REPOSITORY')).toBe(true);
      expect(error.message).toContain(`${file!} is unreadable (${says})`);
    }
    await repo.close();
  });

  it('rebuilds the catalogue of an older version (a file per package) from the pool, once', async () => {
    const { repo, dir } = await repository(['alpha', 'beta']);
    const before = await readFile(join(dir, PACKAGES), 'utf8');
    // What an older version left: .ringmaster/packages/, a record file per package.
    await rm(join(dir, '.ringmaster/catalogue'), { recursive: true });
    await mkdir(join(dir, '.ringmaster/packages'));
    await writeFile(join(dir, '.ringmaster/packages/alpha_1.0_all.json'), '{"name":"alpha"}');
    const again = aptRepository({ dir });
    expect(await again.versions('beta')).toEqual(['1.0']);
    await expect(stat(join(dir, '.ringmaster/packages'))).rejects.toThrow(/ENOENT/);
    await again.publish(await build('gamma', '1.0'));
    const after = await readFile(join(dir, PACKAGES), 'utf8');
    expect(after.startsWith(before)).toBe(true);
    expect(after).toContain('Package: gamma\n');
    await again.close();
    await repo.close();
  });

  it('refuses a crafted package found in the pool (strict control parsing), and then changes nothing', async () => {
    const { repo, dir } = await repository(['alpha']);
    const tree = await tempDir('crafted');
    await mkdir(join(tree, 'DEBIAN'));
    await mkdir(join(tree, 'opt/evil'), { recursive: true });
    await writeFile(join(tree, 'opt/evil/data'), 'x'.repeat(1000));
    await writeFile(
      join(tree, 'DEBIAN/control'),
      'Package: evil\nVersion: 1.0\nArchitecture: all\nMaintainer: Ops <ops@example.com>\nDescription: evil\npackage: ../../x\n',
    );
    const place = join(dir, 'pool/main/e/evil/evil_1.0_all.deb');
    await mkdir(join(place, '..'), { recursive: true });
    await ok(['dpkg-deb', '--nocheck', '--root-owner-group', '-Zgzip', '--build', tree, place]);
    const before = await snapshot(dir);

    const error = await rejection(repo.reindex());
    expect(isRingmasterError(error, 'REPOSITORY')).toBe(true);
    expect(error.message).toContain(place);
    expect(error.message).toContain('field package appears twice (first as Package)');
    expect(await snapshot(dir)).toEqual(before);
    expect(await repo.versions('evil')).toEqual([]);
    await repo.close();
  });

  it('refuses a package that is not at its own pool path', async () => {
    const { repo, dir, pool } = await repository(['alpha']);
    const stray = join(dir, 'pool/main/o/other/other_1.0_all.deb');
    await mkdir(join(stray, '..'), { recursive: true });
    await copyFile(pool.alpha!, stray);
    const error = await rejection(repo.reindex());
    expect(isRingmasterError(error, 'REPOSITORY')).toBe(true);
    expect(error.message).toContain(stray);
    expect(error.message).toContain('pool/main/a/alpha/alpha_1.0_all.deb');
    await repo.close();
  });

  it('rebuilds a lost catalogue from the pool: every package read in full, apt-get installs from the result', async () => {
    const { repo, dir, pool } = await repository(['alpha', 'beta']);
    const before = await readFile(join(dir, PACKAGES));
    await rm(join(dir, '.ringmaster'), { recursive: true });
    await rm(pool.beta!); // and a package gone from the pool leaves the index
    await writeFile(join(dir, 'pool/main/a/alpha/.alpha_2.0_all.deb.999.dead.tmp'), 'half'); // a crash's leftover

    const fresh = aptRepository({
      dir,
      signingKey: { homedir: key.homedir, keyId: key.keyId, passphrase: key.passphrase },
    });
    expect(await fresh.reindex()).toEqual({ packages: 1, read: 1, checksummed: 1 });
    expect(await fresh.versions('alpha')).toEqual(['1.0']);
    expect(await fresh.versions('beta')).toEqual([]);
    expect(await readdir(join(dir, 'pool/main/a/alpha'))).toEqual(['alpha_1.0_all.deb']);
    const alphaStanza = before
      .toString()
      .split('\n\n')
      .find((s) => s.startsWith('Package: alpha\n'))!;
    expect((await readFile(join(dir, PACKAGES), 'utf8')).trim()).toBe(alphaStanza.trim());

    const server = await fresh.serve({ port: 0 });
    try {
      const root = await tempDir('reindex-apt');
      const source = `deb [signed-by=${key.publicKeyFile}] ${server.url} stable main`;
      const update = await aptTool(root, source, ['update']);
      expect(update.exitCode, update.stderr).toBe(0);
      const fetched = await aptTool(root, source, ['download', 'alpha'], { cwd: root });
      expect(fetched.exitCode, fetched.stderr).toBe(0);
      expect(sha256(await readFile(join(root, 'alpha_1.0_all.deb')))).toBe(
        sha256(await readFile(pool.alpha!)),
      );
    } finally {
      await server.close();
      await fresh.close();
      await repo.close();
    }
  });
});
