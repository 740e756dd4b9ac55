/**
 * The ledger's record types: the durable facts the engine writes. Every view (releases, what
 * each ring and host runs, rollouts, gates, approvals) is derived from these by `reduce`.
 */
import type { Artifact } from '../contracts/artifact.js';
import type { Notification } from '../contracts/notifier.js';
import type { DeployRequest, Revision } from '../contracts/source.js';
import type { LedgerRecord } from '../contracts/store.js';
import type { ProcessIdentity, ReapOutcome } from '../exec/process-group.js';
import type { HostState } from '../rollout/host-state.js';
import type { PlannedStep, RolloutSpec } from '../rollout/strategy.js';

export type RolloutKind = 'deploy' | 'rollback' | 'converge';

/** The step a process belongs to: an attempt at a build, or a gate run for a rollout. */
export type StepRef =
  | { kind: 'build'; revision: string; attempt: number }
  | {
      kind: 'gate';
      ring: string;
      release: string;
      rollout: string;
      gate: string;
      /** The rollout's verify step it ran for; absent for the ring's verification after the rollout. */
      step?: number;
    }
  | { kind: 'once'; ring: string; rollout: string; step: string; phase: 'before' | 'after' | 'down' };
export type RolloutOutcome = 'succeeded' | 'failed' | 'rolled-back' | 'halted' | 'interrupted';

/** How a person proved who they are when they acted: a token, a page session, a trusted proxy. */
export interface ApprovalIdentity {
  method: 'token' | 'session' | 'proxy';
  /** Their groups at that moment (what `manual({ group })` counts them by). */
  groups: string[];
  /** The names and addresses they commit as, when the config says: their own release is known. */
  commitsAs?: string[];
}

