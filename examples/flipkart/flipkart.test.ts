/**
 * `npm run example:flipkart` must keep working: run the example as a user would (real svn,
 * gpg, apt-get and sshd hosts; the built packages) and read what it printed and recorded.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let root: string;
let dir: string;
let run: { code: number | null; out: string };
let journal: { type: string; time: string; data: Record<string, unknown> }[];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'rm-flipkart-'));
  // A clone can live anywhere: a home this deep puts any socket made in it past the 108-byte
  // limit, so the example must keep its sockets (gpg-agent's) elsewhere.
  dir = join(
    root,
    'a-checkout-in-a-deeply-nested-workspace',
    'of-a-team-that-likes-long-names',
    'x'.repeat(24),
  );
  await mkdir(dir, { recursive: true });
  expect(Buffer.byteLength(join(dir, 'gnupg', 'S.gpg-agent'))).toBeGreaterThan(108);
  const script = fileURLToPath(new URL('./run.mjs', import.meta.url));
  run = await new Promise((resolve) => {
    const p = spawn(process.execPath, [script], {
      env: { ...process.env, RINGMASTER_FLIPKART_DIR: dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    // Bounded: the example never needs this long; a hang fails the test instead of blocking it.
    const timer = setTimeout(() => p.kill('SIGKILL'), 110_000);
    p.stdout.on('data', (c) => (out += c));
    p.stderr.on('data', (c) => (out += c));
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
  // Journal lines are `<crc32> <json>`.
  const text = await readFile(join(dir, 'ledger', 'journal.jsonl'), 'utf8').catch(() => '');
  journal = text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line.slice(line.indexOf(' ') + 1)));
}, 120_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('examples/flipkart', () => {
  it('exits 0 with prod running the release on all three hosts, checked through SSH', () => {
    expect(run.out).toContain(
      'Flipkart example finished: prod runs foostat and foostat-conf 0.0.2 on every host.',
    );
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/foostat\s+eng\s+0\.0\.2\s+1\/1\s+idle/);
    expect(run.out).toMatch(/foostat\s+sandbox\s+0\.0\.2\s+2\/2\s+idle/);
    expect(run.out).toMatch(/foostat\s+prod\s+0\.0\.2\s+3\/3\s+idle/);
    expect(run.out).toMatch(/foostat-conf\s+prod\s+0\.0\.2\s+3\/3\s+wait/);
    expect(run.out).not.toContain('drift');
  });

  it("installs through apt-get from prod's own suite of the signed repository served on loopback", () => {
    expect(run.out).toMatch(/\*\*\* 0\.0\.2 500\n\s+500 http:\/\/127\.0\.0\.1:\d+ prod\/main amd64 Packages/);
    expect(run.out).toContain("prod's suite: foostat 0.0.2; foostat-conf 0.0.2");
  });

  it('foostat waits for the foostat-conf it depends on, in each ring, and follows it in', () => {
    expect(run.out).toContain(
      'foostat: 0.0.2 waits for eng: needs foostat-conf (>= 0.0.2); eng has no foostat-conf (foostat-conf has no release yet)',
    );
    expect(run.out).toContain(
      'foostat: 0.0.2 waits for prod: needs foostat-conf (>= 0.0.2); prod has no foostat-conf (foostat-conf 0.0.2 is verified in eng, sandbox)',
    );
    const firstIn = (pipeline: string, ring: string) =>
      journal.findIndex(
        (r) => r.type === 'rollout.started' && r.data.pipeline === pipeline && r.data.ring === ring,
      );
    for (const ring of ['eng', 'sandbox', 'prod']) {
      expect(firstIn('foostat-conf', ring)).toBeGreaterThanOrEqual(0);
      expect(firstIn('foostat-conf', ring)).toBeLessThan(firstIn('foostat', ring));
    }
  });

  it('first shows prod waiting for the approval and the deploy window, then for the window alone', () => {
    const explains = run.out.split('\n').filter((l) => l.includes('explain prod:'));
    expect(explains[0]).toContain('waiting for 1 more approval from bob, carol');
    expect(explains[0]).toContain('outside window mon-thu 10:00-16:00 Asia/Kolkata');
    expect(explains[1]).toContain('outside window mon-thu 10:00-16:00 Asia/Kolkata');
    expect(explains[1]).toContain('until 2011-07-11T04:30:00.000Z');
    expect(explains[1]).not.toContain('approval');
  });

  it('records the svn copy into prod/ as an approval by the person who copied', () => {
    const approvals = journal.filter((r) => r.type === 'approval.recorded');
    // One svn copy approves the revision for both pipelines built from trunk.
    expect(approvals).toEqual(
      ['foostat', 'foostat-conf'].map((pipeline) =>
        expect.objectContaining({
          data: expect.objectContaining({
            pipeline,
            ring: 'prod',
            revision: '2',
            by: 'bob',
            via: 'vcs',
            comment: 'deploying to prod',
          }),
        }),
      ),
    );
    const requests = journal.filter((r) => r.type === 'deploy-request.seen');
    expect(requests.map((r) => (r.data.request as { name: string }).name)).toEqual([
      '2011-07-08-10:00',
      '2011-07-08-10:00',
    ]);
  });

  it('deploys prod only once the window is open, one host at a time', () => {
    const prod = journal.find((r) => r.type === 'rollout.started' && r.data.ring === 'prod');
    expect(prod?.time).toBe('2011-07-11T04:30:00.000Z');
    expect(prod?.data.batches).toEqual([['prod-1'], ['prod-2'], ['prod-3']]);
    const gates = journal
      .filter((r) => r.type === 'gate.finished')
      .map((r) => [r.data.ring, r.data.gate, r.data.ok]);
    expect(gates).toEqual([
      ['eng', 'unit', true],
      ['sandbox', 'smoke', true],
    ]);
  });

  it("catches carol's broken Makefile in ENG: the health check fails on eng-1, which goes back to 0.0.2", () => {
    expect(run.out).toMatch(/✘ eng-1 runs foostat 0\.0\.4 \(the health check did not pass/);
    expect(run.out).toContain('✔ eng-1 rolled back to foostat 0.0.2');
    // eng's suite lists what eng runs again: apt's candidate is not the release that failed.
    expect(run.out).toMatch(
      /rolled back to foostat 0\.0\.2\n\s+eng's suite lists foostat 0\.0\.2; foostat-conf 0\.0\.2\n/,
    );
    expect(run.out).toContain('✉ to carol: deploy of 0.0.4 to eng rolled-back');
    const rollouts = journal
      .filter((r) => r.type === 'rollout.started' && r.data.pipeline === 'foostat')
      .map((r) => [r.data.ring, r.data.release, r.data.kind]);
    expect(rollouts).toEqual([
      ['eng', '0.0.2', 'deploy'],
      ['sandbox', '0.0.2', 'deploy'],
      ['prod', '0.0.2', 'deploy'],
      ['eng', '0.0.4', 'deploy'],
    ]);
    const finished = journal.find(
      (r) => r.type === 'rollout.finished' && r.data.pipeline === 'foostat' && r.data.rollout === 'eng#2',
    );
    expect(finished?.data.outcome).toBe('rolled-back');
  });
});
