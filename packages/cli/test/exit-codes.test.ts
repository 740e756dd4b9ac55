/**
 * The exit-code table, row by row, through the built `ringmaster` bin on real components (git,
 * dpkg-deb, OpenSSH hosts): every command that acts exits 0 when all it did succeeded and 1
 * when anything failed, and says why. The faults are real ones: a build tool that is not there,
 * a host whose health check fails (a file on that host says so), a host whose sshd is gone.
 * The rows run in order, each from the state the one before left.
 */
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliRun } from './helpers.js';
import { CONFIG_HEAD, type RealProject, realProject } from './lab.js';

const CONFIG = `import { localRepository, manual, pipeline } from '@ringmaster/core';
import { deb } from '@ringmaster/pkg-deb';
import { git } from '@ringmaster/vcs-git';
${CONFIG_HEAD}
const here = (name) => new URL(name, import.meta.url).pathname;
// A host is unhealthy while its /etc/ringmaster/unhealthy exists.
const checked = (from, to) => ssh({
  hosts: lab.hosts.slice(from, to), privateKey: lab.clientKey, knownHosts: [lab.knownHosts],
  healthCheck: { command: ['sh', '-c', 'test ! -e /etc/ringmaster/unhealthy'], retries: 1 },
  timeouts: { connectMs: 3000 },
});
export default {
  pipelines: [
    pipeline({
      name: 'app',
      source: git({ url: lab.gitUrl, branch: 'main' }),
      // The team's build tool, outside the repository: at first it is not installed.
      build: { steps: [[here('build-tool')]] },
      packager: deb({ name: 'app', version: '1.0.{number}', prefix: '/opt/app', maintainer: 'App <app@example.com>', description: 'The app' }),
      repository: localRepository({ dir: 'repo' }),
      rings: [
        { name: 'eng', target: checked(0, 2) },
        { name: 'prod', target: checked(2, 3), policy: manual() },
      ],
    }),
  ],
};
`;

let w: RealProject;
let first: string;

beforeAll(async () => {
  w = await realProject('exits', 3, CONFIG);
  first = w.commit({ 'index.html': '<h1>app</h1>\n' }, 'First page');
}, 120_000);
afterAll(async () => {
  await w?.stop();
});

const unhealthy = async (host: string, yes: boolean) => {
  const file = join(w.lab.rootOf(host), 'etc/ringmaster/unhealthy');
  if (yes) {
    await mkdir(join(w.lab.rootOf(host), 'etc/ringmaster'), { recursive: true });
    await writeFile(file, 'drained\n');
  } else await rm(file, { force: true });
};
const [eng1, eng2, prod1] = ['exits-1', 'exits-2', 'exits-3'];

interface Row {
  /** What is true before the command runs. */
  given: string;
  before?: () => Promise<void>;
  args: string[];
  code: number;
  /** What the output must say (stdout and stderr together). */
  says: RegExp[];
  after?: (run: CliRun) => Promise<void>;
}

