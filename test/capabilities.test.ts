/**
 * Meta-test against drift: the capability table in README.md is checked against what each
 * adapter declares. Building an adapter does nothing, so no repository or host is needed.
 */
import { readFile } from 'node:fs/promises';
import { localTarget, memorySource } from '@ringmaster/core';
import { ssh } from '@ringmaster/target-ssh';
import { git } from '@ringmaster/vcs-git';
import { svn } from '@ringmaster/vcs-svn';
import { expect, it } from 'vitest';

const hosts = [{ name: 'web-1', address: '127.0.0.1' }];
const adapters: Record<string, { capabilities?: object }> = {
  '`memorySource()`': memorySource(),
  '`git()`': git({ url: '/srv/git/app.git' }),
  '`svn()`': svn({ url: 'file:///srv/svn/app' }),
  '`localTarget()`': localTarget({ root: '/srv/hosts', hosts: ['web-1'] }),
  '`localTarget({ healthCheck })`': localTarget({
    root: '/srv/hosts',
    hosts: ['web-1'],
    healthCheck: { run: ['true'] },
  }),
  '`ssh()`': ssh({ hosts, agent: true }),
  '`ssh({ healthCheck })`': ssh({ hosts, agent: true, healthCheck: { command: ['true'] } }),
};

it('the README capability table matches every adapter', async () => {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
  const table = readme.split('<!-- capabilities:start -->')[1]!.split('<!-- capabilities:end -->')[0]!;
  const rows = table
    .trim()
    .split('\n')
    .slice(2)
    .map((line) => line.split('|').map((cell) => cell.trim()));
  const documented = Object.fromEntries(rows.map((cells) => [cells[1], cells[3]!.split(', ').sort()]));
  const declared = Object.fromEntries(
    Object.entries(adapters).map(([name, adapter]) => [
      name,
      Object.entries(adapter.capabilities ?? {})
        .filter(([, on]) => on === true)
        .map(([capability]) => capability)
        .sort(),
    ]),
  );
  expect(documented).toEqual(declared);
});
