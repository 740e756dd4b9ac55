/**
 * The `ringmaster` command as a user runs it: the built bin (npm test builds first) in a
 * project folder with a ringmaster.config.ts, on the reference adapters.
 */
import { mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectBase, ringmaster, ringmasterWithStdout } from './helpers.js';

let base: string;

beforeAll(async () => {
  base = await projectBase('cli-test-');
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

async function project(name: string): Promise<string> {
  const dir = join(base, name);
  await mkdir(dir);
  return dir;
}

const journalLines = async (dir: string) =>
  (await readFile(join(dir, '.ringmaster/ledger/journal.jsonl'), 'utf8')).trimEnd().split('\n').length;

describe('ringmaster CLI', () => {
  it('--help lists the commands and exit codes', async () => {
    const r = await ringmaster(base, '--help');
    expect(r.code).toBe(0);
    for (const c of [
      'init',
      'watch',
      'status',
      'explain',
      'approve',
      'promote',
      'rollback',
      'lock',
      'unlock',
      'history',
    ]) {
      expect(r.stdout).toContain(`  ${c}`);
    }
    expect(r.stdout).toContain('Exit codes');
  });

  it('output that could not be written (stdout on a full disk) is a failure: exit 1, and stderr says why', async () => {
    const full = await open('/dev/full', 'w');
    try {
      const r = await ringmasterWithStdout(full.fd, base, '--help');
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^ringmaster: output lost: ENOSPC: /m);
    } finally {
      await full.close();
    }
  });

  it('says what to do when there is no config, and exits 2', async () => {
    const r = await ringmaster(await project('empty'), 'status');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('ringmaster init');
  });

  it('init, watch --once, explain, approve, watch --once: the release reaches prod', {
    timeout: 120_000,
  }, async () => {
    const dir = await project('flow');
    expect((await ringmaster(dir, 'init')).code).toBe(0);
    const watch = await ringmaster(dir, 'watch', '--once');
    expect(watch.code).toBe(0);
    expect(watch.stdout).toContain('1.0.1 verified in sandbox');

    const explain = JSON.parse((await ringmaster(dir, 'explain', 'app', 'prod', '--json')).stdout);
    expect(explain).toMatchObject({ action: 'wait', candidate: { version: '1.0.1' } });
    expect(explain.summary).toContain('approval');

    const before = await journalLines(dir);
    const unknown = await ringmaster(dir, 'approve', 'app', 'prod', '9.9.9', '--by', 'bob');
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toContain('no release "9.9.9"');
    expect(await journalLines(dir)).toBe(before);

    expect((await ringmaster(dir, 'approve', 'app', 'prod', '1.0.1', '--by', 'bob')).code).toBe(0);
    expect((await ringmaster(dir, 'watch', '--once')).code).toBe(0);
    const status = await ringmaster(dir, 'status', '--live', '--json');
    expect(status.code).toBe(0);
    const prod = JSON.parse(status.stdout).pipelines[0].rings.find(
      (r: { name: string }) => r.name === 'prod',
    );
    expect(prod.version).toBe('1.0.1');
    expect(prod.hosts.map((h: { live: { version: string } }) => h.live.version)).toEqual([
      '1.0.1',
      '1.0.1',
      '1.0.1',
    ]);
  });

  it('a locked ring takes no deployment, and explain says who locked it and why', {
    timeout: 120_000,
  }, async () => {
    const dir = await project('locked');
    await ringmaster(dir, 'init');
    expect(
      (await ringmaster(dir, 'lock', 'app', 'sandbox', '--reason', 'incident 42', '--by', 'carol')).code,
    ).toBe(0);
    await ringmaster(dir, 'watch', '--once');
    const explain = await ringmaster(dir, 'explain', 'app', 'sandbox');
    expect(explain.stdout).toContain('locked by carol');
    expect(explain.stdout).toContain('incident 42');
    const status = JSON.parse((await ringmaster(dir, 'status', '--json')).stdout);
    expect(status.pipelines[0].rings.map((r: { version?: string }) => r.version ?? null)).toEqual([
      '1.0.1',
      null,
      null,
    ]);
  });

  it('build makes releases without deploying; deploy exits by what really happened', {
    timeout: 120_000,
  }, async () => {
    const dir = await project('build-deploy');
    await writeFile(
      join(dir, 'ringmaster.config.mjs'),
      `import { localRepository, localTarget, memorySource, pipeline, tarball } from '@ringmaster/core';
       const hosts = (ring) => localTarget({ root: 'hosts/' + ring, hosts: [ring + '-1'] });
       export default { pipelines: [pipeline({
         name: 'app', source: memorySource({ commits: [{ files: { a: '1' }, message: 'one' }] }),
         packager: tarball({ name: 'app' }), repository: localRepository({ dir: 'repo' }),
         rings: [
           { name: 'eng', target: hosts('eng') },
           { name: 'sandbox', target: hosts('sandbox'), gates: [{ name: 'smoke', run: ['false'] }], onGateFailure: 'halt' },
         ],
       })] };`,
    );
    const build = await ringmaster(dir, 'build', '--json');
    expect(build.code).toBe(0);
    // With --json a running command prints each record as a JSON line, then its result.
    const lines = build.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.type === 'build.finished')).toHaveLength(1);
    expect(lines.at(-1).builds).toMatchObject([{ pipeline: 'app', ok: true }]);
    const status = JSON.parse((await ringmaster(dir, 'status', '--json')).stdout);
    expect(status.pipelines[0].rings.map((r: { version?: string }) => r.version ?? null)).toEqual([
      null,
      null,
    ]);
    expect((await ringmaster(dir, 'deploy', 'app', 'eng', '1.0.1')).code).toBe(0);
    const failing = await ringmaster(dir, 'deploy', 'app', 'sandbox', '1.0.1');
    expect(failing.code).toBe(1);
    expect(failing.stdout).toContain('gate smoke on sandbox: FAILED');
  });

  it('an invalid config exits 2 naming the option path', async () => {
    const dir = await project('invalid');
    await writeFile(
      join(dir, 'ringmaster.config.mjs'),
      `import { localRepository, localTarget, memorySource, pipeline, tarball } from '@ringmaster/core';
       export default { pipelines: [pipeline({
         name: 'app', source: memorySource(), packager: tarball({ name: 'app' }),
         repository: localRepository({ dir: 'repo' }),
         rings: [{ name: 'eng', target: localTarget({ root: 'h', hosts: [] }) }],
       })] };`,
    );
    const r = await ringmaster(dir, 'status');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('rings[0].target.hosts: expected at least one host');
  });

  it('unknown commands and flags are usage errors', async () => {
    expect((await ringmaster(base, 'deploy-everything')).code).toBe(2);
    expect((await ringmaster(base, 'status', '--frobnicate')).code).toBe(2);
  });
});
