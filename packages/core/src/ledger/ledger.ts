/**
 * The Ledger: the durable record over a Store. It replays the journal into derived views,
 * appends new records with compare-and-set, and tells a listener about every record it learns.
 *
 * Two kinds of write. A fact (`write`: a host finished, a build ran) holds whatever others
 * wrote meanwhile, so after a CONFLICT it is appended again once the ledger is caught up. A
 * decision (`decide`: start a rollout, record an approval) depends on the state it was taken
 * on, so after a CONFLICT it is taken again on the caught-up state — a lock or an approval
 * written meanwhile by another process is never ignored. Every write carries the leases it is
 * made under (the engine's, a ring's), and the store refuses it once one of them is lost.
 */
import type { Clock } from '../contracts/clock.js';
import type { Lease, LedgerRecord, Store } from '../contracts/store.js';
import { isRingmasterError, RingmasterError } from '../errors.js';
import { type RecordData, type RecordType, type TypedRecord, upgradeRecord } from './records.js';
import { apply, emptyState, foldRecords, type LedgerState } from './state.js';

/**
 * A store that can hand its records over a chunk at a time, as it reads them (the file store):
 * what {@link Ledger.replay} uses, when present, instead of `read`.
 */
export interface ScanningStore extends Store {
  /** Calls `each` with the records after `afterSeq`, in order, a chunk at a time; resolves after the last. */
  scan(afterSeq: number, each: (records: LedgerRecord[]) => void): Promise<void>;
}

export interface Entry<T extends RecordType = RecordType> {
  type: T;
  data: RecordData[T];
}

/** Builds a typed entry: `entry('ring.locked', { … })`. */
export function entry<T extends RecordType>(type: T, data: RecordData[T]): Entry<T> {
  return { type, data };
}

/**
 * Takes a decision on the ledger's current state: the entries to append, or none. It may throw
 * to refuse (the write rejects with that error). Called again after a conflict.
 */
export type LedgerDecision = (state: LedgerState) => Entry[];

export interface LedgerOptions {
  /** Told of every record the ledger learns, its own appends and others' alike. */
  onRecord?: (record: TypedRecord) => void;
  /** The leases every write is made under unless told otherwise (the engine's, while it holds it). */
  fence?: () => readonly Lease[];
  /** Told when the store refused a write because a lease in its fence was lost. */
  onFenceRefused?: (error: RingmasterError) => void;
  /**
   * Applied to each record's data right before it is appended: the engine's secret mask, so no
   * secret value a command printed is ever written (nor, read back, notified or shown).
   */
  redact?: <T>(data: T) => T;
}

const MAX_CAS_RETRIES = 20;

interface PendingWrite {
  decide: LedgerDecision;
  /** A fact does not depend on the state it is appended after: no compare-and-set. */
  fact: boolean;
  fence: readonly Lease[];
  resolve(records: TypedRecord[]): void;
  reject(error: unknown): void;
}

const fenceKey = (fence: readonly Lease[]) => fence.map((l) => `${l.name}=${l.token}`).join(' ');

export class Ledger {
  readonly state: LedgerState = emptyState();
  private pending: PendingWrite[] = [];
  private flushing: Promise<void> | undefined;

  private readonly onRecord: (record: TypedRecord) => void;
  private readonly baseFence: () => readonly Lease[];
  private readonly onFenceRefused: (error: RingmasterError) => void;
  private readonly redact: <T>(data: T) => T;

  constructor(
    readonly store: Store,
    private readonly clock: Clock,
    options: LedgerOptions = {},
  ) {
    this.onRecord = options.onRecord ?? (() => {});
    this.baseFence = options.fence ?? (() => []);
    this.onFenceRefused = options.onFenceRefused ?? (() => {});
    this.redact = options.redact ?? ((data) => data);
  }

  /** Reads records written since the last look (by this process or another) into the state. */
  async refresh(): Promise<TypedRecord[]> {
    return this.learn(await this.read(this.state.lastSeq));
  }

