/**
 * A schema migration as a once-per-rollout step, through the CLI on real sshd hosts: it runs
 * exactly once for a rollout even when the runner is killed (SIGKILL) in the middle of the
 * rollout's hosts and another pass takes the rollout up from the ledger.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repo } from './helpers.js';
import { type RealProject, realProject, shopConfigWith } from './lab.js';

let w: RealProject;

// prod: three hosts, one at a time, each install followed by a one-second hook (room to kill in
// between); its migration appends the release's version to migrations.log beside the config.
const CONFIG = `${shopConfigWith({
  head: "const migrations = new URL('./migrations.log', import.meta.url).pathname;\n",
  rings: `{ name: 'eng', target: hosts(0, 1) },
        {
          name: 'prod',
          target: ssh({ hosts: lab.hosts.slice(1, 4), privateKey: lab.clientKey, knownHosts: [lab.knownHosts], hooks: { afterInstall: ['sleep', '1'] } }),
          policy: auto(),
          once: { before: [{ name: 'migrate', run: ['sh', '-c', 'echo "$RINGMASTER_VERSION" >> ' + migrations] }] },
        },`,
})}
};
`;

beforeAll(async () => {
  w = await realProject('once', 4, CONFIG);
}, 180_000);
afterAll(async () => {
  await w?.stop();
});

const migrations = async () =>
  (await readFile(join(w.dir, 'migrations.log'), 'utf8').catch(() => '')).split('\n').filter(Boolean);

describe('once-per-rollout steps', () => {
  it('a migration runs exactly once across a kill in the middle of the rollout', async () => {
    w.commit({ 'index.html': '<h1>shop</h1>\n' }, 'First page');
    const watch = spawn(
      process.execPath,
      [join(repo, 'packages/cli/dist/bin.js'), 'watch', '--interval', '1s'],
      {
        cwd: w.dir,
        stdio: ['ignore', 'ignore', 'ignore'],
      },
    );
    const exited = new Promise((resolve) => watch.once('exit', resolve));
    try {
      // Killed once the first prod host is done: the migration ran, two hosts are still to go.
      await expect
        .poll(
          async () =>
            (await w.records()).some(
              (r) => r.type === 'host.finished' && r.data.rollout === 'prod#1' && r.data.ok,
            ),
          { timeout: 60_000, interval: 50 },
        )
        .toBe(true);
    } finally {
      watch.kill('SIGKILL');
      await exited;
    }
    const cut = await w.records();
    expect(cut.some((r) => r.type === 'rollout.finished' && r.data.rollout === 'prod#1')).toBe(false);
    expect(await migrations()).toEqual(['1.0.1']);

    const again = await w.run('watch', '--once');
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(await w.versions('shop')).toEqual(['1.0.1', '1.0.1', '1.0.1', '1.0.1']);
    expect(await migrations()).toEqual(['1.0.1']);
    const records = await w.records();
    expect(records.filter((r) => r.type === 'once.started' && r.data.rollout === 'prod#1')).toHaveLength(1);
    expect(
      records.find((r) => r.type === 'rollout.finished' && r.data.rollout === 'prod#1')?.data,
    ).toMatchObject({
      outcome: 'succeeded',
    });
    // The history says it ran, once, before the hosts.
    expect((await w.run('history', 'shop')).stdout).toMatch(/prod#1 before-step migrate: done/);
  });
});
