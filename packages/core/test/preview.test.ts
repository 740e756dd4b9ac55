/**
 * A rollout drawn without doing it (`engine.previewRollout`): every host step by step from what
 * the ledger recorded to the release, the pauses, verifies and gates, the commits a deploy adds
 * and a rollback removes — and not a byte of the ledger written, no lease taken.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { canary, isRingmasterError, manual, pause, verify } from '../src/index.js';
import { world } from './helpers.js';

type World = Awaited<ReturnType<typeof world>>;

/** A world whose rollouts go 1 host → a pause for a person → verify → the rest; prod is manual. */
const steppedWorld = () =>
  world({
    hosts: 3,
    rollout: canary([1, pause('manual'), verify(), '100%']),
    gates: {
      prod: [
        { name: 'smoke', run: ['true'] },
        { name: 'http', run: ['true'] },
      ],
    },
    policies: { prod: manual() },
  });

/** Passes until nothing moves, resuming every rollout that waits for a person (as alice). */
async function settle(w: World): Promise<void> {
  for (let i = 0; i < 8; i++) {
    await w.engine.tick();
    for (const r of (await w.engine.plan({ poll: false })).pipelines[0]!.rings)
      if (r.action === 'resume') await w.engine.resume({ pipeline: 'app', ring: r.ring, by: 'alice' });
  }
  expect(w.errors).toEqual([]);
}

/** Promotes `release` to prod and resumes it past its pause: prod then runs it, verified. */
async function promoteProd(w: World, release: string): Promise<void> {
  const paused = await w.engine.promote({ pipeline: 'app', ring: 'prod', release });
  expect(paused.position?.waiting?.for).toBe('person');
  const { summary } = await w.engine.resume({ pipeline: 'app', ring: 'prod', by: 'alice' });
  expect(summary).toMatchObject({ outcome: 'succeeded', verified: true });
}

/** Every file under `dir`, by its path, byte for byte. */
async function files(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true }))
    if (e.isFile()) {
      const path = join(e.parentPath, e.name);
      out.set(relative(dir, path), await readFile(path));
    }
  return out;
}

async function refusal(work: Promise<unknown>, code: string): Promise<string> {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isRingmasterError(error, code as never), String(error)).toBe(true);
  return (error as Error).message;
}