  /**
   * Folds in what the store holds beyond the state as history, telling no one (`onRecord` is not
   * called): the replay at start-up. On a store that reads in chunks ({@link ScanningStore}, as
   * the file store does), each chunk is folded as it is read, so a long journal is never held
   * whole, and folded as one batch ({@link foldRecords}).
   */
  async replay(): Promise<void> {
    const store = this.store as Partial<ScanningStore>;
    if (typeof store.scan !== 'function') {
      this.fold(await this.read(this.state.lastSeq));
      return;
    }
    await store.scan.call(this.store, this.state.lastSeq, (records) => this.fold(records.map(upgradeRecord)));
  }

  /** Folds the records that follow the state, in seq order, each once (as `learn`), telling no one. */
  private fold(records: readonly TypedRecord[]): void {
    let from = 0;
    while (from < records.length && records[from]!.seq <= this.state.lastSeq) from++;
    let to = from;
    while (to < records.length && records[to]!.seq === this.state.lastSeq + 1 + (to - from)) to++;
    foldRecords(from === 0 && to === records.length ? records : records.slice(from, to), this.state);
  }

  /**
   * Folds in the records that follow the state, in seq order, each once: two reads under way at
   * once (a refresh and an append) may both bring the same record back.
   */
  private learn(records: readonly TypedRecord[]): TypedRecord[] {
    const fresh: TypedRecord[] = [];
    for (const record of records) {
      if (record.seq <= this.state.lastSeq) continue;
      if (record.seq !== this.state.lastSeq + 1) break; // a gap: the next refresh reads it in order
      apply(this.state, record);
      this.onRecord(record);
      fresh.push(record);
    }
    return fresh;
  }

  /** The records after `since` (all by default), as this version reads them ({@link upgradeRecord}). */
  async read(since = 0): Promise<TypedRecord[]> {
    return (await this.store.read(since)).map(upgradeRecord);
  }

  /**
   * Appends facts atomically, in order, after everything already in the ledger, under the base
   * fence, and resolves once they are durable.
   */
  write(...entries: Entry[]): Promise<TypedRecord[]> {
    return this.enqueue(() => entries, this.baseFence(), true);
  }

  /** Appends facts under `fence` (the base fence plus, say, a ring's lease). */
  writeUnder(fence: readonly Lease[], ...entries: Entry[]): Promise<TypedRecord[]> {
    return this.enqueue(() => entries, fence, true);
  }

  /**
   * Takes `decision` on the current state and appends what it returns; after a conflict, it is
   * taken again on the caught-up state. Resolves with the records written (none when the
   * decision, taken again, wrote nothing).
   */
  decide(decision: LedgerDecision, fence: readonly Lease[] = this.baseFence()): Promise<TypedRecord[]> {
    return this.enqueue(decision, fence, false);
  }

  /** The leases writes are made under by default. */
  fence(): readonly Lease[] {
    return this.baseFence();
  }

  /**
   * Writes made together are committed together (group commit: one fsync for a whole batch of
   * hosts): those made while an append is under way go in the next one, and the first append
   * waits for the work already running to make its writes too (the hosts of a batch, started
   * at once, each write theirs a moment apart).
   */
  private enqueue(decide: LedgerDecision, fence: readonly Lease[], fact: boolean): Promise<TypedRecord[]> {
    return new Promise((resolve, reject) => {
      this.pending.push({ decide, fact, fence, resolve, reject });
      this.flushing ??= new Promise<void>((r) => setImmediate(r)).then(() => this.drain());
    });
  }

  /**
   * Appends what is queued: the facts, then the decisions (a fact must never wait on a
   * compare-and-set), each all in one append when it can. Writes queued together were made
   * concurrently (each caller awaits its own), so their order among themselves carries no
   * meaning. Whatever fails, every write is settled.
   */
  private async drain(): Promise<void> {
    try {
      while (this.pending.length) {
        const queued = this.pending.splice(0);
        for (const writes of [queued.filter((w) => w.fact), queued.filter((w) => !w.fact)]) {
          if (writes.length === 0) continue;
          try {
            await this.appendUnion(writes);
          } catch (error) {
            for (const w of writes) w.reject(error); // no-ops for those already settled
          }
        }
      }
    } finally {
      this.flushing = undefined;
    }
  }

