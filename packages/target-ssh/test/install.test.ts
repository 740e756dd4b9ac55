import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from '@ringmaster/core/adapter';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDeb, type Lab, rejectionOf, startLab } from './fixture.js';

let lab: Lab;
beforeAll(async () => {
  // One host (or two) per test, so the tests run concurrently without sharing a dpkg lock.
  lab = await startLab(6);
});
afterAll(async () => {
  await lab?.stop();
});

const uploads = async (host: string) =>
  (await readdir(join(lab.lab.rootOf(host), '/tmp'))).filter((f) => f.startsWith('ringmaster-'));

describe.concurrent('install', () => {
  it('installs the package on that host only: files, dpkg database, temp file removed', async () => {
    const target = lab.target();
    const artifact = await buildDeb(lab.work, { name: 'rm-web', version: '1.0.0' });
    await target.install('host-1', artifact);
    expect(await target.installed('host-1', 'rm-web')).toEqual({ version: '1.0.0', status: 'installed' });
    expect(await readFile(join(lab.lab.rootOf('host-1'), '/opt/rm-web/VERSION'), 'utf8')).toBe('1.0.0\n');
    expect(existsSync(join(lab.lab.rootOf('host-2'), '/opt/rm-web'))).toBe(false);
    expect(await target.installed('host-2', 'rm-web')).toBeUndefined();
    expect(await uploads('host-1')).toEqual([]);
    // The machine's own dpkg database is untouched.
    const here = await runCommand(['dpkg-query', '-W', 'rm-web']);
    expect(here.exitCode).not.toBe(0);
    // The inventory lists every installed package.
    const inventory = await target.inventory('host-1');
    expect(inventory['rm-web']).toBe('1.0.0');
    expect(inventory.dpkg).toBeDefined();
    expect((await target.inventory('host-2'))['rm-web']).toBeUndefined();
  });

  it('installs on every host at once over one connection per host', async () => {
    const target = lab.target({
      hosts: lab.hostOptions().filter((h) => h.name === 'host-2' || h.name === 'host-3'),
      concurrency: 2,
    });
    const artifact = await buildDeb(lab.work, { name: 'rm-api', version: '2.1.0-1' });
    const hosts = target.hosts.map((h) => h.name);
    await Promise.all(hosts.map((h) => target.install(h, artifact)));
    for (const h of hosts) expect((await target.installed(h, 'rm-api'))?.version).toBe('2.1.0-1');
    expect(await target.openConnections()).toBe(2);
    await target.close();
    expect(await target.openConnections()).toBe(0);
  });

  it('accepts an epoch version and downgrades for a rollback', async () => {
    const target = lab.target();
    await target.install('host-4', await buildDeb(lab.work, { name: 'rm-epoch', version: '1:2.0' }));
    await target.install('host-4', await buildDeb(lab.work, { name: 'rm-epoch', version: '1:1.9' }));
    expect((await target.installed('host-4', 'rm-epoch'))?.version).toBe('1:1.9');
  });

  it('refuses a hostile version, name or format before connecting: nothing runs on the host', async () => {
    const target = lab.target();
    const good = await buildDeb(lab.work, { name: 'rm-safe', version: '1.0' });
    const cases = [
      { ...good, version: '1.0;touch /tmp/pwned' },
      { ...good, version: '1.0\ntouch /tmp/pwned' },
      { ...good, name: 'rm-safe$(touch /tmp/pwned)' },
      { ...good, name: '../../etc' },
      { ...good, sha256: "'; touch /tmp/pwned #" },
    ];
    for (const artifact of cases) {
      const error = await rejectionOf(target.install('host-5', artifact));
      expect(error.code).toBe('UNSAFE_INPUT');
    }
    const wrongFormat = await rejectionOf(target.install('host-5', { ...good, format: 'tar' }));
    expect(wrongFormat.code).toBe('TARGET');
    expect(wrongFormat.message).toContain('deb');
    expect((await rejectionOf(target.installed('host-5', 'x;id'))).code).toBe('UNSAFE_INPUT');
    expect(await target.openConnections()).toBe(0);
    expect(existsSync(join(lab.lab.rootOf('host-5'), '/tmp/pwned'))).toBe(false);
    expect(existsSync('/tmp/pwned')).toBe(false);
  });

  it('refuses an artifact whose file is missing, naming the path', async () => {
    const target = lab.target();
    const good = await buildDeb(lab.work, { name: 'rm-gone', version: '1.0' });
    const error = await rejectionOf(target.install('host-2', { ...good, file: join(lab.work, 'nope.deb') }));
    expect(error.code).toBe('TARGET');
    expect(error.message).toContain('nope.deb');
  });

  it('apt mode: installs name=version from the host apt sources, upgrades, and downgrades', async () => {
    // The repository lives in the host's own /srv (its /tmp is not the machine's).
    const repo = join(lab.lab.rootOf('host-6'), '/srv/repo');
    await runCommand(['mkdir', '-p', repo]);
    const v1 = await buildDeb(repo, { name: 'rm-apt', version: '1.0' });
    await buildDeb(repo, { name: 'rm-apt', version: '1.1' });
    const scan = await runCommand(['dpkg-scanpackages', '--multiversion', '.', '/dev/null'], { cwd: repo });
    expect(scan.exitCode).toBe(0);
    await writeFile(join(repo, 'Packages'), scan.stdout);
    await writeFile(
      join(lab.lab.rootOf('host-6'), '/etc/apt/sources.list.d/ringmaster.list'),
      'deb [trusted=yes] file:/srv/repo ./\n',
    );
    const target = lab.target({ installMode: 'apt' });
    await target.install('host-6', { ...v1, version: '1.1', file: '/nonexistent' });
    expect((await target.installed('host-6', 'rm-apt'))?.version).toBe('1.1');
    // The lists are fresh now: skip the update for the rollback.
    const noUpdate = lab.target({ installMode: 'apt', aptUpdate: false });
    await noUpdate.install('host-6', v1);
    expect((await target.installed('host-6', 'rm-apt'))?.version).toBe('1.0');
    const missing = await rejectionOf(noUpdate.install('host-6', { ...v1, version: '9.9' }));
    expect(missing.code).toBe('TARGET');
    expect(missing.message).toContain('host-6');
    expect(missing.message).toContain('rm-apt=9.9');
  });
});
