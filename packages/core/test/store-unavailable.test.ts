/**
 * A runner started while its store is briefly unavailable (a database restarting) waits for it:
 * `start()` asks again while the store's errors say `retryable`, within a bound, and reports each
 * failure. Any other error, or one past the bound, fails `start()` at once. The chaos test of
 * store-postgres found this: runners started during a PostgreSQL restart died at start.
 */
import { describe, expect, it } from 'vitest';
import type { Store } from '../src/adapter.js';
import { createEngine, memoryStore, RingmasterError } from '../src/index.js';
import { world } from './helpers.js';

/** A store whose reads fail `failures` times with `error` first. */
function flaky(store: Store, failures: number, error: () => Error): Store & { reads: number } {
  const wrapped = Object.create(store) as Store & { reads: number };
  wrapped.reads = 0;
  wrapped.read = async (afterSeq?: number) => {
    wrapped.reads++;
    if (wrapped.reads <= failures) throw error();
    return store.read(afterSeq);
  };
  return wrapped;
}

const restarting = () =>
  new RingmasterError(
    'LEDGER',
    'cannot read the ledger: the database system is starting up (SQLSTATE 57P03)',
    {
      scope: 'store',
      details: { retryable: true },
    },
  );

describe('engine.start() on a store that is briefly unavailable', () => {
  for (const manyRunners of [true, false]) {
    it(`waits for it and reports each failed attempt (${manyRunners ? 'many runners' : 'one runner'})`, async () => {
      const w = await world();
      const store = flaky(memoryStore({ manyRunners }), 3, restarting);
      const engine = createEngine({ pipelines: [w.app], store, clock: w.clock, workDir: `${w.dir}/work2` });
      const errors: string[] = [];
      engine.on('error', (e) => errors.push(`${e.operation}: ${e.error.message}`));
      await engine.start();
      expect(store.reads).toBe(4);
      expect(errors).toEqual(
        Array.from(
          { length: 3 },
          () =>
            'load the ledger (the store is unavailable: trying again): [ringmaster] [store] cannot read the ledger: the database system is starting up (SQLSTATE 57P03)',
        ),
      );
      await engine.tick();
      expect((await engine.status()).pipelines[0]!.rings[0]!.version).toBe('1.0.1');
      await engine.close();
    });
  }

  it('gives up once the bound (the lease length, or waitMs) has passed, with the store’s error', async () => {
    const w = await world();
    const store = flaky(memoryStore({ manyRunners: true }), 1_000, restarting);
    const engine = createEngine({ pipelines: [w.app], store, clock: w.clock, leaseMs: 300 });
    const started = Date.now();
    const error = await engine.start().then(
      () => undefined,
      (e: RingmasterError) => e,
    );
    expect(error?.message).toContain('the database system is starting up');
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(store.reads).toBeGreaterThan(1);
    expect(store.reads).toBeLessThan(20);
  });

  it('does not retry an error that is not marked retryable', async () => {
    const w = await world();
    const store = flaky(
      memoryStore({ manyRunners: true }),
      1,
      () => new RingmasterError('LEDGER', 'cannot read the ledger: permission denied', { scope: 'store' }),
    );
    const engine = createEngine({ pipelines: [w.app], store, clock: w.clock });
    await expect(engine.start()).rejects.toThrow('permission denied');
    expect(store.reads).toBe(1);
  });
});