describe('previewRollout', () => {
  it('draws every host step by step: batches from → to, the pause, the verify with its gates, the gates after', async () => {
    const w = await steppedWorld();
    await settle(w);
    expect(await w.versions('sandbox')).toEqual(['1.0.1', '1.0.1', '1.0.1']);
    // prod waits for an approval of 1.0.1: what plan would promote there next is drawn.
    const first = await w.engine.previewRollout({ pipeline: 'app', ring: 'prod' });
    expect(first).toEqual({
      pipeline: 'app',
      ring: 'prod',
      release: '1.0.1',
      version: '1.0.1',
      kind: 'deploy',
      strategy: 'steps 1 host→pause→verify→100%, max failures 0, then rollback',
      steps: [
        {
          step: 1,
          kind: 'batch',
          batch: 1,
          hosts: [{ name: 'prod-1', from: 'nothing recorded', to: '1.0.1' }],
        },
        { step: 2, kind: 'pause', pause: 'manual' },
        { step: 3, kind: 'verify', gates: ['smoke', 'http'] },
        {
          step: 4,
          kind: 'batch',
          batch: 2,
          hosts: [
            { name: 'prod-2', from: 'nothing recorded', to: '1.0.1' },
            { name: 'prod-3', from: 'nothing recorded', to: '1.0.1' },
          ],
        },
      ],
      finalGates: ['smoke', 'http'],
      // Nothing runs in prod yet: every revision the ledger saw up to the release.
      commits: { added: [expect.objectContaining({ message: 'first' })], removed: [], from: 'ledger' },
    });
    await promoteProd(w, '1.0.1');
    // The host list the caller gives (the ones a --limit leaves) is planned, in its order.
    const limited = await w.engine.previewRollout({
      pipeline: 'app',
      ring: 'prod',
      release: '1.0.1',
      hosts: ['prod-3', 'prod-1'],
    });
    expect(limited.from).toEqual({ release: '1.0.1', version: '1.0.1' });
    expect(limited.steps.map((s) => s.hosts?.map((h) => `${h.name} ${h.from} → ${h.to}`))).toEqual([
      ['prod-3 1.0.1 → 1.0.1'],
      undefined,
      undefined,
      ['prod-1 1.0.1 → 1.0.1'],
    ]);
    expect(limited.commits).toEqual({ added: [], removed: [], from: 'ledger' });
  });

  it('lists the commits a deploy adds and a rollback removes, newest first, from the source', async () => {
    const w = await steppedWorld();
    await settle(w);
    await promoteProd(w, '1.0.1');
    const faster = await w.source.commit({ 'app.txt': 'v2\n' }, 'Faster checkout', 'bob');
    const revert = await w.source.commit(
      { 'app.txt': 'v3\n' },
      'Revert "x"\n\nIt broke\u001b[2J things',
      'carol',
    );
    await settle(w);
    const deploy = await w.engine.previewRollout({ pipeline: 'app', ring: 'prod' });
    const candidate = deploy.version;
    expect(deploy.release).toBe(
      (await w.engine.explain({ pipeline: 'app', ring: 'prod' })).candidate?.release,
    );
    expect(deploy.from).toEqual({ release: '1.0.1', version: '1.0.1' });
    expect(deploy.steps[0]!.hosts).toEqual([{ name: 'prod-1', from: '1.0.1', to: candidate }]);
    expect(deploy.commits).toEqual({
      added: [
        { id: revert, author: 'carol', message: 'Revert "x"\n\nIt broke\u001b[2J things' },
        { id: faster, author: 'bob', message: 'Faster checkout' },
      ],
      removed: [],
      from: 'source',
    });
    await promoteProd(w, candidate);
    expect(await w.versions('prod')).toEqual([candidate, candidate, candidate]);
    // A rollback goes to what rollback would choose, straight through, and runs no gates.
    const back = await w.engine.previewRollout({ pipeline: 'app', ring: 'prod', kind: 'rollback' });
    expect(back).toMatchObject({
      release: '1.0.1',
      version: '1.0.1',
      from: { version: candidate },
      kind: 'rollback',
      finalGates: [],
    });
    expect(back.strategy).toBe(
      'steps 1 host→pause→verify→100%, max failures 0, then halt; a rollback skips its pauses and verifies',
    );
    expect(back.steps).toEqual([
      { step: 1, kind: 'batch', batch: 1, hosts: [{ name: 'prod-1', from: candidate, to: '1.0.1' }] },
      {
        step: 2,
        kind: 'batch',
        batch: 2,
        hosts: [
          { name: 'prod-2', from: candidate, to: '1.0.1' },
          { name: 'prod-3', from: candidate, to: '1.0.1' },
        ],
      },
    ]);
    expect(back.commits.from).toBe('source');
    expect(back.commits.added).toEqual([]);
    expect(back.commits.removed.map((c) => c.id)).toEqual([revert, faster]);
  });

  it('writes nothing and takes no lease, and is refused where the action itself would be', async () => {
    const w = await steppedWorld();
    await settle(w);
    await promoteProd(w, '1.0.1');
    await w.source.commit({ 'app.txt': 'v2\n' }, 'second', 'bob');
    await settle(w);
    await w.engine.lock({ pipeline: 'app', ring: 'prod', reason: 'incident 42', by: 'alice' });
    await w.engine.pin({ pipeline: 'app', ring: 'sandbox', reason: 'soak', by: 'alice' });
    const records = await w.engine.ledger.read();
    const before = await files(join(w.dir, 'ledger'));
    expect(before.size).toBeGreaterThan(0);
    const calls: string[] = [];
    for (const method of ['append', 'acquire', 'renew', 'release'] as const) {
      const original = w.store[method].bind(w.store) as (...args: unknown[]) => Promise<unknown>;
      (w.store as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
        calls.push(method);
        return original(...args);
      };
    }

    // A locked ring: a deploy would be refused, a rollback not (it is how one leaves an incident).
    expect(await refusal(w.engine.previewRollout({ pipeline: 'app', ring: 'prod' }), 'LOCKED')).toContain(
      'app/prod is locked by alice: incident 42; unlock it first',
    );
    const back = await w.engine.previewRollout({ pipeline: 'app', ring: 'eng', kind: 'rollback' });
    expect(back.commits.removed.map((c) => c.message)).toEqual(['second']);
    // A pinned ring: another release is refused.
    expect(
      await refusal(
        w.engine.previewRollout({ pipeline: 'app', ring: 'sandbox', release: '1.0.1', kind: 'rollback' }),
        'STATE',
      ),
    ).toContain('app/sandbox is pinned to 1.0.2 by alice: soak; unpin it first');
    // Nothing newer for eng: the ring's reason.
    expect(await refusal(w.engine.previewRollout({ pipeline: 'app', ring: 'eng' }), 'STATE')).toContain(
      'nothing to promote to eng: eng runs 1.0.2; no newer release has been built',
    );
    await refusal(w.engine.previewRollout({ pipeline: 'app', ring: 'eng', release: '9.9.9' }), 'NOT_FOUND');
    await refusal(w.engine.previewRollout({ pipeline: 'app', ring: 'nope' }), 'NOT_FOUND');

    expect(calls).toEqual([]);
    expect(await w.engine.ledger.read()).toEqual(records);
    expect(await files(join(w.dir, 'ledger'))).toEqual(before);
    // The spy sees the engine's writes: an unlock is one.
    await w.engine.unlock({ pipeline: 'app', ring: 'prod', by: 'alice' });
    expect(calls).toContain('append');
  });
});