/** Record type → its data. */
export interface RecordData {
  /** `feed`: the ring whose own line the revision is on (absent for the pipeline's mainline). */
  /** `known`: the revision was seen before (on another line); only the line's cursor moves. */
  'revision.seen': { pipeline: string; revision: Revision; feed?: string; known?: true };
  'source.reset': { pipeline: string; from: string; to: string; reason: string; feed?: string };
  /** `attempt`: 1 for the first build of the revision, counting retries and restarts. */
  'build.started': { pipeline: string; revision: string; attempt?: number };
  'build.finished': {
    pipeline: string;
    revision: string;
    ok: boolean;
    log: string;
    error?: string;
    durationMs: number;
  };
  'release.created': {
    pipeline: string;
    release: string;
    version: string;
    revision: string;
    author: string;
    /** The committer's address, where the VCS records one. */
    email?: string;
    message: string;
    artifact: Artifact;
    /** Built from a ring's own line: only that ring takes it. */
    feed?: string;
  };
  'rollout.started': {
    pipeline: string;
    ring: string;
    rollout: string;
    release: string;
    kind: RolloutKind;
    reason: string;
    strategy: RolloutSpec;
    batches: string[][];
    /** The batches and the pauses and verifies between them, when the strategy has pauses or verifies. */
    steps?: PlannedStep[];
    /**
     * Set for a rollout to hosts a person named (`--limit`): a host operation. It changes those
     * hosts only, never what the ring runs, and no gates run for it.
     */
    limit?: string[];
    /**
     * Releases of other pipelines promoted together with this one (`promote --with`): put into
     * the ring's suite with it, before its first host, and rolled out after it succeeds.
     */
    together?: { pipeline: string; release: string }[];
  };
  'host.started': {
    pipeline: string;
    rollout: string;
    host: string;
    /** What the host had before this step, as it reported it (never a guess). */
    from: HostState;
    phase: 'deploy' | 'rollback';
  };
  'host.finished': {
    pipeline: string;
    rollout: string;
    host: string;
    ok: boolean;
    /** What the host has afterwards, as the target reported it, or `unknown` with why. */
    state: HostState;
    phase: 'deploy' | 'rollback';
    error?: string;
    /** True when the host already ran the version (found on resume after a crash). */
    alreadyThere?: boolean;
    /** True when nothing was done to the host (it could not be read first). */
    untouched?: boolean;
  };
  /**
   * With many runners: the ring's holder opened batch `batch` (from 0) of the rollout, so other
   * runners may work on its hosts (each under a lease of its own). A runner never works on a
   * batch that was not opened: the holder opens the next one only after weighing the last.
   */
  'batch.started': { pipeline: string; rollout: string; batch: number };
  /** The engine was stopped (Ctrl-C, `close()`) between batches: the rollout resumes at the next start. */
  'rollout.parked': { pipeline: string; rollout: string; reason: string };
  'rollout.finished': {
    pipeline: string;
    rollout: string;
    outcome: RolloutOutcome;
    reason: string;
    /** Every host ran its step, though the rollout failed after them (a once-step's down did not). */
    hostsOk?: boolean;
  };
  /**
   * The rollout reached pause step `step`: it waits, in flight, until `until` (a timed pause, on
   * the engine's clock) or until a person resumes it (no `until`).
   */
  'rollout.paused': { pipeline: string; rollout: string; step: number; until?: string; reason: string };
  /**
   * A person aborted the rollout: at its next step boundary it applies `onFailure` to the hosts
   * done so far (rolls them back, or halts), as when its failure budget is spent.
   */
  'rollout.aborted': { pipeline: string; rollout: string; by: string; reason: string };
  /** Pause step `step` is over: resumed by a person, or by `engine` when its time was up. */
  'rollout.resumed': { pipeline: string; rollout: string; step: number; by: string; reason?: string };
  'gate.finished': {
    pipeline: string;
    ring: string;
    release: string;
    /** The rollout whose result the gate checked. */
    rollout: string;
    gate: string;
    /** The rollout's verify step it ran for; absent for the ring's verification after the rollout. */
    step?: number;
    ok: boolean;
    log: string;
    durationMs: number;
  };
  'ring.verified': { pipeline: string; ring: string; release: string };
  'ring.failed': { pipeline: string; ring: string; release: string; reason: string };
  'ring.rejected': { pipeline: string; ring: string; release: string; reason: string; by: string };
  /** A person lifts a rejection: the release may be promoted into the ring again. */
  'ring.unrejected': { pipeline: string; ring: string; release: string; by: string };
  'ring.locked': { pipeline: string; ring: string; reason: string; by: string };
  'ring.unlocked': { pipeline: string; ring: string; by: string; reason?: string };
  /** A person holds a ring on the release it runs: automatic promotion waits until unpinned. */
  'ring.pinned': { pipeline: string; ring: string; release: string; reason: string; by: string };
  'ring.unpinned': { pipeline: string; ring: string; by: string };
  /**
   * A person deployed to a ring through a freeze ("break glass"), as a group allowed to may:
   * who, why, and what the freeze said. Written before the rollout it lets through.
   */
  'ring.break-glass': {
    pipeline: string;
    ring: string;
    release: string;
    by: string;
    reason: string;
    frozen: string;
    groups: string[];
  };
  /** A once-per-rollout step of the ring began (`before` its hosts, `after` them, or a rollback's `down`). */
  'once.started': { pipeline: string; rollout: string; step: string; phase: 'before' | 'after' | 'down' };
  'once.finished': {
    pipeline: string;
    rollout: string;
    step: string;
    phase: 'before' | 'after' | 'down';
    ok: boolean;
    log: string;
    durationMs: number;
  };
  /**
   * The ring's suite in the repository changed, before the rollout's first host: what the
   * ring's hosts may install from then on — every package the suite lists, and the SHA-256 of
   * each Packages index — so what a ring could install at any time is read from the ledger.
   */
  'suite.updated': {
    pipeline: string;
    ring: string;
    rollout: string;
    suite: string;
    packages: Record<string, string[]>;
    indexes: Record<string, string>;
  };
  /**
   * A person promotes releases of several pipelines into a ring together, because they need
   * each other: one decision, written once per member pipeline in the same append as the first
   * member's `rollout.started` (so only for a rollout that started). That rollout puts them all
   * into the ring's suite at once; the others are rolled out once it succeeded.
   */
  'ring.together': {
    pipeline: string;
    ring: string;
    release: string;
    members: { pipeline: string; release: string }[];
    by: string;
    reason?: string;
  };
  /** A person takes a host out of rotation: rollouts skip it, and it counts as neither drift nor failure. */
  'host.disabled': { pipeline: string; ring: string; host: string; reason: string; by: string };
  /** The host is back in rotation (and is converged to the ring's release). */
  'host.enabled': { pipeline: string; ring: string; host: string; by: string };
  'approval.recorded': {
    pipeline: string;
    ring: string;
    /** Approvals are for a revision's release; a VCS deploy request may arrive before the build. */
    revision: string;
    by: string;
    via: 'api' | 'cli' | 'vcs';
    comment?: string;
    /** How the approver proved who they are, and their groups then; absent when nobody asked. */
    identity?: ApprovalIdentity;
  };
  'deploy-request.seen': { pipeline: string; request: DeployRequest };
  /**
   * The source no longer has the request the cursor named (a deleted tag): the requests were read
   * from the start again, those already seen (same id, same revision) left out, and the cursor
   * moves to `to`, the newest request there is (absent: none).
   */
  'deploy-requests.reset': { pipeline: string; from: string; to?: string; reason: string };
  'notification.queued': { pipeline: string; id: string; notification: Notification };
  'notification.sent': { pipeline: string; id: string; notifier: string; ok: boolean; error?: string };
  /** Someone asked for a revision to be built again (after a failed build): its next attempt. */
  'build.retried': { pipeline: string; revision: string; by: string };
  /** A command of a build step or a runner gate started, in a process group of its own. */
  'process.started': { pipeline: string; process: ProcessIdentity; step: StepRef; command: string };
  /** A process group left running by an engine that died was dealt with before its step ran again. */
  'process.reaped': { pipeline: string; process: ProcessIdentity; step: StepRef; outcome: ReapOutcome };
  /**
   * A fault nothing contained (an uncaught exception in an adapter) reached the engine's
   * last-resort guard: the work under way was parked. Informational.
   */
  'engine.fault': { owner: string; error: string; stack?: string };
  /**
   * A holder lost a lease (taken over, or expired unrenewed) and stopped: written by the loser,
   * outside the fence, to say why its work ended. Informational: it changes no derived state.
   */
  'lease.lost': { pipeline?: string; ring?: string; lease: string; owner: string; reason: string };
}

