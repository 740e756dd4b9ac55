/**
 * Once-per-rollout steps (a schema migration before the first host, a step after the last):
 * run once per deploy, recorded, never twice for one rollout after a crash, a failure before
 * the first host leaving every host untouched, and a rollback that undoes a step only by its
 * own `down` command — and says which it did not undo.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { entry, isRingmasterError, pipeline, type TypedRecord } from '../src/index.js';
import { tempDir, world } from './helpers.js';

/** A command that appends `what` and the release's version to `file`: how often it ran, and for what. */
const logTo = (file: string, what: string) => [
  'sh',
  '-c',
  `echo "${what} $RINGMASTER_VERSION $RINGMASTER_PHASE" >> ${file}`,
];
const lines = async (file: string) =>
  (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean);
const ofType = (records: TypedRecord[], type: string) => records.filter((r) => r.type === type);

describe('once-per-rollout steps', () => {
  it('a before-step runs once per deploy, on the runner, before the first host; an after-step after the last', async () => {
    const log = join(await tempDir(), 'migrations');
    const w = await world({
      hosts: 3,
      once: {
        eng: {
          before: [{ name: 'migrate', run: logTo(log, 'migrate') }],
          after: [{ name: 'warm', run: logTo(log, 'warm'), on: { host: 'eng-2' } }],
        },
      },
    });
    await w.engine.tick();
    await w.source.commit({ 'app.txt': 'v2\n' }, 'second');
    await w.engine.tick();
    expect(await lines(log)).toEqual([
      'migrate 1.0.1 before',
      'warm 1.0.1 after',
      'migrate 1.0.2 before',
      'warm 1.0.2 after',
    ]);
    expect(await w.versions('eng')).toEqual(['1.0.2', '1.0.2', '1.0.2']);
    const records = await w.engine.ledger.read();
    const inEng2 = records.filter((r) => (r.data as { rollout?: string }).rollout === 'eng#2');
    expect(inEng2.map((r) => r.type).filter((t) => t.startsWith('once.') || t === 'host.started')).toEqual([
      'once.started',
      'once.finished',
      'host.started',
      'host.started',
      'host.started',
      'once.started',
      'once.finished',
    ]);
    const warm = inEng2.filter((r) => r.type === 'once.finished').at(-1)!;
    expect(warm.data).toMatchObject({ step: 'warm', phase: 'after', ok: true });
    // On the named host, over the target: the local target runs it in that host's directory.
    expect((warm.data as { log: string }).log).toMatch(/^\[eng-2\] \$ sh -c/);
  });

  it('a failure before the first host stops the rollout with nothing installed, and says why', async () => {
    const w = await world({
      hosts: 2,
      once: {
        prod: {
          before: [{ name: 'migrate', run: ['sh', '-c', 'echo "ERROR: relation users exists" >&2; exit 3'] }],
        },
      },
    });
    await w.engine.tick();
    expect(await w.versions('sandbox')).toEqual(['1.0.1', '1.0.1']);
    expect(await w.versions('prod')).toEqual([undefined, undefined]);
    const records = await w.engine.ledger.read();
    const prod = records.find((r) => r.type === 'rollout.started' && r.data.ring === 'prod')!;
    const id = (prod.data as { rollout: string }).rollout;
    expect(records.filter((r) => r.type === 'host.started' && r.data.rollout === id)).toEqual([]);
    expect(records.find((r) => r.type === 'rollout.finished' && r.data.rollout === id)?.data).toMatchObject({
      outcome: 'failed',
      reason: 'before-step migrate failed: ERROR: relation users exists; nothing was installed',
    });
    expect((await w.engine.explain({ pipeline: 'app', ring: 'prod' })).summary).toContain(
      'before-step migrate failed: ERROR: relation users exists',
    );
  });

  it('a step cut off by a crash is never run twice, unless it says it is idempotent', async () => {
    for (const idempotent of [false, true]) {
      const log = join(await tempDir(), 'migrations');
      const w = await world({
        hosts: 2,
        once: { eng: { before: [{ name: 'migrate', run: logTo(log, 'migrate'), idempotent }] } },
      });
      await w.engine.build();
      // A runner died in the middle of the migration: its start is in the ledger, its end is not.
      const strategy = w.app.rings[0]!.rollout;
      await w.engine.ledger.write(
        entry('rollout.started', {
          pipeline: 'app',
          ring: 'eng',
          rollout: 'eng#1',
          release: '1.0.1',
          kind: 'deploy',
          reason: 'test',
          strategy,
          batches: [['eng-1'], ['eng-2']],
        }),
        entry('once.started', { pipeline: 'app', rollout: 'eng#1', step: 'migrate', phase: 'before' }),
      );
      await w.engine.close();
      const again = w.reopen();
      await again.start();
      await again.tick();
      const records = await again.ledger.read();
      const finished = records.find((r) => r.type === 'rollout.finished' && r.data.rollout === 'eng#1')!;
      if (!idempotent) {
        expect(await lines(log)).toEqual([]);
        expect(await w.versions('eng')).toEqual([undefined, undefined]);
        expect((finished.data as { reason: string }).reason).toMatch(
          /^before-step migrate was cut off \(started .*, no end recorded: the runner died\); it may or may not have run, and it is not run twice \(set idempotent: true if it may be\); check what it did, then deploy again; nothing was installed$/,
        );
      } else {
        expect(await lines(log)).toEqual(['migrate 1.0.1 before']);
        expect(await w.versions('eng')).toEqual(['1.0.1', '1.0.1']);
        expect(finished.data).toMatchObject({ outcome: 'succeeded' });
      }
    }
  });

  it('a rollback runs a down step only when one is given, and says what it did not undo', async () => {
    const log = join(await tempDir(), 'migrations');
    const w = await world({
      hosts: 2,
      gates: { eng: [{ name: 'smoke', check: (ctx) => ctx.release.version !== '1.0.2' || 'smoke: 500' }] },
      once: {
        eng: {
          before: [
            { name: 'migrate', run: logTo(log, 'migrate'), down: logTo(log, 'unmigrate') },
            { name: 'seed', run: logTo(log, 'seed') },
          ],
        },
      },
    });
    await w.engine.tick();
    await w.source.commit({ 'app.txt': 'v2\n' }, 'second');
    await w.engine.tick();
    // 1.0.2 failed its gate and was rolled back automatically: migrate undone, seed not.
    expect(await w.versions('eng')).toEqual(['1.0.1', '1.0.1']);
    expect(await lines(log)).toEqual([
      'migrate 1.0.1 before',
      'seed 1.0.1 before',
      'migrate 1.0.2 before',
      'seed 1.0.2 before',
      'unmigrate 1.0.1 down',
    ]);
    const records = await w.engine.ledger.read();
    const rollback = ofType(records, 'rollout.finished').find(
      (r) => (r.data as { rollout: string }).rollout === 'eng#3',
    )!;
    expect((rollback.data as { reason: string }).reason).toBe(
      '1.0.1 on every host; undone by their down steps: migrate; not undone (no down step): seed',
    );
  });

  it('names a step on a host the ring does not have, and a duplicate name', async () => {
    const w = await world();
    const ring = (once: unknown) => ({
      ...w.app,
      rings: [{ name: 'eng', target: w.app.rings[0]!.target, once }],
    });
    for (const [once, path] of [
      [
        { before: [{ name: 'migrate', run: ['x'], on: { host: 'db-9' } }] },
        'rings[0].once.before[0].on.host',
      ],
      [
        {
          after: [
            { name: 'a', run: ['x'] },
            { name: 'a', run: ['y'] },
          ],
        },
        'rings[0].once.after[1].name',
      ],
      [{ before: [{ name: 'migrate', run: 'rake db:migrate' }] }, 'rings[0].once.before[0].run'],
    ] as const) {
      const error = (() => {
        try {
          pipeline(ring(once) as never);
        } catch (e) {
          return e;
        }
      })();
      expect(isRingmasterError(error, 'CONFIG')).toBe(true);
      expect((error as Error).message).toContain(path);
    }
  });
});

