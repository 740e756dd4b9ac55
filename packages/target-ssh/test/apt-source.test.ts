/**
 * `aptSource` on real sshd hosts: the target writes a `signed-by` source for a ring's suite of a
 * signed `aptRepository()` served on loopback, and apt on the host installs exactly what was
 * admitted to that suite.
 */
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Artifact } from '@ringmaster/core/adapter';
import { ConfigError, runCommand } from '@ringmaster/core/adapter';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AptRepository, aptRepository, type RepositoryServer } from '../../pkg-deb/src/index.js';
import { cleanup, makeKey, type TestKey } from '../../pkg-deb/test/helpers.js';
import { ssh } from '../src/index.js';
import { buildDeb, type Lab, rejectionOf, startLab } from './fixture.js';

let lab: Lab;
let key: TestKey;
let armoredKey: string;
let repo: AptRepository;
let server: RepositoryServer;
let v1: Artifact;
let v2: Artifact;

beforeAll(async () => {
  [lab, key] = await Promise.all([startLab(4), makeKey()]);
  armoredKey = join(lab.work, 'repo.asc');
  const exported = await runCommand(
    ['gpg', '--homedir', key.homedir, '--batch', '--armor', '--output', armoredKey, '--export', key.keyId],
    { timeoutMs: 30_000 },
  );
  expect(exported.exitCode, exported.stderr).toBe(0);
  repo = aptRepository({
    dir: join(lab.work, 'repo'),
    signingKey: { homedir: key.homedir, keyId: key.keyId, passphrase: key.passphrase },
  });
  v1 = await buildDeb(lab.work, { name: 'rm-src', version: '1.0' });
  v2 = await buildDeb(lab.work, { name: 'rm-src', version: '2.0' });
  await repo.publishMany([v1, v2]);
  await repo.admit('prod', [v1]);
  server = await repo.serve({ port: 0 });
});

afterAll(async () => {
  await repo?.close();
  await lab?.stop();
  await key?.close();
  await cleanup();
});

const onHost = (host: string, path: string) => join(lab.lab.rootOf(host), path);
// Each test host has its own /etc/apt/keyrings (HOST_DIRS): no key lands in the machine's.
const keyringOf = (host: string, file: string) => onHost(host, join('/etc/apt/keyrings', file));

