/** Type-level tests of the public API: what a user's editor shows must stay true. */
import { describe, expectTypeOf, it } from 'vitest';
import type { InstalledPackage, Source, Target } from '../src/adapter.js';
import {
  auto,
  batches,
  type Decision,
  type Engine,
  type ErrorCode,
  type HostState,
  manual,
  type PipelineOptions,
  type Policy,
  type RingmasterError,
  type RingOptions,
  type RolloutSpec,
} from '../src/index.js';

describe('public types', () => {
  it('engine events carry typed record data', () => {
    type On = Engine['on'];
    expectTypeOf<Parameters<On>[0]>().toEqualTypeOf<
      | 'record'
      | 'decision'
      | 'error'
      | 'revision.seen'
      | 'source.reset'
      | 'build.started'
      | 'build.finished'
      | 'release.created'
      | 'rollout.started'
      | 'host.started'
      | 'host.finished'
      | 'batch.started'
      | 'rollout.parked'
      | 'rollout.finished'
      | 'rollout.paused'
      | 'rollout.resumed'
      | 'rollout.aborted'
      | 'host.disabled'
      | 'host.enabled'
      | 'ring.break-glass'
      | 'suite.updated'
      | 'ring.together'
      | 'once.started'
      | 'once.finished'
      | 'gate.finished'
      | 'ring.verified'
      | 'ring.failed'
      | 'ring.rejected'
      | 'ring.unrejected'
      | 'ring.locked'
      | 'ring.unlocked'
      | 'ring.pinned'
      | 'ring.unpinned'
      | 'approval.recorded'
      | 'deploy-request.seen'
      | 'deploy-requests.reset'
      | 'notification.queued'
      | 'notification.sent'
      | 'build.retried'
      | 'process.started'
      | 'process.reaped'
      | 'engine.fault'
      | 'lease.lost'
    >();
    const engine = {} as Engine;
    engine.on('host.finished', (data) => {
      expectTypeOf(data.host).toEqualTypeOf<string>();
      expectTypeOf(data.state).toEqualTypeOf<HostState>();
    });
  });

  it('a decision is promote, wait (maybe until) or blocked — never a boolean', () => {
    expectTypeOf<Decision['verdict']>().toEqualTypeOf<'promote' | 'wait' | 'blocked'>();
    expectTypeOf(auto().evaluate).returns.toEqualTypeOf<Decision>();
    expectTypeOf(manual).returns.toEqualTypeOf<Policy>();
  });

  it('options are the zod input types: durations and percentages as people write them', () => {
    expectTypeOf<{ maxFailures: '20%' }>().toMatchTypeOf<NonNullable<RingOptions['rollout']>>();
    expectTypeOf(batches).returns.toEqualTypeOf<RolloutSpec>();
    expectTypeOf<PipelineOptions['rings']>().toBeArray();
  });

  it('errors have a fixed code union', () => {
    expectTypeOf<RingmasterError['code']>().toEqualTypeOf<ErrorCode>();
    expectTypeOf<'CONFIG'>().toMatchTypeOf<ErrorCode>();
  });

  it('adapter contracts have the promised shape', () => {
    expectTypeOf<Source['log']>().toEqualTypeOf<
      (since?: string) => Promise<import('../src/adapter.js').Revision[]>
    >();
    expectTypeOf<Target['installed']>().returns.toEqualTypeOf<Promise<InstalledPackage | undefined>>();
  });
});
