/**
 * The `ringmaster` CLI end to end, as a team would drive it, on the real components: an svn
 * repository (trunk/ and prod/), .deb packages in an apt repository layout, and real sshd hosts
 * in three rings. Commit → `watch` reaches sandbox → `svn copy trunk prod/<name>` approves →
 * prod updated on every host → a change that breaks the sandbox smoke test is rolled back, and
 * the rollback sticks.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestHosts, type TestHosts } from '@ringmaster/target-ssh/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs helper without types
import { createSvnRepository } from './lab.mjs';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(repo, 'packages/cli/dist/bin.js');
let dir: string;
let lab: TestHosts;
let svnRepo: {
  url: string;
  commit(a: string, m: string, f: Record<string, string>): Promise<string>;
  copyToProd(u: string, n: string): string;
};

const CONFIG = `import { readFileSync } from 'node:fs';
import { manual, pipeline, auto } from '@ringmaster/core';
import { aptRepository, deb } from '@ringmaster/pkg-deb';
import { ssh } from '@ringmaster/target-ssh';
import { svn } from '@ringmaster/vcs-svn';

const lab = JSON.parse(readFileSync(new URL('./lab.json', import.meta.url), 'utf8'));
const target = (ring) => ssh({ hosts: lab.rings[ring], privateKey: lab.clientKey, knownHosts: [lab.knownHosts] });

export default {
  pipelines: [
    pipeline({
      name: 'webapp',
      source: svn({ url: lab.svnUrl, line: 'trunk' }),
      packager: deb({
        name: 'webapp',
        version: '1.0.{number}',
        prefix: '/opt/webapp',
        maintainer: 'Web team <web@example.com>',
        description: 'The web app\\nServed from /opt/webapp.',
      }),
      repository: aptRepository({ dir: 'apt' }),
      rings: [
        { name: 'eng', target: target('eng') },
        {
          name: 'sandbox',
          target: target('sandbox'),
          gates: [{ name: 'smoke', run: ['sh', '-c', '! grep -q "<?php" /opt/webapp/index.html'], on: 'hosts' }],
          policy: auto(),
        },
        { name: 'prod', target: target('prod'), policy: manual() },
      ],
    }),
  ],
};
`;

function ringmaster(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [bin, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c) => (stdout += c));
    p.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => p.kill('SIGKILL'), 90_000);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const ringVersions = async (live = false) => {
  const r = await ringmaster('status', '--json', ...(live ? ['--live'] : []));
  const report = JSON.parse(r.stdout) as {
    pipelines: {
      rings: { name: string; version?: string; hosts: { live?: { status: string; version?: string } }[] }[];
    }[];
  };
  // Each host as the version it really runs (status reports what dpkg said, or why it could not
  // ask): a host that is not fully installed shows its state instead (half-configured, unknown).
  const rings = report.pipelines[0]!.rings.map((ring) => ({
    ...ring,
    hosts: ring.hosts.map((h) => ({
      live: h.live?.status === 'installed' ? h.live.version : (h.live?.status ?? null),
    })),
  }));
  return { code: r.code, rings };
};

beforeAll(async () => {
  await mkdir(join(repo, '.ringmaster'), { recursive: true });
  // Inside the repository, so the config's imports of @ringmaster/* resolve to the workspace.
  dir = await mkdtemp(join(repo, '.ringmaster', 'cli-e2e-'));
  lab = await startTestHosts({ count: 5, prefix: 'web' });
  svnRepo = await createSvnRepository(join(dir, 'svn'));
  const host = (i: number) => ({
    name: lab.hosts[i]!.name,
    address: '127.0.0.1',
    port: lab.hosts[i]!.port,
    user: 'root',
  });
  await writeFile(
    join(dir, 'lab.json'),
    JSON.stringify({
      svnUrl: svnRepo.url,
      clientKey: lab.clientKeyFile,
      knownHosts: lab.knownHostsFile,
      rings: { eng: [host(0)], sandbox: [host(1), host(2)], prod: [host(3), host(4)] },
    }),
  );
  await writeFile(join(dir, 'ringmaster.config.mjs'), CONFIG);
}, 120_000);

afterAll(async () => {
  await lab?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('ringmaster on svn, .deb and sshd hosts', () => {
  it('commit, watch, approve by svn copy, prod on every host; a broken change is rolled back and stays out', {
    timeout: 300_000,
  }, async () => {
    const r2 = await svnRepo.commit('alice', 'First page', { 'index.html': '<h1>web</h1>\n' });
    expect(r2).toBe('2');

    const first = await ringmaster('watch', '--once');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('1.0.2 verified in sandbox');
    let status = await ringVersions();
    expect(status.rings.map((r) => r.version ?? null)).toEqual(['1.0.2', '1.0.2', null]);
    expect((await ringmaster('explain', 'webapp', 'prod')).stdout).toContain('waiting for 1 more approval');

    // The seed's step 1, by a person with the svn client. There is no step 2.
    svnRepo.copyToProd('bob', '2026-11-28-10-00');
    const approved = await ringmaster('watch', '--once');
    expect(approved.code).toBe(0);
    status = await ringVersions(true);
    expect(status.code).toBe(0); // no drift anywhere
    const prod = status.rings.find((r) => r.name === 'prod')!;
    expect(prod.version).toBe('1.0.2');
    expect(prod.hosts.map((h) => h.live)).toEqual(['1.0.2', '1.0.2']);
    const history = JSON.parse((await ringmaster('history', 'webapp', '--json')).stdout) as {
      type: string;
      data: Record<string, unknown>;
    }[];
    expect(history.find((r) => r.type === 'approval.recorded')?.data).toMatchObject({
      ring: 'prod',
      by: 'bob',
      via: 'vcs',
    });

    // A change that renders PHP source: the sandbox smoke test fails, sandbox rolls back.
    await svnRepo.commit('carol', 'Server-side widget', { 'index.html': '<?php echo $widget; ?>\n' });
    const broken = await ringmaster('watch', '--once');
    expect(broken.stdout).toContain('gate smoke on sandbox: FAILED');
    expect(broken.stdout).toContain('rejected in sandbox');
    expect(broken.code).toBe(1);
    // And again: the rollback sticks, and a pass with nothing to do exits 0.
    expect((await ringmaster('watch', '--once')).code).toBe(0);
    status = await ringVersions(true);
    expect(status.rings.map((r) => [r.name, r.version, r.hosts.map((h) => h.live)])).toEqual([
      ['eng', '1.0.4', ['1.0.4']],
      ['sandbox', '1.0.2', ['1.0.2', '1.0.2']],
      ['prod', '1.0.2', ['1.0.2', '1.0.2']],
    ]);
  });
});
