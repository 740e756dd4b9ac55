/**
 * A publisher killed with SIGKILL at an arbitrary point: the index apt reads stays complete and
 * verifiable, and the next publisher takes the lock over. Whatever instant the kill lands on,
 * the same assertions must hold.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aptRepository, deb } from '../src/index.js';
import { cleanup, makeKey, ok, revision, sha256, type TestKey, tempDir, writeTree } from './helpers.js';

const src = (path: string) => fileURLToPath(new URL(path, import.meta.url));

let key: TestKey;
let work: string;
let child: ChildProcess | undefined;

beforeAll(async () => {
  key = await makeKey();
  work = await tempDir('crash');
  // The child process runs the package from source, bundled (Node 20 cannot run TypeScript).
  await build({
    entryPoints: [src('../src/index.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: join(work, 'pkg-deb.mjs'),
    alias: { '@ringmaster/core/adapter': src('../../core/src/adapter.ts') },
    logLevel: 'silent',
  });
  await writeFile(
    join(work, 'publisher.mjs'),
    `import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { aptRepository, deb } from './pkg-deb.mjs';
const [dir, homedir, keyId, passphrase, start] = process.argv.slice(2);
const repo = aptRepository({ dir, signingKey: { homedir, keyId, passphrase } });
for (let i = Number(start); i < Number(start) + 200; i++) {
  const tree = join(dir, '..', 'trees', String(i));
  await mkdir(join(tree, 'usr/share/app'), { recursive: true });
  await writeFile(join(tree, 'usr/share/app/VERSION'), String(i));
  const artifact = await deb({ name: 'app', version: '1.{number}', maintainer: 'Ops <ops@example.com>', description: 'App' })
    .package({ dir: tree, outDir: join(dir, '..', 'out'), revision: { id: String(i), number: i, line: 'trunk', author: 'a', message: 'm', time: '2026-11-01T00:00:00Z' } });
  await repo.publish(artifact);
  console.log('published 1.' + i);
}
`,
  );
});

afterAll(async () => {
  child?.kill('SIGKILL');
  await key?.close();
  await cleanup();
});

/** Asserts what apt relies on: a verifiable InRelease whose indexes (by hash) and pool files all match. */
async function assertConsistent(dir: string): Promise<string[]> {
  const release = await ok([
    'gpgv',
    '--keyring',
    key.publicKeyFile,
    '--output',
    '-',
    join(dir, 'dists/stable/InRelease'),
  ]);
  const sums = [...release.matchAll(/^ ([0-9a-f]{64}) +(\d+) (main\/binary-amd64\/Packages(?:\.gz)?)$/gm)];
  expect(sums.map((m) => m[3])).toEqual(['main/binary-amd64/Packages', 'main/binary-amd64/Packages.gz']);
  let packages = '';
  for (const [, hash, size, path] of sums) {
    const data = await readFile(join(dir, 'dists/stable/main/binary-amd64/by-hash/SHA256', hash!));
    expect(data.length, path).toBe(Number(size));
    expect(sha256(data), path).toBe(hash);
    if (path!.endsWith('Packages')) packages = data.toString();
  }
  const versions: string[] = [];
  for (const stanza of packages.split('\n\n').filter((s) => s.trim())) {
    const filename = /^Filename: (.+)$/m.exec(stanza)![1]!;
    const expected = /^SHA256: (.+)$/m.exec(stanza)![1]!;
    expect(sha256(await readFile(join(dir, filename))), filename).toBe(expected);
    versions.push(/^Version: (.+)$/m.exec(stanza)![1]!);
  }
  return versions;
}

/** Runs the publisher until it has published `after` packages, then kills it `delayMs` later. */
async function runAndKill(dir: string, start: number, after: number, delayMs: number): Promise<string[]> {
  const published: string[] = [];
  child = spawn(
    process.execPath,
    [join(work, 'publisher.mjs'), dir, key.homedir, key.keyId, key.passphrase, String(start)],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const proc = child;
  let stderr = '';
  proc.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`publisher too slow: ${stderr}`)), 60_000);
    proc.stdout!.on('data', (c: Buffer) => {
      published.push(
        ...c
          .toString()
          .trim()
          .split('\n')
          .map((l) => l.replace('published ', '')),
      );
      if (published.length >= after) {
        clearTimeout(timer);
        setTimeout(() => {
          proc.kill('SIGKILL');
          resolve();
        }, delayMs);
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      if (code !== null) reject(new Error(`publisher exited ${code}: ${stderr}`));
    });
  });
  await new Promise((resolve) =>
    proc.exitCode !== null || proc.signalCode ? resolve(undefined) : proc.once('exit', resolve),
  );
  return published;
}

/**
 * The processes still naming `dir` in their argv (a killed publisher's gpg, waiting for a Release
 * nobody will write), once they had up to `ms` to go. The key's gpg-agent, which outlives every
 * publisher by design, is not one.
 */
async function leftovers(dir: string, ms = 5000): Promise<string[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const ps = await ok(['ps', '-eo', 'pid=,args=']);
    const left = ps
      .split('\n')
      .filter((line) => line.includes(dir) && !line.includes(' ps -eo') && !line.includes('gpg-agent'));
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('a publisher killed mid-publish', () => {
  it('leaves an index apt can verify, and the next publisher takes over', async () => {
    const dir = join(work, 'repo');
    const done: string[] = [];
    // Three kills at different instants in the publish cycle.
    for (const [round, delayMs] of [5, 37, 71].entries()) {
      done.push(...(await runAndKill(dir, round * 100, 2, delayMs)));
      // Nothing it started outlives it: its gpg, the one signing and the one started for the next
      // Release, read an end of file on their stdin and stop.
      expect(await leftovers(dir)).toEqual([]);
      expect(await leftovers(key.homedir)).toEqual([]);
      const listed = await assertConsistent(dir);
      for (const v of done) expect(listed, `published ${v} before the kill`).toContain(v);
    }
    const repo = aptRepository({
      dir,
      signingKey: { homedir: key.homedir, keyId: key.keyId, passphrase: key.passphrase },
    });
    const tree = await writeTree(await tempDir('tree'), { 'usr/share/app/VERSION': 'after' });
    const next = await deb({
      name: 'app',
      version: '2.{number}',
      maintainer: 'Ops <ops@example.com>',
      description: 'App',
    }).package({
      dir: tree,
      revision: revision(0),
      outDir: await tempDir('out'),
    });
    await repo.publish(next);
    await repo.close();
    expect(await assertConsistent(dir)).toContain('2.0');
    await expect(stat(join(dir, '.ringmaster/lock'))).rejects.toThrow(/ENOENT/);
  }, 120_000);
});
