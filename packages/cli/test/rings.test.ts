/**
 * The ring commands as a user runs them: the built bin in a project folder, on the reference
 * adapters — a refused approval, plan, converge after a hand-edited host, and replay.
 */
import { readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectBase, ringmaster as run } from './helpers.js';

let dir: string;

const CONFIG = `import { auto, localRepository, localTarget, manual, memorySource, pipeline, tarball } from '@ringmaster/core';
const hosts = (ring, n) =>
  localTarget({ root: \`hosts/\${ring}\`, hosts: Array.from({ length: n }, (_, i) => \`\${ring}-\${i + 1}\`) });
const app = pipeline({
  name: 'app',
  source: memorySource({ commits: [{ files: { 'index.html': 'hi\\n' }, message: 'first', author: 'alice' }] }),
  packager: tarball({ name: 'app' }),
  repository: localRepository({ dir: 'repository' }),
  rings: [
    { name: 'eng', target: hosts('eng', 1), policy: auto() },
    { name: 'sandbox', target: hosts('sandbox', 1), policy: auto() },
    { name: 'prod', target: hosts('prod', 2), policy: manual({ group: ['oncall'] }) },
  ],
});
export default { pipelines: [app], policies: { oncallOnly: manual({ group: ['oncall'] }) } };
`;

beforeAll(async () => {
  dir = await projectBase('cli-rings-');
  await writeFile(join(dir, 'ringmaster.config.mjs'), CONFIG);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const ringmaster = (...args: string[]) => run(dir, ...args);

const journal = () => readFile(join(dir, '.ringmaster/ledger/journal.jsonl'));

describe('ringmaster approve / plan / converge / replay', () => {
  it('refuses a non-member approval, plans without writing, converges a hand-edited host, replays a policy', {
    timeout: 120_000,
  }, async () => {
    const help = await ringmaster('--help');
    for (const c of ['plan', 'converge', 'replay']) expect(help.stdout).toContain(`  ${c}`);
    expect((await ringmaster('watch', '--once')).code).toBe(0);

    // An approver outside the group: exit 1, named with the group, nothing written.
    const before = await journal();
    const refused = await ringmaster('approve', 'app', 'prod', '1.0.1', '--by', 'mallory');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('mallory cannot approve for app/prod');
    expect(refused.stderr).toContain('oncall');
    expect(Buffer.compare(await journal(), before)).toBe(0);

    // plan: prod waits for its approval; the journal is byte-identical afterwards.
    const plan = await ringmaster('plan', '--json');
    expect(plan.code).toBe(0);
    const rings = JSON.parse(plan.stdout).pipelines[0].rings;
    expect(rings.map((r: { ring: string; action: string }) => `${r.ring}:${r.action}`)).toEqual([
      'eng:idle',
      'sandbox:idle',
      'prod:wait',
    ]);
    expect(rings[2].reason).toContain('waiting for 1 more approval from oncall');
    expect((await ringmaster('plan')).stdout).toContain('prod: wait with 1.0.1');
    expect(Buffer.compare(await journal(), before)).toBe(0);

    expect((await ringmaster('approve', 'app', 'prod', '1.0.1', '--by', 'oncall')).code).toBe(0);
    expect((await ringmaster('watch', '--once')).code).toBe(0);

    // Someone switches prod-2 by hand: status --live exits 1, converge fixes it, status exits 0.
    const link = join(dir, 'hosts/prod/prod-2/app/current');
    await rm(link);
    await symlink('releases/0.9.0', link);
    const drift = await ringmaster('status', '--live');
    expect(drift.code).toBe(1);
    expect(drift.stdout).toContain('drift: prod-2');
    const converge = await ringmaster('converge', 'app', '--json');
    expect(converge.code).toBe(0);
    // Records as JSON lines while it runs, then the report.
    const lines = converge.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.some((l) => l.type === 'rollout.started' && l.data.kind === 'converge')).toBe(true);
    const prod = lines.at(-1).rings.find((r: { ring: string }) => r.ring === 'prod');
    expect(prod).toMatchObject({
      outcome: 'succeeded',
      drifted: [{ host: 'prod-2', live: { status: 'installed', version: '0.9.0' } }],
    });
    expect((await ringmaster('status', '--live')).code).toBe(0);
    const history = await ringmaster('history', 'app');
    expect(history.stdout).toContain(`converge 1.0.1 → prod (converge by`);

    // replay: the named policy would have promoted 1.0.1 when oncall approved it.
    const replay = await ringmaster('replay', 'app', 'prod', '--policy', 'oncallOnly', '--json');
    expect(replay.code).toBe(0);
    const [result] = JSON.parse(replay.stdout).results;
    const approvedAt = JSON.parse((await ringmaster('history', 'app', '--json')).stdout).find(
      (r: { type: string }) => r.type === 'approval.recorded',
    ).time;
    expect(result).toMatchObject({ version: '1.0.1', promoteAt: approvedAt });
    const unknown = await ringmaster('replay', 'app', 'prod', '--policy', 'nope');
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toContain('known: oncallOnly');
  });
});
