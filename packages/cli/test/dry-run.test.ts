/**
 * Dry runs through the CLI on real sshd hosts: `plan --hosts`, `deploy … --dry-run` and
 * `rollback … --dry-run` print the rollout host by host and step by step, from which version to
 * which, its pause and gates and the commits it adds or removes (text and `--json`) — and write
 * nothing: every file of the ledger byte-identical, every host's dpkg version as it was.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RealProject, realProject, shopConfigWith } from './lab.js';

let w: RealProject;
let faster: string;
let red: string;

// eng: one host, automatic; prod: two hosts, manual, one first, a person looks, the gates, the rest.
const config = `${shopConfigWith({
  head: "import { canary, pause, verify } from '@ringmaster/core';\n",
  rings: `{ name: 'eng', target: hosts(0, 1), policy: auto() },
        {
          name: 'prod',
          target: hosts(1, 3),
          policy: manual(),
          rollout: canary([1, pause('manual'), verify(), '100%']),
          gates: [{ name: 'smoke', run: ['true'] }, { name: 'http', run: ['true'] }],
        },`,
})}
};
`;

async function watchOnce(): Promise<void> {
  const run = await w.run('watch', '--once');
  expect(run.code, run.stderr).toBe(0);
}

beforeAll(async () => {
  w = await realProject('dry', 3, config);
  w.commit({ 'index.html': '<h1>shop</h1>\n' }, 'First page');
  await watchOnce();
  await watchOnce();
  // prod gets 1.0.1: one host, the pause (resumed), the verify, the other host.
  const deploy = await w.run('deploy', 'shop', 'prod', '1.0.1');
  expect(deploy.code, deploy.stderr).toBe(6);
  const resume = await w.run('resume', 'shop', 'prod');
  expect(resume.code, resume.stderr).toBe(0);
  expect(await w.versions('shop')).toEqual(['1.0.1', '1.0.1', '1.0.1']);
  // Two commits, the second with a terminal escape in its message: eng takes them, prod waits.
  faster = w.commit({ 'index.html': '<h1>shop, faster</h1>\n' }, 'Faster checkout', 'bob');
  red = w.commit(
    { 'index.html': '<h1>shop, red</h1>\n' },
    'Fix \u001b[31mred\u001b[0m checkout\n\nThe body',
    'carol',
  );
  await watchOnce();
  await watchOnce();
  expect(await w.versions('shop')).toEqual(['1.0.3', '1.0.1', '1.0.1']);
}, 240_000);
afterAll(async () => {
  await w?.stop();
});

/** Every file under the project's ledger directory, by its path, byte for byte. */
async function ledgerFiles(): Promise<Map<string, Buffer>> {
  const dir = join(w.dir, '.ringmaster/ledger');
  const out = new Map<string, Buffer>();
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true }))
    if (e.isFile()) {
      const path = join(e.parentPath, e.name);
      out.set(relative(dir, path), await readFile(path));
    }
  return out;
}

/** Runs `work`, then checks that the ledger's files and the hosts' versions are as before it. */
async function writesNothing(work: () => Promise<void>): Promise<void> {
  const files = await ledgerFiles();
  const versions = await w.versions('shop');
  expect(files.size).toBeGreaterThan(0);
  await work();
  expect(await ledgerFiles()).toEqual(files);
  expect(await w.versions('shop')).toEqual(versions);
}

const prodDeploy = () => [
  'shop/prod: deploy 1.0.3 (runs 1.0.1 now) — steps 1 host→pause→verify→100%, max failures 0, then rollback',
  '  step 1  batch 1: dry-2  1.0.1 → 1.0.3',
  '  step 2  pause: waits for a person (ringmaster resume shop prod)',
  '  step 3  verify: gates smoke, http',
  '  step 4  batch 2: dry-3  1.0.1 → 1.0.3',
  '  then    gates smoke, http',
  '  commits (from the source): 2 added, 0 removed',
  // Only the first line of a message, its escape characters taken out.
  `    + ${red.slice(0, 7)} carol: Fix [31mred[0m checkout`,
  `    + ${faster.slice(0, 7)} bob: Faster checkout`,
];

