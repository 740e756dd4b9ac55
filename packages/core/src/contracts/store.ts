/**
 * The Store contract: where the ledger's journal lives. Deliberately small (append with
 * compare-and-set, read, leased locks) so a shared SQL database can implement it and several
 * runners can share one ledger.
 */

/** A record as the engine writes it. */
export interface NewRecord {
  /** Record type, e.g. `release.created`. */
  type: string;
  /** ISO 8601 time from the engine's clock. */
  time: string;
  data: Record<string, unknown>;
}

/** A record as stored: numbered from 1, without gaps. */
export interface LedgerRecord extends NewRecord {
  seq: number;
}

export interface AppendOptions {
  /**
   * Compare-and-set: append only if the last stored seq is exactly this, else throw a
   * `CONFLICT` RingmasterError (the caller reads what it missed and decides again).
   */
  expectedSeq?: number;
  /**
   * Leases the append is made under (the engine's, a ring's). The store refuses the append
   * with `LOCKED`, writing nothing, unless each is still held: same token, not expired. This is
   * what keeps a holder that lost its lease (paused, partitioned, taken over) from writing.
   */
  fence?: readonly Lease[];
}

/** A held lock. Valid until `expiresAt` (epoch ms) unless renewed. */
export interface Lease {
  name: string;
  token: string;
  owner: string;
  expiresAt: number;
}

/** Who holds a lock, for messages such as "held by pid 42 on host a since …". */
export interface LockInfo {
  name: string;
  owner: string;
  pid?: number;
  hostname?: string;
  acquiredAt: number;
  expiresAt: number;
}

export interface AcquireOptions {
  /** Names the holder in messages: `engine`, `cli rollback`, … */
  owner: string;
  /** Lease length in ms; the holder renews before it runs out. */
  ttlMs: number;
}

/** What a store can do beyond the contract's minimum. */
export interface StoreCapabilities {
  /**
   * Several engines (runners) may work on this ledger at once. The engine then takes a lease
   * per pipeline and per ring instead of one on the whole ledger, and folds what other runners
   * appended before each decision. A store says so only when its appends and leases are
   * consistent across machines (a database), not merely across the processes of one host.
   */
  manyRunners?: boolean;
}

/**
 * A durable ledger. A store that is briefly unavailable (its database restarting) says so by
 * failing with `details.retryable: true`: `engine.start()` then asks again, with backoff, rather
 * than giving up at once.
 */
export interface Store {
  readonly name: string;
  /** @default {} (one runner per ledger) */
  readonly capabilities?: StoreCapabilities;
  /**
   * Appends records atomically (all or none) and returns them numbered, once they are durable.
   * A failed append (`CONFLICT`, `LOCKED`, `LEDGER` with the cause's errno) wrote nothing.
   */
  append(records: readonly NewRecord[], options?: AppendOptions): Promise<LedgerRecord[]>;
  /** Records with seq greater than `afterSeq` (default 0), in order. */
  read(afterSeq?: number): Promise<LedgerRecord[]>;
  /**
   * Takes the named lock, or returns undefined when someone else holds a live lease. A lease
   * whose holder died (its process is gone, or the lease expired) is taken over.
   */
  acquire(name: string, options: AcquireOptions): Promise<Lease | undefined>;
  /** Extends a held lease; throws `LOCKED` if it was lost. */
  renew(lease: Lease, ttlMs: number): Promise<Lease>;
  /** Gives a lease back. Releasing a lost lease is a no-op. */
  release(lease: Lease): Promise<void>;
  /** Who holds the named lock now, if anyone. */
  inspect(name: string): Promise<LockInfo | undefined>;
  /**
   * Calls `listener` when someone may have appended (PostgreSQL's LISTEN/NOTIFY, say). A wake-up
   * carries no data and may be lost or spurious: the engine reads the ledger either way, and
   * still polls on its interval. Returns the unsubscribe function.
   */
  subscribe?(listener: () => void): () => void;
  close?(): Promise<void>;
}