describe('once-steps and failures', () => {
  it('an after-step that fails fails the release in the ring, as a gate would, and the ring rolls back', async () => {
    const w = await world({
      hosts: 2,
      once: {
        eng: {
          after: [
            {
              name: 'warm',
              run: [
                'sh',
                '-c',
                'test "$RINGMASTER_VERSION" != 1.0.2 || { echo "cache: timeout" >&2; exit 1; }',
              ],
            },
          ],
        },
      },
    });
    await w.engine.tick();
    await w.source.commit({ 'app.txt': 'v2\n' }, 'second');
    await w.engine.tick();
    expect(await w.versions('eng')).toEqual(['1.0.1', '1.0.1']);
    const records = await w.engine.ledger.read();
    const failed = records.find((r) => r.type === 'ring.failed' && r.data.release === '1.0.2');
    expect((failed!.data as { reason: string }).reason).toBe('after-step warm failed: cache: timeout');
    const explain = await w.engine.explain({ pipeline: 'app', ring: 'eng' });
    expect(explain.current?.version).toBe('1.0.1');
    expect(explain.summary).toContain('after-step warm failed: cache: timeout');
  });

  it('a deploy its own failure rolled back runs its before-steps down; a rollback to named hosts runs none', async () => {
    const log = join(await tempDir(), 'migrations');
    const w = await world({
      hosts: 2,
      rollout: { batch: 1, maxFailures: 0, onFailure: 'rollback' },
      once: {
        eng: { before: [{ name: 'migrate', run: logTo(log, 'migrate'), down: logTo(log, 'unmigrate') }] },
      },
    });
    await w.engine.tick();
    await w.source.commit({ 'app.txt': 'v2\n', 'check.sh': '#!/bin/sh\nexit 1\n' }, 'second, unhealthy');
    await w.engine.tick();
    // Its first host failed its health check: the deploy rolled back, and undid its migration.
    expect(await w.versions('eng')).toEqual(['1.0.1', '1.0.1']);
    expect(await lines(log)).toEqual([
      'migrate 1.0.1 before',
      'migrate 1.0.2 before',
      'unmigrate 1.0.2 down',
    ]);
    const rolled = (await w.engine.ledger.read()).find(
      (r) => r.type === 'rollout.finished' && (r.data as { rollout: string }).rollout === 'eng#2',
    );
    expect(rolled?.data).toMatchObject({ outcome: 'rolled-back' });
    expect((rolled!.data as { reason: string }).reason).toContain('undone by their down steps: migrate');

    await w.source.commit({ 'app.txt': 'v3\n', 'check.sh': '#!/bin/sh\nexit 0\n' }, 'third');
    await w.engine.tick();
    await w.engine.rollback({ pipeline: 'app', ring: 'eng', to: '1.0.1', limit: 'eng-2', by: 'alice' });
    // Named hosts only: the shared database is the ring's, and is left alone.
    expect((await lines(log)).filter((l) => l.startsWith('unmigrate'))).toEqual(['unmigrate 1.0.2 down']);
  });
});