describe('aptSource', () => {
  it('writes a signed-by source for the suite and installs what was admitted to it; a version not admitted fails with apt’s reason', async () => {
    const target = lab.target({
      installMode: 'apt',
      aptSource: { url: server.url, suite: 'prod', keyFile: key.publicKeyFile },
    });
    await target.install('host-1', v1);
    expect(await target.installed('host-1', 'rm-src')).toEqual({ version: '1.0', status: 'installed' });
    expect(await readFile(onHost('host-1', '/opt/rm-src/VERSION'), 'utf8')).toBe('1.0\n');
    const listFile = onHost('host-1', '/etc/apt/sources.list.d/ringmaster.list');
    expect(await readFile(listFile, 'utf8')).toBe(
      `deb [signed-by=/etc/apt/keyrings/ringmaster.gpg] ${server.url} prod main\n`,
    );
    // A binary key keeps its bytes and gets .gpg.
    expect(await readFile(keyringOf('host-1', 'ringmaster.gpg'))).toEqual(await readFile(key.publicKeyFile));
    expect(((await stat(keyringOf('host-1', 'ringmaster.gpg'))).mode & 0o777).toString(8)).toBe('644');

    const missing = await rejectionOf(target.install('host-1', v2));
    expect(missing.code).toBe('TARGET');
    expect(missing.message).toContain('host host-1');
    expect(missing.message).toContain("Version '2.0' for 'rm-src' was not found");
    expect((await target.installed('host-1', 'rm-src'))?.version).toBe('1.0');
    expect(existsSync(onHost('host-2', '/etc/apt/sources.list.d/ringmaster.list'))).toBe(false);

    // Once 2.0 is admitted to prod, the same target installs it; the source is not rewritten.
    const before = await Promise.all([stat(listFile), stat(keyringOf('host-1', 'ringmaster.gpg'))]);
    await repo.admit('prod', [v2]);
    await target.install('host-1', v2);
    expect((await target.installed('host-1', 'rm-src'))?.version).toBe('2.0');
    const after = await Promise.all([stat(listFile), stat(keyringOf('host-1', 'ringmaster.gpg'))]);
    for (const [i, s] of after.entries()) {
      expect(s.ino).toBe(before[i]!.ino);
      expect(s.mtimeMs).toBe(before[i]!.mtimeMs);
    }
    // No temporary file is left next to them.
    const left = await runCommand([
      'sh',
      '-c',
      'ls -A "$1" "$2"',
      'ls',
      onHost('host-1', '/etc/apt/sources.list.d'),
      keyringOf('host-1', ''),
    ]);
    expect(left.stdout).not.toContain('.ringmaster-');
    await repo.admit('prod', [v1]); // back to 1.0 for the tests below
  });

  it('an armored key becomes <name>.asc; a new source is fetched even with aptUpdate: false', async () => {
    const target = lab.target({
      installMode: 'apt',
      aptUpdate: false,
      aptSource: { url: server.url, suite: 'prod', component: 'main', keyFile: armoredKey, name: 'rm-prod' },
    });
    await target.install('host-2', v1);
    expect((await target.installed('host-2', 'rm-src'))?.version).toBe('1.0');
    expect(await readFile(onHost('host-2', '/etc/apt/sources.list.d/rm-prod.list'), 'utf8')).toBe(
      `deb [signed-by=/etc/apt/keyrings/rm-prod.asc] ${server.url} prod main\n`,
    );
    expect(await readFile(keyringOf('host-2', 'rm-prod.asc'), 'utf8')).toBe(
      await readFile(armoredKey, 'utf8'),
    );
    // The same name with a binary key replaces the .asc with a .gpg (one key per source).
    const binary = lab.target({
      installMode: 'apt',
      aptSource: { url: server.url, suite: 'prod', keyFile: key.publicKeyFile, name: 'rm-prod' },
    });
    await binary.install('host-2', v1);
    expect(existsSync(keyringOf('host-2', 'rm-prod.asc'))).toBe(false);
    expect(existsSync(keyringOf('host-2', 'rm-prod.gpg'))).toBe(true);
  });

  it("aptUpdate: 'source' fetches only its own source's lists: another repository that fails its update does not fail the deploy", async () => {
    // host-4 has a second source that fails hard: a suite the server does not have (no Release).
    const other = onHost('host-4', '/etc/apt/sources.list.d/elsewhere.list');
    const { writeFile, rm } = await import('node:fs/promises');
    await writeFile(other, `deb [trusted=yes] ${server.url} no-such-suite main\n`);
    try {
      const aptSource = { url: server.url, suite: 'prod', keyFile: key.publicKeyFile };
      // A whole-host update (aptUpdate: true) fails on it, and so does that deploy.
      const whole = await rejectionOf(lab.target({ installMode: 'apt', aptSource }).install('host-4', v1));
      expect(whole.message).toContain('apt-get update failed');
      expect(whole.message).toContain('no-such-suite');
      const scoped = lab.target({ installMode: 'apt', aptSource, aptUpdate: 'source' });
      await scoped.install('host-4', v1);
      expect(await scoped.installed('host-4', 'rm-src')).toEqual({ version: '1.0', status: 'installed' });
      expect(await readFile(other, 'utf8')).toContain('no-such-suite');
    } finally {
      await rm(other, { force: true });
    }
    // 'source' needs a source to fetch.
    let error: unknown;
    try {
      ssh({ hosts: [{ name: 'web-1' }], agent: true, installMode: 'apt', aptUpdate: 'source' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).path).toBe('aptUpdate');
  });

  it('refuses a secret key or a missing key file with a ConfigError naming aptSource.keyFile, before the host is touched', async () => {
    for (const [keyFile, says] of [
      [key.secretKeyFile, 'secret key'],
      [join(lab.work, 'no-such-key.asc'), 'cannot read'],
      [join(lab.work, 'rm-src_1.0_all.deb'), 'not an OpenPGP public key'],
    ] as const) {
      const target = lab.target({
        installMode: 'apt',
        aptSource: { url: server.url, suite: 'prod', keyFile },
        hooks: { beforeInstall: ['touch', '/srv/hook-ran'] },
      });
      const error = await rejectionOf(target.install('host-3', v1));
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).path).toBe('aptSource.keyFile');
      expect(error.message).toContain(says);
      expect(await target.openConnections()).toBe(0);
    }
    expect(existsSync(onHost('host-3', '/srv/hook-ran'))).toBe(false);
    expect(existsSync(onHost('host-3', '/etc/apt/sources.list.d/ringmaster.list'))).toBe(false);
  });

  it.each([
    [{ url: 'http://127.0.0.1/ prod main\ndeb http://evil.example/' }, 'aptSource.url'],
    [{ url: 'http://127.0.0.1/ [trusted=yes]' }, 'aptSource.url'],
    [{ url: 'http://127.0.0.1/"x' }, 'aptSource.url'],
    [{ url: "http://127.0.0.1/'x" }, 'aptSource.url'],
    [{ url: 'http://127.0.0.1/[x]' }, 'aptSource.url'],
    [{ url: 'http://127.0.0.1/#x' }, 'aptSource.url'],
    [{ url: 'http://127.0.0.1/\tx' }, 'aptSource.url'],
    [{ url: 'ftp://127.0.0.1/' }, 'aptSource.url'],
    [{ url: 'javascript:alert(1)' }, 'aptSource.url'],
    [{ url: 'http://alice:s3cret@127.0.0.1/' }, 'aptSource.url'],
    [{ url: '' }, 'aptSource.url'],
    [{ suite: 'prod main' }, 'aptSource.suite'],
    [{ suite: '../prod' }, 'aptSource.suite'],
    [{ component: 'main contrib' }, 'aptSource.component'],
    [{ name: '../../etc/passwd' }, 'aptSource.name'],
    [{ name: 'a b' }, 'aptSource.name'],
    [{ keyFile: '' }, 'aptSource.keyFile'],
    [{ signedBy: '/etc/passwd' }, 'aptSource'],
  ])('refuses %j with a ConfigError naming %s', (patch, path) => {
    let error: unknown;
    try {
      ssh({
        hosts: [{ name: 'web-1' }],
        agent: true,
        installMode: 'apt',
        aptSource: { url: 'http://127.0.0.1:8080/', suite: 'prod', keyFile: '/k.asc', ...patch },
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).path).toBe(path);
    expect((error as ConfigError).message).toContain('[target-ssh]');
  });

  it('accepts http, https and file URLs, and refuses aptSource without installMode apt', () => {
    for (const url of ['http://apt.example.com/ringmaster/', 'https://10.0.0.5:8443/apt', 'file:/srv/repo']) {
      expect(() =>
        ssh({
          hosts: [{ name: 'web-1' }],
          agent: true,
          installMode: 'apt',
          aptSource: { url, suite: 'prod', keyFile: '/k' },
        }),
      ).not.toThrow();
    }
    let error: unknown;
    try {
      ssh({
        hosts: [{ name: 'web-1' }],
        agent: true,
        aptSource: { url: 'http://x/', suite: 'prod', keyFile: '/k' },
      });
    } catch (e) {
      error = e;
    }
    expect((error as ConfigError).path).toBe('aptSource');
    expect((error as ConfigError).message).toContain("installMode: 'apt'");
  });
});
