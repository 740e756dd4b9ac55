/**
 * The Ledger: the durable record over a Store. It replays the journal into derived views,
 * appends new facts with compare-and-set (catching up and retrying when another process wrote
 * first), and tells a listener about every record it learns.
 */
import type { Clock } from '../contracts/clock.js';
import type { Store } from '../contracts/store.js';
import { isRingmasterError, RingmasterError } from '../errors.js';
import type { RecordData, RecordType, TypedRecord } from './records.js';
import { apply, emptyState, type LedgerState } from './state.js';

export interface Entry<T extends RecordType = RecordType> {
  type: T;
  data: RecordData[T];
}

/** Builds a typed entry: `entry('ring.locked', { … })`. */
export function entry<T extends RecordType>(type: T, data: RecordData[T]): Entry<T> {
  return { type, data };
}

const MAX_CAS_RETRIES = 20;

interface PendingWrite {
  entries: Entry[];
  resolve(records: TypedRecord[]): void;
  reject(error: unknown): void;
}

export class Ledger {
  readonly state: LedgerState = emptyState();
  private pending: PendingWrite[] = [];
  private flushing: Promise<void> | undefined;

  constructor(
    readonly store: Store,
    private readonly clock: Clock,
    private readonly onRecord: (record: TypedRecord) => void = () => {},
  ) {}

  /** Reads records written since the last look (by this process or another) into the state. */
  async refresh(): Promise<TypedRecord[]> {
    const records = (await this.store.read(this.state.lastSeq)) as TypedRecord[];
    for (const record of records) {
      apply(this.state, record);
      this.onRecord(record);
    }
    return records;
  }

  /**
   * Appends entries atomically, in order, after everything already in the ledger, and resolves
   * once they are durable. Writes made while an append is under way are committed together in
   * the next one (group commit: one fsync for a whole batch of hosts). Another process's appends
   * are caught up with and retried over.
   */
  write(...entries: Entry[]): Promise<TypedRecord[]> {
    return new Promise((resolve, reject) => {
      this.pending.push({ entries, resolve, reject });
      this.flushing ??= this.drain();
    });
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending.length) {
        const group = this.pending.splice(0);
        try {
          const records = await this.appendNow(group.flatMap((w) => w.entries));
          let at = 0;
          for (const w of group) {
            w.resolve(records.slice(at, at + w.entries.length));
            at += w.entries.length;
          }
        } catch (error) {
          for (const w of group) w.reject(error);
        }
      }
    } finally {
      this.flushing = undefined;
    }
  }

  private async appendNow(entries: Entry[]): Promise<TypedRecord[]> {
    const time = this.clock.now().toISOString();
    for (let attempt = 0; ; attempt++) {
      try {
        const stored = (await this.store.append(
          entries.map((e) => ({ type: e.type, time, data: e.data as unknown as Record<string, unknown> })),
          { expectedSeq: this.state.lastSeq },
        )) as TypedRecord[];
        for (const record of stored) {
          apply(this.state, record);
          this.onRecord(record);
        }
        return stored;
      } catch (error) {
        if (!isRingmasterError(error, 'CONFLICT') || attempt >= MAX_CAS_RETRIES) throw error;
        await this.refresh();
      }
    }
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
