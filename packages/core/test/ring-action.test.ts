/**
 * One ring state machine, one answer: for each state a ring can be in — a rollout in flight, a
 * lock, gates to run, a promotion, a wait, a block, idle after a rejection — the engine's plan,
 * explain and status give exactly what ringAction() decides, and the engine does what it says.
 */
import { describe, expect, it } from 'vitest';
import { entry, freeze, manual, type RingActionKind, ringAction, rolloutSchema, soak } from '../src/index.js';
import { rolloutInFlight, world } from './helpers.js';

type World = Awaited<ReturnType<typeof world>>;

/** Each state, made through the public API (or, for a crash, the ledger records it would leave). */
const states: {
  name: string;
  ring: 'eng' | 'sandbox' | 'prod';
  action: RingActionKind;
  says: RegExp;
  make(): Promise<World>;
}[] = [
  {
    name: 'a rollout left in flight by a crash',
    ring: 'eng',
    action: 'resume',
    says: /deploy eng#2 of 1\.0\.2 to eng is under way \(0\/2 hosts done\)/,
    async make() {
      const w = await world();
      await w.engine.tick();
      await w.source.commit({ 'app.txt': 'v2\n' }, 'two', 'bob');
      await w.engine.build();
      const spec = rolloutSchema.parse({});
      await rolloutInFlight(w.engine, '1.0.2', spec);
      return w;
    },
  },
  {
    name: 'a lock',
    ring: 'sandbox',
    action: 'locked',
    says: /sandbox is locked by carol since .*: incident 42/,
    async make() {
      const w = await world();
      await w.engine.lock({ pipeline: 'app', ring: 'sandbox', reason: 'incident 42', by: 'carol' });
      await w.engine.tick();
      return w;
    },
  },
  {
    name: 'gates still to run',
    ring: 'eng',
    action: 'verifying',
    says: /1\.0\.1 is deployed to eng; gates unit decide/,
    async make() {
      const w = await world({ gates: { eng: [{ name: 'unit', run: ['true'] }] } });
      // Built, rolled out, gates not run yet: what a crash right after the rollout leaves.
      await w.engine.build();
      await w.engine.ledger.write(
        entry('rollout.started', {
          pipeline: 'app',
          ring: 'eng',
          rollout: 'eng#1',
          release: '1.0.1',
          kind: 'deploy',
          reason: 'test',
          strategy: rolloutSchema.parse({}),
          batches: [['eng-1'], ['eng-2']],
        }),
        entry('rollout.finished', {
          pipeline: 'app',
          rollout: 'eng#1',
          outcome: 'succeeded',
          reason: 'test',
        }),
      );
      return w;
    },
  },
  {
    name: 'a promotion due',
    ring: 'sandbox',
    action: 'promote',
    says: /1\.0\.1 is being promoted to sandbox: soaked 1h/,
    async make() {
      const w = await world({ policies: { sandbox: soak('1h') } });
      await w.engine.tick();
      w.clock.advance(3_600_000);
      return w;
    },
  },
  {
    name: 'a wait with its end',
    ring: 'sandbox',
    action: 'wait',
    says: /1\.0\.1 waits for sandbox: soaking: .* \(until 2026-11-02T10:00:00\.000Z, in/,
    async make() {
      const w = await world({ policies: { sandbox: soak('1h') } });
      await w.engine.tick();
      return w;
    },
  },
  {
    name: 'a wait for people',
    ring: 'prod',
    action: 'wait',
    says: /1\.0\.1 waits for prod: waiting for 1 more approval/,
    async make() {
      const w = await world({ policies: { prod: manual() } });
      await w.engine.tick();
      return w;
    },
  },
  {
    name: 'a block',
    ring: 'prod',
    action: 'blocked',
    says: /1\.0\.1 is blocked for prod: .*winter/,
    async make() {
      const w = await world({ policies: { prod: freeze({ reason: 'winter' }) } });
      await w.engine.tick();
      return w;
    },
  },
  {
    name: 'idle after a rejection',
    ring: 'sandbox',
    action: 'idle',
    says: /sandbox runs 1\.0\.1; 1\.0\.2 was rejected here at .* \(gate smoke failed: smoke: the page is broken\); allow 1\.0\.2 to let it through/,
    async make() {
      const w = await world({
        gates: {
          sandbox: [
            {
              name: 'smoke',
              check: ({ release }) => (release.version === '1.0.2' ? 'smoke: the page is broken' : true),
            },
          ],
        },
      });
      await w.engine.tick();
      await w.source.commit({ 'app.txt': 'v2\n' }, 'two', 'bob');
      await w.engine.tick();
      return w;
    },
  },
];

describe('every surface gives the ring state machine’s answer', () => {
  for (const state of states) {
    it(state.name, async () => {
      const w = await state.make();
      const pipeline = w.app;
      const index = pipeline.rings.findIndex((r) => r.name === state.ring);
      await w.engine.load();
      const decided = ringAction(
        pipeline,
        w.engine.ledger.state.pipelines.get('app')!,
        index,
        w.clock.now(),
        w.engine.project,
      );
      expect(decided.action).toBe(state.action);
      expect(decided.reason).toMatch(state.says);

      const plan = (await w.engine.plan({ poll: false })).pipelines[0]!.rings[index]!;
      const explain = await w.engine.explain({ pipeline: 'app', ring: state.ring });
      const status = (await w.engine.status()).pipelines[0]!.rings[index]!;
      expect([plan.action, plan.reason]).toEqual([decided.action, decided.reason]);
      expect([explain.action, explain.summary]).toEqual([decided.action, decided.reason]);
      expect([status.action, status.summary]).toEqual([decided.action, decided.reason]);
      expect(explain.lastFailure).toEqual(decided.lastFailure);
      expect(status.lastFailure).toEqual(decided.lastFailure);
    });
  }
});