const ROWS: Row[] = [
  {
    given: 'a build step that cannot start (its tool is not installed)',
    args: ['watch', '--once'],
    code: 1,
    says: [
      /build [0-9a-f]{10} FAILED: \S*build-tool could not start: spawn \S*build-tool ENOENT$/m,
      /1 failure\(s\)/,
    ],
  },
  {
    given: 'the tool installed, the failed build retried',
    before: async () => {
      await writeFile(join(w.dir, 'build-tool'), '#!/bin/sh\necho built\n');
      await chmod(join(w.dir, 'build-tool'), 0o755);
    },
    args: ['build', 'app', '--retry', 'FIRST'],
    code: 0,
    says: [/release 1\.0\.1/],
  },
  {
    given: 'healthy hosts: eng takes 1.0.1, prod waits for an approval',
    args: ['watch', '--once'],
    code: 0,
    says: [/exits-1 runs 1\.0\.1/, /exits-2 runs 1\.0\.1/],
    after: async () => expect(await w.versions('app')).toEqual(['1.0.1', '1.0.1', null]),
  },
  {
    given: 'every host runs what the ledger says',
    args: ['status', '--live'],
    code: 0,
    says: [/eng\s+1\.0\.1\s+2\/2/],
  },
  {
    given: "prod's only host fails its health check",
    before: () => unhealthy(prod1, true),
    args: ['deploy', 'app', 'prod', '1.0.1'],
    code: 1,
    says: [/✘ exits-3 runs 1\.0\.1: .*health check did not pass/, /ROLLED-BACK/],
    // Rolled back to what it had: nothing.
    after: async () => expect(await w.versions('app')).toEqual(['1.0.1', '1.0.1', null]),
  },
  {
    given: 'the host healthy again, prod promoted by hand',
    before: () => unhealthy(prod1, false),
    args: ['promote', 'app', 'prod', '1.0.1'],
    code: 0,
    says: [/exits-3 runs 1\.0\.1/],
    after: async () => expect(await w.versions('app')).toEqual(['1.0.1', '1.0.1', '1.0.1']),
  },
  {
    given: 'a second commit, eng healthy',
    before: async () => void w.commit({ 'index.html': '<h1>app 2</h1>\n' }, 'Second page'),
    args: ['watch', '--once'],
    code: 0,
    says: [/exits-1 runs 1\.0\.2/],
  },
  {
    given: "prod's host unhealthy while 1.0.2 is promoted to it",
    before: () => unhealthy(prod1, true),
    args: ['promote', 'app', 'prod', '1.0.2'],
    code: 1,
    says: [/✘ exits-3 runs 1\.0\.2: .*health check did not pass/, /rollback failed on exits-3/],
    after: async () => {
      await unhealthy(prod1, false);
      expect((await w.versions('app'))[2]).toBe('1.0.1');
    },
  },
  {
    given: 'a rollback of eng to the newest release verified there before 1.0.2',
    args: ['rollback', 'app', 'eng'],
    code: 0,
    says: [/1\.0\.1/],
    after: async () => expect(await w.versions('app')).toEqual(['1.0.1', '1.0.1', '1.0.1']),
  },
  {
    given: 'a third commit while an eng host fails its health check: the rollout fails and rolls back',
    before: async () => {
      await unhealthy(eng2, true);
      w.commit({ 'index.html': '<h1>app 3</h1>\n' }, 'Third page');
    },
    args: ['watch', '--once'],
    code: 1,
    says: [/✘ exits-2 runs 1\.0\.3: .*health check did not pass/, /eng#\d FAILED/],
    after: async () => {
      await unhealthy(eng2, false);
      // Both eng hosts back on 1.0.1 (exits-2's rollback installed it, its health check still failing).
      expect(await w.versions('app')).toEqual(['1.0.1', '1.0.1', '1.0.1']);
    },
  },
  {
    given: 'an eng host whose sshd is gone',
    before: () => w.lab.kill(eng1),
    args: ['status', '--live'],
    code: 1,
    says: [/unreachable/],
  },
  {
    given: 'converge with that host still gone',
    args: ['converge', 'app', 'eng'],
    code: 1,
    says: [
      /✘ exits-1: cannot read what exits-1 runs \(TARGET: connection refused .*\); it was left untouched/,
    ],
  },
  {
    given: 'a rollback of eng with that host still gone',
    args: ['rollback', 'app', 'eng', '--to', '1.0.1'],
    code: 1,
    says: [/✘ exits-1: cannot read what exits-1 runs/, /HALTED/],
  },
];

describe('exit codes, command by command', () => {
  for (const row of ROWS) {
    it(`${row.args.join(' ')} → ${row.code}: ${row.given}`, { timeout: 120_000 }, async () => {
      await row.before?.();
      const args = row.args.map((a) => (a === 'FIRST' ? first.slice(0, 7) : a));
      const run = await w.run(...args);
      const out = `${run.stdout}\n${run.stderr}`;
      expect({ code: run.code, out }).toMatchObject({ code: row.code });
      for (const pattern of row.says) expect(out).toMatch(pattern);
      await row.after?.(run);
    });
  }
});
