/** The real dpkg, on a private root, installs, upgrades, downgrades and removes our packages, running their scripts. */
import { mkdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Artifact } from '@ringmaster/core/adapter';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deb } from '../src/index.js';
import { cleanup, ok, revision, tempDir, writeTree } from './helpers.js';

afterAll(cleanup);

/** dpkg-query's format: `${Version}` is dpkg's syntax, not a template literal. */
const format = (fields: string) => `-f=${fields.replace(/%/g, '$')}`;

/** Each script appends its name and arguments to a log inside the dpkg root. */
const script = (name: string) => `#!/bin/sh\nset -e\necho "${name} $*" >> "$DPKG_ROOT/var/log/foostat.log"\n`;

let root: string;
let v10: Artifact;
let v11: Artifact;

async function build(number: number): Promise<Artifact> {
  const tree = await writeTree(await tempDir('tree'), {
    'opt/foostat/VERSION': `${number}\n`,
    'opt/foostat/bin/foostat': { content: '#!/bin/sh\necho foostat\n', mode: 0o755 },
    'etc/foostat/foostat.conf': 'port = 8080\n',
    'usr/bin/foostat': { link: '/opt/foostat/bin/foostat' },
  });
  return deb({
    name: 'foostat',
    maintainer: 'Ops <ops@example.com>',
    description: 'Foostat widget service',
    preinst: script('preinst'),
    postinst: script('postinst'),
    prerm: script('prerm'),
    postrm: script('postrm'),
  }).package({ dir: tree, revision: revision(number), outDir: await tempDir('out') });
}

beforeAll(async () => {
  root = await tempDir('dpkgroot');
  for (const dir of ['var/lib/dpkg/info', 'var/lib/dpkg/updates', 'var/log'])
    await mkdir(join(root, dir), { recursive: true });
  await writeFile(join(root, 'var/lib/dpkg/status'), '');
  [v10, v11] = await Promise.all([build(10), build(11)]);
});

const dpkg = (...args: string[]) =>
  ok([
    'dpkg',
    `--root=${root}`,
    '--force-not-root',
    '--force-script-chrootless',
    `--log=${join(root, 'var/log/dpkg.log')}`,
    ...args,
  ]);

const installed = async () =>
  (
    await ok([
      'dpkg-query',
      `--admindir=${join(root, 'var/lib/dpkg')}`,
      '-W',
      format('%{Version} %{Status}'),
      'foostat',
    ])
  ).trim();

async function scriptLog(): Promise<string[]> {
  const text = await readFile(join(root, 'var/log/foostat.log'), 'utf8').catch(() => '');
  await writeFile(join(root, 'var/log/foostat.log'), '');
  return text.trim().split('\n').filter(Boolean);
}

describe('dpkg --root installs our packages', () => {
  it('installs, running preinst and postinst, and registers the conffile', async () => {
    await dpkg('-i', v10.file);
    expect(await installed()).toBe('0.0.10 install ok installed');
    expect(await scriptLog()).toEqual(['preinst install', 'postinst configure']);
    expect(await readFile(join(root, 'opt/foostat/VERSION'), 'utf8')).toBe('10\n');
    expect(await readlink(join(root, 'usr/bin/foostat'))).toBe('/opt/foostat/bin/foostat');
    const conffiles = await ok([
      'dpkg-query',
      `--admindir=${join(root, 'var/lib/dpkg')}`,
      '-W',
      format('%{Conffiles}'),
      'foostat',
    ]);
    expect(conffiles).toContain('/etc/foostat/foostat.conf');
  });

  it('upgrades, with the old prerm/postrm and the new preinst/postinst', async () => {
    await dpkg('-i', v11.file);
    expect(await installed()).toBe('0.0.11 install ok installed');
    expect(await scriptLog()).toEqual([
      'prerm upgrade 0.0.11',
      'preinst upgrade 0.0.10 0.0.11',
      'postrm upgrade 0.0.11',
      'postinst configure 0.0.10',
    ]);
    expect(await readFile(join(root, 'opt/foostat/VERSION'), 'utf8')).toBe('11\n');
  });

  it('downgrades back to the previous version (a rollback)', async () => {
    await dpkg('-i', v10.file);
    expect(await installed()).toBe('0.0.10 install ok installed');
    expect(await scriptLog()).toContain('postinst configure 0.0.11');
    expect(await readFile(join(root, 'opt/foostat/VERSION'), 'utf8')).toBe('10\n');
  });

  it('removes, keeping the conffile', async () => {
    await dpkg('-r', 'foostat');
    expect(await scriptLog()).toEqual(['prerm remove', 'postrm remove']);
    await expect(readFile(join(root, 'opt/foostat/VERSION'))).rejects.toThrow(/ENOENT/);
    expect(await readFile(join(root, 'etc/foostat/foostat.conf'), 'utf8')).toBe('port = 8080\n');
  });
});
