/** The engine's typed events: one per ledger record type, plus decisions and errors. */
import type { RecordData, RecordType, TypedRecord } from '../ledger/records.js';
import type { Decision } from '../policy/types.js';

export interface DecisionEvent {
  pipeline: string;
  ring: string;
  release: string;
  version: string;
  decision: Decision;
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
