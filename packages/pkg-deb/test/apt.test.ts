/** The real apt-get, with a private configuration, reads the repository we serve on loopback. */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Artifact } from '@ringmaster/core/adapter';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AptRepository, aptRepository, deb, type RepositoryServer } from '../src/index.js';
import { aptTool, cleanup, makeKey, revision, type TestKey, tempDir, writeTree } from './helpers.js';

let key: TestKey;
let otherKey: TestKey;
let repo: AptRepository;
let server: RepositoryServer;
const published: Artifact[] = [];

beforeAll(async () => {
  [key, otherKey] = await Promise.all([makeKey(), makeKey()]);
  // The armored-key-file path: imported into a private GnuPG home, passphrase on stdin only.
  repo = aptRepository({
    dir: await tempDir('repo'),
    signingKey: { keyFile: key.secretKeyFile, passphrase: key.passphrase },
  });
  for (const version of ['1.0', '1.1', '2.0~rc1']) {
    const tree = await writeTree(await tempDir('tree'), { 'usr/share/webapp/VERSION': `${version}\n` });
    const artifact = await deb({
      name: 'webapp',
      version: () => version,
      maintainer: 'Ops <ops@example.com>',
      description: 'A web application',
    }).package({ dir: tree, revision: revision(1), outDir: await tempDir('out') });
    published.push(await repo.publish(artifact));
  }
  server = await repo.serve({ port: 0 });
});

afterAll(async () => {
  await repo?.close();
  await key?.close();
  await otherKey?.close();
  await cleanup();
});

/** apt-get (or apt-cache) against the served repository, with a private configuration under `root`. */
const aptGet = (root: string, publicKey: string, args: string[], cwd = root, tool = 'apt-get') =>
  aptTool(root, `deb [signed-by=${publicKey}] ${server.url} stable main`, args, { cwd, tool });

describe('apt-get against aptRepository().serve()', () => {
  it('verifies our InRelease with signed-by and downloads exactly our bytes', async () => {
    const root = await tempDir('apt');
    const update = await aptGet(root, key.publicKeyFile, ['update']);
    expect(update.exitCode, update.stderr + update.stdout).toBe(0);
    expect(update.stdout).toContain(`Get:1 ${server.url.replace(/\/$/, '')} stable InRelease`);
    expect(update.stderr).not.toMatch(/^[WE]:/m);

    const policy = await aptGet(root, key.publicKeyFile, ['policy', 'webapp'], root, 'apt-cache');
    expect(policy.exitCode).toBe(0);
    // apt orders versions as we do: 2.0~rc1 is newer than 1.1.
    expect(policy.stdout).toMatch(/Candidate: 2\.0~rc1\n/);

    for (const artifact of published) {
      const downloads = await tempDir('dl');
      const r = await aptGet(root, key.publicKeyFile, ['download', `webapp=${artifact.version}`], downloads);
      expect(r.exitCode, r.stderr).toBe(0);
      const files = await readdir(downloads);
      expect(files).toHaveLength(1);
      const bytes = await readFile(join(downloads, files[0]!));
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(artifact.sha256);
    }
  });

  it('fails apt-get update when the repository is not signed by the key the host trusts', async () => {
    const root = await tempDir('apt');
    const update = await aptGet(root, otherKey.publicKeyFile, ['update']);
    expect(update.exitCode).not.toBe(0);
    expect(update.stdout + update.stderr).toMatch(/NO_PUBKEY|not signed|signatures couldn't be verified/);
  });

  it('keeps serving a consistent index while a new version is published', async () => {
    const root = await tempDir('apt');
    const tree = await writeTree(await tempDir('tree'), { 'usr/share/webapp/VERSION': '3.0\n' });
    const next = await deb({
      name: 'webapp',
      version: '3.{number}',
      maintainer: 'Ops <ops@example.com>',
      description: 'A web application',
    }).package({ dir: tree, revision: revision(0), outDir: await tempDir('out') });
    const [update] = await Promise.all([aptGet(root, key.publicKeyFile, ['update']), repo.publish(next)]);
    expect(update.exitCode, update.stderr).toBe(0);
    const again = await aptGet(root, key.publicKeyFile, ['update']);
    expect(again.exitCode, again.stderr).toBe(0);
    const policy = await aptGet(root, key.publicKeyFile, ['policy', 'webapp'], root, 'apt-cache');
    expect(policy.stdout).toMatch(/Candidate: 3\.0\n/);
  });
});
