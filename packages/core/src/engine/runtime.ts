/**
 * What the engine's parts share: the ledger, the clock, the stop signal and the event emitter.
 * The engine builds one and hands it to the intake (sources and builds) and the ring runner.
 */
import type { Clock } from '../contracts/clock.js';
import type { Notifier } from '../contracts/notifier.js';
import type { Ledger } from '../ledger/ledger.js';
import type { PipelineState } from '../ledger/state.js';
import type { Pipeline } from '../model/pipeline.js';
import type { SecretMask } from '../model/secrets.js';
import type { DecisionEvent, ErrorEvent } from './events.js';

/** How long the engine and ring leases last; holders renew them well before. */
export const LEASE_MS = 30_000;

export interface Runtime {
  /** Every pipeline of the engine (with the ledger's view in `state`: a `Project`). */
  readonly pipelines: ReadonlyMap<string, Pipeline>;
  readonly ledger: Ledger;
  readonly clock: Clock;
  /** Names the engine in locks and messages. */
  readonly owner: string;
  readonly workDir: string;
  readonly notifiers: readonly Notifier[];
  /** How long the engine's and the rings' leases last; holders renew them at a third of it. */
  readonly leaseMs: number;
  /**
   * Several runners share the ledger (the store says it can): work is fenced by a lease per
   * pipeline and per ring, not one on the whole ledger.
   */
  readonly manyRunners: boolean;
  /** How many hosts of a batch this runner works on at once (Ansible's forks). */
  readonly forks: number | undefined;
  /** The team's web page, linked from notifications where a person can act (the engine's `pageUrl`). */
  readonly pageUrl: string | undefined;
  /** The groups that may deploy through a freeze; undefined: nobody may. */
  readonly breakGlass: readonly string[] | undefined;
  /**
   * Aborted by `close()`, by the loss of the engine's lease, or when a fault cuts the pass short:
   * work stops at the next host boundary.
   */
  readonly signal: AbortSignal;
  /** Every secret value read by this engine, masked in what its ledger writes and its errors say. */
  readonly mask: SecretMask;
  emit(event: 'error', payload: ErrorEvent): boolean;
  emit(event: 'decision', payload: DecisionEvent): boolean;
  state(pipeline: string): PipelineState;
}
