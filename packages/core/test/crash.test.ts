/**
 * Crash safety, proven: the engine runs as a real child process and is SIGKILLed at random
 * points (seeded), then restarted until it finishes. Every trial must end in exactly the state
 * of an uninterrupted run: no release, rollout step, approval or gate result lost or
 * duplicated, and every host really running what the ledger says.
 */
import { mkdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type RecordData, type RecordType, seededRandom, type TypedRecord } from '../src/index.js';
import { decodeJournal } from '../src/store/journal.js';
import { fixtureScript, runChild } from './child.js';

const TRIALS = 50;
const PARALLEL = 5;
const RUN_LIMIT_MS = 60_000;

const child = fixtureScript('crash-child');

/** Runs the engine; it SIGKILLs itself after a record, or is SIGKILLed after `killAfterMs`. */
const runEngine = (dir: string, options: { crashAfterRecords?: number; killAfterMs?: number } = {}) =>
  runChild(child.script(), [dir, ...(options.crashAfterRecords ? [String(options.crashAfterRecords)] : [])], {
    ...(options.killAfterMs !== undefined ? { killAfterMs: options.killAfterMs } : {}),
    limitMs: RUN_LIMIT_MS,
  });

async function freshDir(name: string): Promise<string> {
  const dir = join(child.root(), name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'commits.json'), JSON.stringify([{ n: 1, content: 'v1\n' }]));
  return dir;
}

/** The final state, with everything that legitimately differs between runs (times, ids) left out. */
async function finalState(dir: string) {
  const bytes = await readFile(join(dir, 'ledger', 'journal.jsonl'));
  const { records, tornTail } = decodeJournal(bytes, 'journal.jsonl');
  const rs = records as TypedRecord[];
  const of = <T extends RecordType>(type: T) =>
    rs.filter((r) => r.type === type).map((r) => r.data as RecordData[T]);
  const count = (keys: string[]) => {
    const seen = new Map<string, number>();
    for (const k of keys) seen.set(k, (seen.get(k) ?? 0) + 1);
    return [...seen].filter(([, n]) => n > 1).map(([k]) => k);
  };
  const hostSteps = of('host.finished').map((d) => `${d.rollout} ${d.host} ${d.phase}`);
  const gateKeys = of('gate.finished').map((d) => `${d.rollout} ${d.gate}`);
  const hostsOnDisk: Record<string, string> = {};
  for (const [ring, n] of [
    ['eng', 2],
    ['sandbox', 3],
    ['prod', 4],
  ] as const) {
    for (let i = 1; i <= n; i++) {
      const link = await readlink(join(dir, 'hosts', ring, `${ring}-${i}`, 'app', 'current')).catch(
        () => 'none',
      );
      hostsOnDisk[`${ring}-${i}`] = link;
    }
  }
  return {
    tornTail,
    duplicates: {
      builds: count(of('build.finished').map((d) => d.revision)),
      releases: count(of('release.created').map((d) => d.release)),
      hostSteps: count(hostSteps),
      gates: count(gateKeys),
      approvals: count(of('approval.recorded').map((d) => `${d.ring} ${d.revision} ${d.by}`)),
      rollouts: count(of('rollout.started').map((d) => d.rollout)),
    },
    releases: of('release.created').map((d) => [d.release, d.revision, d.artifact.sha256]),
    builds: of('build.finished').map((d) => [d.revision, d.ok]),
    rollouts: of('rollout.started').map((d) => [d.rollout, d.release, d.kind, JSON.stringify(d.batches)]),
    outcomes: of('rollout.finished').map((d) => [d.rollout, d.outcome, d.reason]),
    hostSteps: of('host.finished')
      .map((d) => [d.rollout, d.host, d.phase, d.ok, JSON.stringify(d.state)])
      .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    gates: of('gate.finished').map((d) => [d.ring, d.release, d.rollout, d.gate, d.ok]),
    verdicts: rs
      .filter((r) => r.type === 'ring.verified' || r.type === 'ring.failed' || r.type === 'ring.rejected')
      .map((r) => [r.type, (r.data as { ring: string }).ring, (r.data as { release: string }).release]),
    approvals: of('approval.recorded').map((d) => [d.ring, d.revision, d.by, d.via]),
    notifications: of('notification.queued')
      .map((d) => `${d.notification.kind} ${d.notification.ok} ${d.notification.summary}`)
      .sort(),
    hostsOnDisk,
  };
}

describe('crash safety (engine in a child process, SIGKILL at random points)', () => {
  it(`${TRIALS} seeded trials each end in the state of an uninterrupted run`, {
    timeout: 480_000,
  }, async () => {
    const referenceDir = await freshDir('reference');
    const reference = await runEngine(referenceDir);
    expect(reference.stderr).toBe('');
    expect(reference.stdout).toMatch(/^DONE \d+/);
    const totalRecords = Number(reference.stdout.split(' ')[1]);
    const expected = await finalState(referenceDir);
    expect(expected.hostsOnDisk['prod-4']).toBe('releases/1.0.3');
    expect(expected.verdicts).toContainEqual(['ring.rejected', 'sandbox', '1.0.2']);
    expect(Object.values(expected.duplicates).flat()).toEqual([]);

    const random = seededRandom(20261128);
    const plans = Array.from({ length: TRIALS }, (_, i) => ({
      name: `trial-${i}`,
      // Half the kills land right after a chosen record (every point between two records is
      // reachable); half at a random moment (mid-append, mid-install, mid-build).
      kills: Array.from({ length: 1 + (i % 3 === 0 ? 1 : 0) }, () =>
        i % 2 === 0
          ? { crashAfterRecords: 1 + Math.floor(random() * (totalRecords - 1)) }
          : { killAfterMs: Math.floor(random() * reference.ms) },
      ),
    }));

    const failures: string[] = [];
    let killed = 0;
    const runTrial = async (plan: (typeof plans)[number]) => {
      const dir = await freshDir(plan.name);
      for (const kill of plan.kills) {
        const run = await runEngine(dir, kill);
        if (run.signal === 'SIGKILL') killed++;
        else if (run.code !== 0) failures.push(`${plan.name}: crashed run exited ${run.code}: ${run.stderr}`);
      }
      const last = await runEngine(dir);
      if (last.code !== 0 || !last.stdout.startsWith('DONE')) {
        failures.push(
          `${plan.name} ${JSON.stringify(plan.kills)}: final run exited ${last.code}: ${last.stderr}`,
        );
        return;
      }
      const state = await finalState(dir);
      const differing = (Object.keys(expected) as (keyof typeof expected)[]).filter(
        (key) => key !== 'tornTail' && JSON.stringify(state[key]) !== JSON.stringify(expected[key]),
      );
      if (differing.length) {
        const detail = differing.map(
          (k) => `${k}: got ${JSON.stringify(state[k])}, want ${JSON.stringify(expected[k])}`,
        );
        failures.push(`${plan.name} ${JSON.stringify(plan.kills)}: ${detail.join('; ').slice(0, 3000)}`);
      }
      await rm(dir, { recursive: true, force: true });
    };
    const queue = [...plans];
    await Promise.all(
      Array.from({ length: PARALLEL }, async () => {
        for (let plan = queue.shift(); plan; plan = queue.shift()) await runTrial(plan);
      }),
    );
    expect(failures).toEqual([]);
    // The kills really happened (a run that finished before its timer is not a crash).
    expect(killed).toBeGreaterThanOrEqual(TRIALS * 0.75);
  });
});
