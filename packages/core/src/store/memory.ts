/** An in-memory Store: the fastest fixture for engine tests, and a reference for Store authors. */
import { randomUUID } from 'node:crypto';
import type {
  AcquireOptions,
  AppendOptions,
  Lease,
  LedgerRecord,
  LockInfo,
  NewRecord,
  Store,
} from '../contracts/store.js';
import { RingmasterError } from '../errors.js';

interface Shared {
  records: LedgerRecord[];
  locks: Map<string, LockInfo & { token: string }>;
}

/**
 * A store that lives in memory. Handles made from the same `memoryStore()` share its data
 * through `.open()`, which is how tests model two processes. `manyRunners: true` declares the
 * capability, so engines on its handles run as several runners on one ledger (fast tests of
 * the engine's many-runner mode; the real thing is `@ringmaster/store-postgres`).
 *
 * @example
 * ```ts
 * const store = memoryStore();
 * ```
 */
export function memoryStore(options: { manyRunners?: boolean } = {}): Store & { open(): Store } {
  const shared: Shared = { records: [], locks: new Map() };
  const make = (): Store => ({
    name: 'memory',
    capabilities: { manyRunners: options.manyRunners === true },
    async append(records: readonly NewRecord[], options: AppendOptions = {}) {
      const last = shared.records.length;
      if (options.expectedSeq !== undefined && options.expectedSeq !== last) {
        throw new RingmasterError(
          'CONFLICT',
          `the ledger moved on: expected ${options.expectedSeq}, found ${last}`,
          {
            scope: 'ledger',
            details: { expectedSeq: options.expectedSeq, lastSeq: last },
          },
        );
      }
      for (const lease of options.fence ?? []) {
        const held = shared.locks.get(lease.name);
        if (!held || held.token !== lease.token || held.expiresAt <= Date.now()) {
          throw new RingmasterError(
            'LOCKED',
            `the lease ${lease.name} is no longer held; the append made under it is refused`,
            { scope: 'ledger', details: { lock: lease.name } },
          );
        }
      }
      const stored = records.map((r, i) => structuredClone({ ...r, seq: last + i + 1 }));
      shared.records.push(...stored);
      return structuredClone(stored);
    },
    async read(afterSeq = 0) {
      return structuredClone(shared.records.slice(afterSeq));
    },
    async acquire(name: string, options: AcquireOptions): Promise<Lease | undefined> {
      const held = shared.locks.get(name);
      const now = Date.now();
      if (held && held.expiresAt > now) return undefined;
      const lease = { name, token: randomUUID(), owner: options.owner, expiresAt: now + options.ttlMs };
      shared.locks.set(name, { ...lease, pid: process.pid, acquiredAt: now });
      return lease;
    },
    async renew(lease: Lease, ttlMs: number) {
      const held = shared.locks.get(lease.name);
      if (!held || held.token !== lease.token) {
        throw new RingmasterError('LOCKED', `lost the lock ${lease.name}`, { scope: 'ledger' });
      }
      held.expiresAt = Date.now() + ttlMs;
      return { ...lease, expiresAt: held.expiresAt };
    },
    async release(lease: Lease) {
      if (shared.locks.get(lease.name)?.token === lease.token) shared.locks.delete(lease.name);
    },
    async inspect(name: string) {
      const held = shared.locks.get(name);
      if (!held || held.expiresAt <= Date.now()) return undefined;
      const { token: _token, ...info } = held;
      return info;
    },
  });
  return Object.assign(make(), { open: make });
}