  /**
   * Appends `writes` in one append under all of their leases at once (a ring's, each host's).
   * If one of those leases turns out lost, they are appended again lease set by lease set, so
   * only those made under the lost one fail.
   */
  private async appendUnion(writes: PendingWrite[]): Promise<void> {
    const fences = new Map<string, readonly Lease[]>();
    for (const w of writes) fences.set(fenceKey(w.fence), w.fence);
    if (fences.size === 1) {
      await this.appendGroup(writes, writes[0]!.fence);
      return;
    }
    const union = new Map<string, Lease>();
    for (const fence of fences.values()) for (const l of fence) union.set(`${l.name}=${l.token}`, l);
    const unsettled = await this.appendGroup(writes, [...union.values()], true);
    if (!unsettled) return;
    for (const [key, fence] of fences) {
      const part = unsettled.filter((w) => fenceKey(w.fence) === key);
      if (part.length) await this.appendGroup(part, fence);
    }
  }

  /**
   * Appends one group under `fence`, deciding each write on the state it is appended after.
   * With `splitOnLocked`, a refusal for a lost lease leaves the writes it would have settled
   * unsettled and returns them, for the caller to append again in smaller groups.
   */
  private async appendGroup(
    group: PendingWrite[],
    fence: readonly Lease[],
    splitOnLocked = false,
  ): Promise<PendingWrite[] | undefined> {
    let live = group;
    for (let attempt = 0; ; attempt++) {
      const decided: { write: PendingWrite; entries: Entry[] }[] = [];
      for (const write of live) {
        try {
          decided.push({ write, entries: write.decide(this.state) });
        } catch (error) {
          write.reject(error);
        }
      }
      live = decided.map((d) => d.write);
      const entries = decided.flatMap((d) => d.entries);
      if (entries.length === 0) {
        for (const d of decided) d.write.resolve([]);
        return undefined;
      }
      try {
        const records = await this.appendNow(
          entries,
          fence,
          live.every((w) => w.fact),
        );
        let at = 0;
        for (const d of decided) {
          d.write.resolve(records.slice(at, at + d.entries.length));
          at += d.entries.length;
        }
        return;
      } catch (error) {
        if (splitOnLocked && isRingmasterError(error, 'LOCKED')) return live;
        if (!isRingmasterError(error, 'CONFLICT') || attempt >= MAX_CAS_RETRIES) {
          for (const write of live) write.reject(error);
          return;
        }
        // Others are deciding too: step aside a moment (jittered) so one of us gets through.
        await new Promise((r) => setTimeout(r, Math.random() * Math.min(2 ** attempt, 50)));
        try {
          await this.refresh();
        } catch (readError) {
          for (const write of live) write.reject(readError);
          return undefined;
        }
      }
    }
  }

  /**
   * Appends `entries`. Facts alone go after whatever is there (no compare-and-set: under many
   * writers a fact must never fail for being late); others' records that land before them are
   * read in first, so the state is always folded in seq order.
   */
  private async appendNow(entries: Entry[], fence: readonly Lease[], facts: boolean): Promise<TypedRecord[]> {
    const time = this.clock.now().toISOString();
    let stored: TypedRecord[];
    try {
      stored = (await this.store.append(
        entries.map((e) => ({
          type: e.type,
          time,
          data: this.redact(e.data) as unknown as Record<string, unknown>,
        })),
        { ...(facts ? {} : { expectedSeq: this.state.lastSeq }), ...(fence.length ? { fence } : {}) },
      )) as TypedRecord[];
    } catch (error) {
      if (isRingmasterError(error, 'LOCKED') && fence.some((l) => l.name === error.details.lock))
        this.onFenceRefused(error);
      throw error;
    }
    // Others appended first: read theirs (and ours, in order) back. Ours are written whatever
    // that read does: if it fails, the next refresh folds them in.
    if (stored[0] && stored[0].seq > this.state.lastSeq + 1) await this.refresh().catch(() => {});
    else this.learn(stored);
    return stored;
  }

  /** Waits for appends already queued. */
  async flush(): Promise<void> {
    await this.flushing;
  }
}

export function assertKnown<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new RingmasterError('NOT_FOUND', `${what} not found`, { scope: 'engine' });
  return value;
}
