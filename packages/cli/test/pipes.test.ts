/**
 * Output never stops a deploy: the real `ringmaster` bin piped into `head -1` (which exits after
 * one line, closing the pipe), and sent SIGHUP mid-rollout, on real sshd hosts with real .deb
 * packages from a real git repository. The rollout runs to its recorded end, the exit code says
 * how it went, and dpkg on every host, the ledger and `status --json` agree.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repo } from './helpers.js';
import { CONFIG_HEAD, type RealProject, realProject } from './lab.js';

const bin = join(repo, 'packages/cli/dist/bin.js');
let w: RealProject;

const CONFIG = `import { auto, localRepository, oneAtATime, pipeline } from '@ringmaster/core';
import { deb } from '@ringmaster/pkg-deb';
import { git } from '@ringmaster/vcs-git';
${CONFIG_HEAD}
export default {
  pipelines: [
    pipeline({
      name: 'piped',
      source: git({ url: lab.gitUrl, branch: 'main' }),
      packager: deb({
        name: 'piped',
        version: '1.0.{number}',
        prefix: '/opt/piped',
        maintainer: 'Pipes <pipes@example.com>',
        description: 'A package deployed with its output piped away',
      }),
      repository: localRepository({ dir: 'repo' }),
      rings: [{ name: 'prod', target: hosts(0, 3), rollout: oneAtATime(), policy: auto() }],
    }),
  ],
};
`;

const commit = (n: number) => w.commit({ 'index.html': `<h1>version ${n}</h1>\n` }, `change ${n}`);

/** Runs `ringmaster …args | head -1` under bash; resolves ringmaster's own exit code and the line head printed. */
function pipedToHead(...args: string[]): Promise<{ code: number; line: string }> {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a bash script, not a JS template
  const script = 'node "$0" "$@" | head -1; echo "exit=${PIPESTATUS[0]}"';
  return new Promise((resolve, reject) => {
    const p = spawn('bash', ['-c', script, bin, ...args], { cwd: w.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (c) => (out += c));
    const timer = setTimeout(() => p.kill('SIGKILL'), 120_000);
    p.on('close', () => {
      clearTimeout(timer);
      const lines = out.trimEnd().split('\n');
      const code = Number(/^exit=(\d+)$/.exec(lines.at(-1) ?? '')?.[1]);
      if (Number.isNaN(code)) reject(new Error(`no exit status in ${JSON.stringify(out)}`));
      else resolve({ code, line: lines[0] ?? '' });
    });
  });
}

/** dpkg on each host (asked directly), the ledger's word on each, and status --live --json agree. */
async function assertAgree(expected: string): Promise<void> {
  expect(await w.versions('piped')).toEqual([expected, expected, expected]);
  const status = await w.run('status', '--live', '--json');
  expect(status.code).toBe(0);
  const ring = JSON.parse(status.stdout).pipelines[0].rings[0];
  expect(ring.version).toBe(expected);
  expect(
    ring.hosts.map((h: { live: { version: string }; recorded: { version: string } }) => [
      h.live.version,
      h.recorded.version,
    ]),
  ).toEqual([0, 1, 2].map(() => [expected, expected]));
  const records = await w.records();
  expect(records.map((r) => r.seq)).toEqual(records.map((_, i) => i + 1));
  const steps = records.flatMap((r) =>
    r.type === 'host.finished' ? [`${r.data.rollout} ${r.data.host} ${r.data.phase}`] : [],
  );
  expect(new Set(steps).size).toBe(steps.length);
}

beforeAll(async () => {
  w = await realProject('piped', 3, CONFIG);
  commit(1);
}, 120_000);

afterAll(async () => {
  await w?.stop();
});

describe('output that goes away mid-deploy', () => {
  it('watch --once | head -1, then rollback | head -1: every host is deployed and rolled back, and the exit codes say so', {
    timeout: 300_000,
  }, async () => {
    const first = await w.run('watch', '--once');
    expect(first.code).toBe(0);
    await assertAgree('1.0.1');

    commit(2);
    const watched = await pipedToHead('watch', '--once');
    expect(watched.line).toContain('commit');
    expect(watched.code).toBe(0);
    await assertAgree('1.0.2');

    const rolled = await pipedToHead('rollback', 'piped', 'prod', '--reason', 'piped away');
    expect(rolled.line).toContain('1.0.2 rejected in prod');
    expect(rolled.code).toBe(0);
    await assertAgree('1.0.1');
  });

  it('a hang-up of the terminal (SIGHUP) mid-rollout does not stop it: it runs to its recorded end', {
    timeout: 300_000,
  }, async () => {
    await w.run('allow', 'piped', 'prod', '1.0.2');
    const p = spawn(process.execPath, [bin, 'promote', 'piped', 'prod', '1.0.2'], {
      cwd: w.dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    p.stdout.on('data', (c: Buffer) => {
      out += c;
      // The first host is done: the terminal goes away.
      if (out.includes('✔') && !p.killed) p.kill('SIGHUP');
    });
    const code = await new Promise<number | null>((resolve) => p.on('close', resolve));
    expect(p.killed).toBe(true);
    expect(code).toBe(0);
    await assertAgree('1.0.2');
  });
});
