/** The engine's typed events: one per ledger record type, plus decisions and errors. */
import type { RecordData, RecordType, TypedRecord } from '../ledger/records.js';
import type { Decision } from '../policy/types.js';
import type { RingNeeds } from './ring-action.js';

export interface DecisionEvent {
  pipeline: string;
  ring: string;
  release: string;
  version: string;
  /** What the ring's policy says. */
  decision: Decision;
  /** What the ring does, in one sentence, as `explain` says it (a policy's word, or a relation's). */
  reason: string;
  /** Set when package relations keep the release out (or will, once the policy lets it in). */
  needs?: RingNeeds;
}

export interface ErrorEvent {
  pipeline?: string;
  /** What the engine was doing: `poll`, `build`, `rollout`, `notify`… */
  operation: string;
  error: Error;
}

/**
 * Event name → listener. Every ledger record is emitted under its type (`release.created`,
 * `host.finished`, …) with its data, and under `record` whole.
 *
 * @example
 * ```ts
 * engine.on('host.finished', (data) => console.log(data.host, data.ok));
 * ```
 */
export type EngineEvents = {
  [K in RecordType]: (data: RecordData[K], record: TypedRecord<K>) => void;
} & {
  record: (record: TypedRecord) => void;
  decision: (event: DecisionEvent) => void;
  error: (event: ErrorEvent) => void;
};