export type RecordType = keyof RecordData;

/** A typed ledger record. */
export type TypedRecord<T extends RecordType = RecordType> = {
  [K in T]: { seq: number; time: string; type: K; data: RecordData[K] };
}[T];

/** What a host state was recorded as before the ledger kept states (a bare version, or null). */
const LEGACY_NULL: HostState = {
  status: 'unknown',
  code: 'LEGACY',
  reason: 'recorded by an earlier Ringmaster as "nothing", which could also mean a read that failed',
};
const fromLegacy = (version: unknown): HostState =>
  typeof version === 'string' ? { status: 'installed', version } : LEGACY_NULL;

/**
 * A record as this version reads it. Journals written before host states were kept carry
 * `host.started.from` and `host.finished.version` as a version or null; a version becomes
 * `installed`, and null `unknown` (then, a failed read was also written as null: it is not
 * taken for "nothing installed"). Every other record is returned as it is.
 */
export function upgradeRecord(record: LedgerRecord): TypedRecord {
  const data = record.data as Record<string, unknown>;
  if (record.type === 'host.started' && (typeof data.from !== 'object' || data.from === null)) {
    return { ...record, data: { ...data, from: fromLegacy(data.from) } } as TypedRecord;
  }
  if (record.type === 'host.finished' && data.state === undefined) {
    const { version, ...rest } = data;
    return { ...record, data: { ...rest, state: fromLegacy(version) } } as TypedRecord;
  }
  return record as TypedRecord;
}
