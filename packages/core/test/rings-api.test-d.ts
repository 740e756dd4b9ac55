/** Type-level tests of the ring features' public API. */
import { describe, expectTypeOf, it } from 'vitest';
import {
  type ConvergeReport,
  ciGate,
  type Engine,
  type Gate,
  type Plan,
  type Policy,
  type ReplayResult,
  replayPolicy,
  soak,
  webhookGate,
} from '../src/index.js';

describe('ring features API', () => {
  it('engine.converge and engine.plan return typed reports', () => {
    expectTypeOf<Engine['converge']>().returns.resolves.toEqualTypeOf<ConvergeReport>();
    expectTypeOf<Engine['plan']>().returns.resolves.toEqualTypeOf<Plan>();
    expectTypeOf<Plan['pipelines'][number]['rings'][number]['action']>().toEqualTypeOf<
      'resume' | 'verifying' | 'promote' | 'wait' | 'blocked' | 'locked' | 'disabled' | 'pinned' | 'idle'
    >();
  });

  it('policies may declare approvers; replayPolicy takes an engine as history', () => {
    expectTypeOf<Policy['approvers']>().toEqualTypeOf<readonly string[] | undefined>();
    expectTypeOf(replayPolicy).parameter(0).toHaveProperty('history');
    expectTypeOf(
      replayPolicy({ policy: soak('1h'), history: {} as Engine, pipeline: 'a', ring: 'b' }),
    ).toEqualTypeOf<ReplayResult[]>();
  });

  it('ciGate and webhookGate are Gates; their options are checked', () => {
    expectTypeOf(
      ciGate({ name: 'ci', statusUrl: 'https://ci.example.com/{revision}' }),
    ).toEqualTypeOf<Gate>();
    expectTypeOf(webhookGate({ name: 'ci', secret: 'x'.repeat(32) })).toEqualTypeOf<Gate>();
    // @ts-expect-error statusUrl is required
    ciGate({ name: 'ci' });
  });
});
