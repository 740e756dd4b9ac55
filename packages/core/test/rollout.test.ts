/** Rollout strategies: batch plans, the failure budget (Ansible semantics), halt and rollback. */

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type Artifact,
  batches,
  budgetSpent,
  describeState,
  executeRollout,
  localTarget,
  oneAtATime,
  percentages,
  planBatches,
  type RolloutSpec,
  tarball,
} from '../src/index.js';
import { tempDir } from './helpers.js';

const hosts = (n: number) => Array.from({ length: n }, (_, i) => `h${i + 1}`);

describe('plans', () => {
  it('one at a time, fixed batches, a share of the hosts, and percentage steps', () => {
    expect(planBatches(oneAtATime(), hosts(3))).toEqual([['h1'], ['h2'], ['h3']]);
    expect(planBatches(batches(2), hosts(5))).toEqual([['h1', 'h2'], ['h3', 'h4'], ['h5']]);
    expect(planBatches(batches('25%'), hosts(10)).map((b) => b.length)).toEqual([3, 3, 3, 1]);
    expect(planBatches(percentages([10, 50]), hosts(10)).map((b) => b.length)).toEqual([1, 4, 5]);
    // A 1% canary of 3 hosts is still one host; every host appears exactly once.
    expect(planBatches(percentages([1, 50, 100]), hosts(3))).toEqual([['h1'], ['h2'], ['h3']]);
  });

  it('names the bad option path', () => {
    expect(() => batches(0)).toThrow(/rollout\.batch: expected a whole number ≥ 1/);
    expect(() => oneAtATime({ maxFailures: -1 })).toThrow(/rollout\.maxFailures: expected a number ≥ 0/);
    expect(() => percentages([50, 10])).toThrow(/rollout\.steps\[1\]: expected increasing host steps/);
  });
});

describe('failure budget', () => {
  it('a count stops when total failures exceed it', () => {
    const spec = oneAtATime({ maxFailures: 1 });
    expect(budgetSpent(spec, 1, 1, 1)).toBe(false);
    expect(budgetSpent(spec, 2, 1, 1)).toBe(true);
  });

  it("a percentage follows Ansible's max_fail_percentage: the batch's share must be exceeded, not met", () => {
    const spec = batches(5, { maxFailures: '40%' });
    expect(budgetSpent(spec, 2, 2, 5)).toBe(false); // 40% is not more than 40%
    expect(budgetSpent(spec, 3, 3, 5)).toBe(true);
    expect(budgetSpent(batches(4, { maxFailures: '0%' }), 1, 1, 4)).toBe(true);
  });
});

async function fixture(broken: string[]) {
  const dir = await tempDir();
  const target = localTarget({
    root: join(dir, 'hosts'),
    hosts: hosts(5),
    // The release's own check script decides: it fails on the hosts listed in BROKEN.
    healthCheck: { run: ['sh', 'check.sh'] },
  });
  const make = async (version: string, failOn: string[]): Promise<Artifact> => {
    const tree = join(dir, `tree-${version}`);
    await mkdir(tree, { recursive: true });
    await writeFile(
      join(tree, 'check.sh'),
      `for h in ${failOn.join(' ')}; do [ "$RINGMASTER_HOST" = "$h" ] && exit 1; done; exit 0\n`,
    );
    return tarball({ name: 'svc' })
      .package({
        dir: tree,
        revision: { id: version, line: 'main', author: 'a', message: 'm', time: '2026-01-01T00:00:00Z' },
        outDir: join(dir, `out-${version}`),
      })
      .then((a) => ({ ...a, version }));
  };
  const good = await make('1.0.1', []);
  for (const h of hosts(5)) await target.install(h, good);
  const next = await make('1.0.2', broken);
  const steps: string[] = [];
  const run = (spec: RolloutSpec) =>
    executeRollout({
      spec,
      batches: planBatches(spec, hosts(5)),
      target,
      artifact: next,
      resolve: async (v) => (v === '1.0.1' ? good : undefined),
      recorder: {
        hostStarted: async (h, from, phase) =>
          void steps.push(`${phase} start ${h} from ${describeState(from)}`),
        hostFinished: async (h, o, phase) =>
          void steps.push(`${phase} ${o.ok ? 'ok' : 'FAIL'} ${h} ${describeState(o.state)}`),
      },
    });
  const versions = () => Promise.all(hosts(5).map(async (h) => (await target.installed(h, 'svc'))?.version));
  return { run, versions, steps };
}

describe('executing on hosts', () => {
  it('succeeds host by host when every check passes', async () => {
    const f = await fixture([]);
    const result = await f.run(oneAtATime());
    expect(result.outcome).toBe('succeeded');
    expect(await f.versions()).toEqual(Array(5).fill('1.0.2'));
  });

  it('rolls back what was done, to what each host ran before, when the budget is spent', async () => {
    const f = await fixture(['h3']);
    const result = await f.run(oneAtATime());
    expect(result.reason).not.toContain('rollback failed');
    expect(result.outcome).toBe('rolled-back');
    expect(result.failed).toEqual(['h3']);
    // h4 and h5 were never touched; h1–h3 are back on 1.0.1.
    expect(await f.versions()).toEqual(Array(5).fill('1.0.1'));
    expect(f.steps.filter((s) => s.startsWith('deploy start'))).toHaveLength(3);
    expect(f.steps.filter((s) => s.startsWith('rollback ok')).sort()).toEqual([
      'rollback ok h1 1.0.1',
      'rollback ok h2 1.0.1',
      'rollback ok h3 1.0.1',
    ]);
  });

  it('halts where it failed when told to, leaving the rest untouched', async () => {
    const f = await fixture(['h2']);
    const result = await f.run(oneAtATime({ onFailure: 'halt' }));
    expect(result.outcome).toBe('halted');
    expect(await f.versions()).toEqual(['1.0.2', '1.0.2', '1.0.1', '1.0.1', '1.0.1']);
  });

  it('goes on within the budget and reports the failed hosts', async () => {
    const f = await fixture(['h2']);
    const result = await f.run(batches(2, { maxFailures: '50%' }));
    expect(result.outcome).toBe('succeeded');
    expect(result.failed).toEqual(['h2']);
    expect(await f.versions()).toEqual(['1.0.2', '1.0.2', '1.0.2', '1.0.2', '1.0.2']);
  });
});
