/** Conformance suite for Store adapters (the ledger's backing): append, CAS, read, leases. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LedgerRecord, Store } from '../contracts/store.js';
import { isRingmasterError } from '../errors.js';

export interface StoreFixture {
  /** Opens the store (a second call opens a second handle on the same backing data). */
  open(): Promise<Store>;
  cleanup?(): Promise<void>;
}

export interface DescribeStoreOptions {
  create(): Promise<StoreFixture>;
  additionalTests?(fixture: () => StoreFixture): void;
}

const rec = (type: string, n = 0) => ({ type, time: new Date(0).toISOString(), data: { n } });

export function describeStore(name: string, options: DescribeStoreOptions): void {
  describe(`Store conformance: ${name}`, () => {
    let fixture: StoreFixture;
    const opened: Store[] = [];
    const open = async () => {
      const s = await fixture.open();
      opened.push(s);
      return s;
    };
    beforeEach(async () => {
      fixture = await options.create();
    });
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close?.()));
      await fixture.cleanup?.();
    });

    it('numbers appended records from 1 without gaps and reads them back in order', async () => {
      const store = await open();
      const a = await store.append([rec('a', 1), rec('b', 2)]);
      const b = await store.append([rec('c', 3)]);
      expect([...a, ...b].map((r) => r.seq)).toEqual([1, 2, 3]);
      const all = await store.read();
      expect(all.map((r) => [r.seq, r.type, r.data.n])).toEqual([
        [1, 'a', 1],
        [2, 'b', 2],
        [3, 'c', 3],
      ]);
      expect((await store.read(2)).map((r) => r.seq)).toEqual([3]);
    });

    it('compare-and-set: append with a stale expectedSeq fails with CONFLICT and writes nothing', async () => {
      const store = await open();
      await store.append([rec('a')], { expectedSeq: 0 });
      const error = await store.append([rec('b')], { expectedSeq: 0 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isRingmasterError(error, 'CONFLICT')).toBe(true);
      expect((await store.read()).map((r) => r.type)).toEqual(['a']);
      await store.append([rec('c')], { expectedSeq: 1 });
      expect((await store.read()).map((r) => r.type)).toEqual(['a', 'c']);
    });

    it("a second handle on the same backing sees the first one's records", async () => {
      const one = await open();
      await one.append([rec('x')]);
      const two = await open();
      expect((await two.read()).map((r) => r.type)).toEqual(['x']);
      await two.append([rec('y')]);
      expect((await one.read()).map((r) => r.type)).toEqual(['x', 'y']);
    });

    it('a lock is held by one owner at a time and can be taken once released', async () => {
      const one = await open();
      const two = await open();
      const lease = await one.acquire('ring:prod', { owner: 'one', ttlMs: 30_000 });
      expect(lease?.owner).toBe('one');
      expect(await two.acquire('ring:prod', { owner: 'two', ttlMs: 30_000 })).toBeUndefined();
      expect((await two.inspect('ring:prod'))?.owner).toBe('one');
      expect(await two.acquire('ring:eng', { owner: 'two', ttlMs: 30_000 })).toBeDefined();
      await one.release(lease!);
      expect(await two.inspect('ring:prod')).toBeUndefined();
      expect((await two.acquire('ring:prod', { owner: 'two', ttlMs: 30_000 }))?.owner).toBe('two');
    });

    it('an expired lease is taken over, and the old holder cannot renew it', async () => {
      const one = await open();
      const two = await open();
      const lease = await one.acquire('ring:sb', { owner: 'one', ttlMs: 1 });
      await new Promise((r) => setTimeout(r, 20));
      const taken = await two.acquire('ring:sb', { owner: 'two', ttlMs: 30_000 });
      expect(taken?.owner).toBe('two');
      const error = await one.renew(lease!, 30_000).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isRingmasterError(error, 'LOCKED')).toBe(true);
    });

    it('renew extends a live lease', async () => {
      const store = await open();
      const lease = await store.acquire('ring:x', { owner: 'me', ttlMs: 1_000 });
      const renewed = await store.renew(lease!, 60_000);
      expect(renewed.expiresAt).toBeGreaterThan(lease!.expiresAt);
      expect((await store.inspect('ring:x'))?.expiresAt).toBe(renewed.expiresAt);
    });

    it('fencing: an append under a held lease is taken; once the lease is taken over it is refused with LOCKED and writes nothing', async () => {
      const one = await open();
      const two = await open();
      const lease = await one.acquire('ring:fence', { owner: 'one', ttlMs: 30_000 });
      await one.append([rec('under-lease')], { fence: [lease!] });
      await one.release(lease!);
      const taken = await two.acquire('ring:fence', { owner: 'two', ttlMs: 30_000 });
      expect(taken).toBeDefined();
      const error = await one.append([rec('too-late')], { fence: [lease!] }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isRingmasterError(error, 'LOCKED')).toBe(true);
      expect((await two.read()).map((r) => r.type)).toEqual(['under-lease']);
      await two.append([rec('new-holder')], { fence: [taken!] });
      expect((await one.read()).map((r) => r.type)).toEqual(['under-lease', 'new-holder']);
    });

    it('fencing: an append under an expired lease is refused even before anyone takes it over', async () => {
      const store = await open();
      const lease = await store.acquire('ring:lapsed', { owner: 'me', ttlMs: 1 });
      await new Promise((r) => setTimeout(r, 20));
      const error = await store.append([rec('late')], { fence: [lease!] }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isRingmasterError(error, 'LOCKED')).toBe(true);
      expect(await store.read()).toEqual([]);
    });

    options.additionalTests?.(() => fixture);
  });
}

/**
 * A handle on `store` that also pushes every record it appended into `into`: which runner wrote
 * what, when several share one ledger in a test.
 *
 * @example
 * ```ts
 * const mine: LedgerRecord[] = [];
 * const engine = createEngine({ pipelines, store: recordAppends(shared.open(), mine) });
 * ```
 */
export function recordAppends(store: Store, into: LedgerRecord[]): Store {
  return Object.assign(Object.create(store) as Store, {
    append: async (...args: Parameters<Store['append']>) => {
      const stored = await store.append(...args);
      into.push(...stored);
      return stored;
    },
  });
}