describe('dry runs', () => {
  it('plan --hosts draws the rollout prod would take, host by host, with the commits it adds', async () => {
    await writesNothing(async () => {
      const plan = await w.run('plan', '--hosts');
      expect(plan.code, plan.stderr).toBe(0);
      expect(plan.stdout).toContain('  prod: wait with 1.0.3 — ');
      expect(plan.stdout).toContain(`\n\n${prodDeploy().join('\n')}\n  nothing was written (dry run)\n`);
      expect(plan.stdout).not.toContain('\u001b');
      expect(plan.stdout).not.toContain('The body');
      // eng has nothing newer to take: no rollout drawn for it.
      expect(plan.stdout).not.toContain('shop/eng:');

      const json = await w.run('plan', 'shop', 'prod', '--hosts', '--json');
      expect(json.code, json.stderr).toBe(0);
      const parsed = JSON.parse(json.stdout);
      expect(parsed.pipelines[0].rings.map((r: { ring: string }) => r.ring)).toEqual(['prod']);
      expect(parsed.previews).toHaveLength(1);
      expect(parsed.previews[0]).toMatchObject({
        pipeline: 'shop',
        ring: 'prod',
        version: '1.0.3',
        from: { version: '1.0.1' },
        kind: 'deploy',
        finalGates: ['smoke', 'http'],
        commits: {
          from: 'source',
          added: [
            { id: red, author: 'carol' },
            { id: faster, author: 'bob', message: expect.stringMatching(/^Faster checkout\n?$/) },
          ],
          removed: [],
        },
      });
      // JSON keeps the whole message, escaped as JSON escapes it.
      expect(parsed.previews[0].commits.added[0].message).toContain('The body');
    });
  });

  it('deploy --dry-run prints the same rollout and exits 0 without deploying; --json is the preview', async () => {
    await writesNothing(async () => {
      const dry = await w.run('deploy', 'shop', 'prod', '1.0.3', '--dry-run');
      expect(dry.code, dry.stderr).toBe(0);
      expect(dry.stdout).toBe(`${[...prodDeploy(), '  nothing was written (dry run)'].join('\n')}\n`);

      const json = await w.run('deploy', 'shop', 'prod', '1.0.3', '--dry-run', '--json');
      expect(json.code, json.stderr).toBe(0);
      const preview = JSON.parse(json.stdout);
      expect(preview.steps).toEqual([
        { step: 1, kind: 'batch', batch: 1, hosts: [{ name: 'dry-2', from: '1.0.1', to: '1.0.3' }] },
        { step: 2, kind: 'pause', pause: 'manual' },
        { step: 3, kind: 'verify', gates: ['smoke', 'http'] },
        { step: 4, kind: 'batch', batch: 2, hosts: [{ name: 'dry-3', from: '1.0.1', to: '1.0.3' }] },
      ]);
      expect(preview.commits.added.map((c: { id: string }) => c.id)).toEqual([red, faster]);

      // promote without a release takes what promote would: the newest ready for prod.
      const promote = await w.run('promote', 'shop', 'prod', '--dry-run', '--json');
      expect(promote.code, promote.stderr).toBe(0);
      expect(JSON.parse(promote.stdout)).toEqual(preview);
    });
    expect(await w.versions('shop')).toEqual(['1.0.3', '1.0.1', '1.0.1']);
  });

  it('rollback --dry-run draws the way back and the commits it removes; a locked ring refuses a deploy dry run', async () => {
    await writesNothing(async () => {
      const dry = await w.run('rollback', 'shop', 'eng', '--dry-run');
      expect(dry.code, dry.stderr).toBe(0);
      expect(dry.stdout).toBe(
        [
          'shop/eng: rollback to 1.0.1 (runs 1.0.3 now) — one at a time, max failures 0, then halt',
          '  step 1  batch 1: dry-1  1.0.3 → 1.0.1',
          '  then    no gates (a rollback runs none)',
          '  commits (from the source): 0 added, 2 removed',
          `    - ${red.slice(0, 7)} carol: Fix [31mred[0m checkout`,
          `    - ${faster.slice(0, 7)} bob: Faster checkout`,
          '  nothing was written (dry run)',
          '',
        ].join('\n'),
      );
      const json = await w.run('rollback', 'shop', 'eng', '--to', '1.0.1', '--dry-run', '--json');
      expect(json.code, json.stderr).toBe(0);
      expect(JSON.parse(json.stdout)).toMatchObject({
        ring: 'eng',
        kind: 'rollback',
        version: '1.0.1',
        from: { version: '1.0.3' },
        finalGates: [],
        commits: { from: 'source', added: [], removed: [{ id: red }, { id: faster }] },
      });
      // prod ran nothing before 1.0.1: refused as the rollback would be.
      const none = await w.run('rollback', 'shop', 'prod', '--dry-run');
      expect(none.code).toBe(1);
      expect(none.stderr).toContain('shop/prod has no earlier release verified there to roll back to');
    });
    // A locked ring: the dry run is refused as the deploy would be (exit 3), and still writes nothing.
    expect((await w.run('lock', 'shop', 'prod', '--reason', 'incident 42')).code).toBe(0);
    await writesNothing(async () => {
      const locked = await w.run('deploy', 'shop', 'prod', '1.0.3', '--dry-run');
      expect(locked.code).toBe(3);
      expect(locked.stderr).toContain('shop/prod is locked by');
      expect(locked.stderr).toContain('incident 42; unlock it first');
    });
    expect((await w.run('unlock', 'shop', 'prod')).code).toBe(0);
  });
});
