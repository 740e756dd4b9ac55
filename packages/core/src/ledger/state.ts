/**
 * Derived views of the ledger: a pure fold of records into the state the engine decides from
 * and `status`/`explain` report. Rebuilt from the journal at start-up (replay) and kept up to
 * date as records are appended.
 */
import type { Artifact } from '../contracts/artifact.js';
import type { Notification } from '../contracts/notifier.js';
import type { Revision } from '../contracts/source.js';
import type { ProcessIdentity } from '../exec/process-group.js';
import type { HostState } from '../rollout/host-state.js';
import type { RolloutSpec } from '../rollout/strategy.js';
import type { RecordData, RolloutKind, RolloutOutcome, StepRef, TypedRecord } from './records.js';

export interface BuildState {
  status: 'running' | 'succeeded' | 'failed';
  /** How many times the revision's build was started (retries and restarts included). */
  attempts: number;
  log?: string;
  error?: string;
  release?: string;
}

export interface ReleaseState {
  id: string;
  version: string;
  revision: string;
  author: string;
  message: string;
  artifact: Artifact;
  /** The ring whose own line it was built from; absent for mainline releases. */
  feed?: string;
  createdAt: string;
  /** Position in creation order. */
  index: number;
}

export type ReleaseRingStatus = 'deploying' | 'verifying' | 'verified' | 'failed' | 'rejected';

export interface ReleaseInRing {
  status: ReleaseRingStatus;
  since: string;
  /** The rollout that brought the release into the ring. */
  rollout?: string;
  reason?: string;
  verifiedAt?: string;
}

export interface HostStep {
  /** What the host had before the step; unknown for a step recorded only by its end. */
  from: HostState;
  phase: 'deploy' | 'rollback';
  startedAt: string;
  finished?: {
    ok: boolean;
    state: HostState;
    error?: string;
    at: string;
    alreadyThere?: boolean;
    untouched?: boolean;
  };
}

export interface RolloutState {
  id: string;
  ring: string;
  release: string;
  kind: RolloutKind;
  reason: string;
  strategy: RolloutSpec;
  batches: string[][];
  startedAt: string;
  /** Deploy steps per host, then rollback steps per host. */
  hosts: Map<string, HostStep>;
  rollbacks: Map<string, HostStep>;
  outcome?: RolloutOutcome;
  outcomeReason?: string;
  /** Set while the rollout waits, parked by a stop, for the next start. */
  parked?: { reason: string; at: string };
  finishedAt?: string;
}

export interface GateResult {
  ring: string;
  release: string;
  rollout: string;
  gate: string;
  ok: boolean;
  log: string;
  durationMs: number;
  at: string;
}

/** The ledger's latest word on a host, and — when that is `unknown` — the last reading before it. */
export interface RecordedHost {
  state: HostState;
  at: string;
  lastKnown?: { state: HostState; at: string };
}

export interface RingState {
  name: string;
  /** The release the ring runs (its last successful rollout). */
  current?: string;
  /** Releases it ran before, oldest first. */
  history: string[];
  /** What each host has, as last recorded (a reading, or unknown with why). */
  hosts: Map<string, RecordedHost>;
  /** The rollout under way (started, not finished): resumed after a crash. */
  inFlight?: string;
  rollouts: string[];
  locked?: { reason: string; by: string; at: string };
}

export interface ApprovalState {
  ring: string;
  revision: string;
  by: string;
  via: 'api' | 'cli' | 'vcs';
  at: string;
  comment?: string;
}

export interface PipelineState {
  name: string;
  cursor?: string;
  /** Cursors of the rings fed by their own line of development. */
  feedCursors: Map<string, string>;
  requestCursor?: string;
  revisions: Map<string, { revision: Revision; build?: BuildState; feed?: string }>;
  /** Revisions seen but not built yet, oldest first. */
  pending: string[];
  releases: Map<string, ReleaseState>;
  releaseByRevision: Map<string, string>;
  /** Per release, per ring. */
  releaseRings: Map<string, Map<string, ReleaseInRing>>;
  rings: Map<string, RingState>;
  rollouts: Map<string, RolloutState>;
  gates: GateResult[];
  approvals: ApprovalState[];
  notifications: Map<string, { notification: Notification; sent: Map<string, boolean> }>;
  /**
   * Processes started for steps that have not finished, by `pid:startTicks`: after a crash,
   * the ones a new engine must make sure are gone before the step runs again.
   */
  processes: Map<string, { process: ProcessIdentity; step: StepRef; command: string; at: string }>;
}

export interface LedgerState {
  lastSeq: number;
  pipelines: Map<string, PipelineState>;
}

export function emptyState(): LedgerState {
  return { lastSeq: 0, pipelines: new Map() };
}

export function pipelineState(state: LedgerState, name: string): PipelineState {
  let p = state.pipelines.get(name);
  if (!p) {
    p = {
      name,
      feedCursors: new Map(),
      revisions: new Map(),
      pending: [],
      releases: new Map(),
      releaseByRevision: new Map(),
      releaseRings: new Map(),
      rings: new Map(),
      rollouts: new Map(),
      gates: [],
      approvals: [],
      notifications: new Map(),
      processes: new Map(),
    };
    state.pipelines.set(name, p);
  }
  return p;
}

export function ringState(p: PipelineState, name: string): RingState {
  let r = p.rings.get(name);
  if (!r) {
    r = { name, history: [], hosts: new Map(), rollouts: [] };
    p.rings.set(name, r);
  }
  return r;
}

function setReleaseRing(p: PipelineState, release: string, ring: string, patch: ReleaseInRing): void {
  let rings = p.releaseRings.get(release);
  if (!rings) {
    rings = new Map();
    p.releaseRings.set(release, rings);
  }
  const previous = rings.get(ring);
  rings.set(ring, { ...(previous?.rollout ? { rollout: previous.rollout } : {}), ...patch });
}

/** Records that change no derived state (kept in the journal for people and tools). */
type Informational = 'lease.lost' | 'engine.fault';

type Handlers = {
  [K in Exclude<keyof RecordData, Informational>]: (
    p: PipelineState,
    data: RecordData[K],
    time: string,
  ) => void;
};

const handlers: Handlers = {
  'revision.seen'(p, { revision, feed }) {
    if (!p.revisions.has(revision.id)) {
      p.revisions.set(revision.id, { revision, ...(feed ? { feed } : {}) });
      p.pending.push(revision.id);
    }
    if (feed) p.feedCursors.set(feed, revision.id);
    else p.cursor = revision.id;
  },
  'source.reset'(p, { to, feed }) {
    if (feed) p.feedCursors.set(feed, to);
    else p.cursor = to;
  },
  'build.started'(p, { revision, attempt }) {
    const entry = p.revisions.get(revision);
    if (entry) entry.build = { status: 'running', attempts: attempt ?? (entry.build?.attempts ?? 0) + 1 };
  },
  'build.finished'(p, { revision, ok, log, error }) {
    const entry = p.revisions.get(revision);
    if (entry)
      entry.build = {
        attempts: 1,
        ...entry.build,
        status: ok ? 'succeeded' : 'failed',
        log,
        ...(error ? { error } : {}),
      };
    p.pending = p.pending.filter((id) => id !== revision);
    forgetProcesses(p, (s) => s.kind === 'build' && s.revision === revision);
  },
  'process.started'(p, { process, step, command }, time) {
    p.processes.set(processKey(process), { process, step, command, at: time });
  },
  'process.reaped'(p, { process }) {
    p.processes.delete(processKey(process));
  },
  'release.created'(p, data, time) {
    if (p.releases.has(data.release)) return;
    p.releases.set(data.release, {
      id: data.release,
      version: data.version,
      revision: data.revision,
      author: data.author,
      message: data.message,
      artifact: data.artifact,
      ...(data.feed ? { feed: data.feed } : {}),
      createdAt: time,
      index: p.releases.size,
    });
    p.releaseByRevision.set(data.revision, data.release);
    const entry = p.revisions.get(data.revision);
    if (entry?.build) entry.build.release = data.release;
  },
  'rollout.started'(p, data, time) {
    p.rollouts.set(data.rollout, {
      id: data.rollout,
      ring: data.ring,
      release: data.release,
      kind: data.kind,
      reason: data.reason,
      strategy: data.strategy,
      batches: data.batches,
      startedAt: time,
      hosts: new Map(),
      rollbacks: new Map(),
    });
    const ring = ringState(p, data.ring);
    ring.inFlight = data.rollout;
    ring.rollouts.push(data.rollout);
    if (data.kind === 'deploy') {
      setReleaseRing(p, data.release, data.ring, { status: 'deploying', since: time, rollout: data.rollout });
    }
  },
  'host.started'(p, { rollout, host, from, phase }, time) {
    const r = p.rollouts.get(rollout);
    if (!r) return;
    delete r.parked;
    (phase === 'deploy' ? r.hosts : r.rollbacks).set(host, { from, phase, startedAt: time });
  },
  'host.finished'(p, data, time) {
    const r = p.rollouts.get(data.rollout);
    if (!r) return;
    const steps = data.phase === 'deploy' ? r.hosts : r.rollbacks;
    const step = steps.get(data.host) ?? {
      from: { status: 'unknown', code: 'LEDGER', reason: 'no host.started was recorded' },
      phase: data.phase,
      startedAt: time,
    };
    step.finished = {
      ok: data.ok,
      state: data.state,
      at: time,
      ...(data.error ? { error: data.error } : {}),
      ...(data.alreadyThere ? { alreadyThere: true } : {}),
      ...(data.untouched ? { untouched: true } : {}),
    };
    steps.set(data.host, step);
    const hosts = ringState(p, r.ring).hosts;
    const before = hosts.get(data.host);
    const lastKnown =
      data.state.status !== 'unknown'
        ? undefined
        : before && before.state.status !== 'unknown'
          ? { state: before.state, at: before.at }
          : before?.lastKnown;
    hosts.set(data.host, { state: data.state, at: time, ...(lastKnown ? { lastKnown } : {}) });
  },
  'rollout.parked'(p, { rollout, reason }, time) {
    const r = p.rollouts.get(rollout);
    if (r) r.parked = { reason, at: time };
  },
  'rollout.finished'(p, { rollout, outcome, reason }, time) {
    const r = p.rollouts.get(rollout);
    if (!r) return;
    r.outcome = outcome;
    r.outcomeReason = reason;
    r.finishedAt = time;
    const ring = ringState(p, r.ring);
    if (ring.inFlight === rollout) delete ring.inFlight;
    if (outcome === 'succeeded' && ring.current !== r.release) {
      if (ring.current) ring.history.push(ring.current);
      ring.current = r.release;
    }
    if (r.kind === 'deploy') {
      setReleaseRing(
        p,
        r.release,
        r.ring,
        outcome === 'succeeded'
          ? { status: 'verifying', since: time }
          : { status: 'failed', since: time, reason: `rollout ${outcome}: ${reason}` },
      );
    }
  },
  'gate.finished'(p, data, time) {
    forgetProcesses(
      p,
      (s) =>
        s.kind === 'gate' &&
        s.ring === data.ring &&
        s.release === data.release &&
        s.rollout === data.rollout &&
        s.gate === data.gate,
    );
    p.gates.push({
      ring: data.ring,
      release: data.release,
      rollout: data.rollout,
      gate: data.gate,
      ok: data.ok,
      log: data.log,
      durationMs: data.durationMs,
      at: time,
    });
  },
  'ring.verified'(p, { ring, release }, time) {
    setReleaseRing(p, release, ring, { status: 'verified', since: time, verifiedAt: time });
  },
  'ring.failed'(p, { ring, release, reason }, time) {
    setReleaseRing(p, release, ring, { status: 'failed', since: time, reason });
  },
  'ring.unrejected'(p, { ring, release }) {
    // Forget the release's history in this ring, so it is a candidate there again.
    p.releaseRings.get(release)?.delete(ring);
  },
  'ring.rejected'(p, { ring, release, reason }, time) {
    setReleaseRing(p, release, ring, { status: 'rejected', since: time, reason });
  },
  'ring.locked'(p, { ring, reason, by }, time) {
    ringState(p, ring).locked = { reason, by, at: time };
  },
  'ring.unlocked'(p, { ring }) {
    delete ringState(p, ring).locked;
  },
  'approval.recorded'(p, data, time) {
    p.approvals.push({
      ring: data.ring,
      revision: data.revision,
      by: data.by,
      via: data.via,
      at: time,
      ...(data.comment ? { comment: data.comment } : {}),
    });
  },
  'deploy-request.seen'(p, { request }) {
    p.requestCursor = request.id;
  },
  'notification.queued'(p, { id, notification }) {
    p.notifications.set(id, { notification, sent: new Map() });
  },
  'notification.sent'(p, { id, notifier, ok }) {
    p.notifications.get(id)?.sent.set(notifier, ok);
  },
};

export const processKey = (p: ProcessIdentity) => `${p.pid}:${p.startTicks}`;

/** A step finished: its processes are no longer anyone's worry. */
function forgetProcesses(p: PipelineState, of: (step: StepRef) => boolean): void {
  for (const [key, entry] of p.processes) if (of(entry.step)) p.processes.delete(key);
}

/** Folds one record into the state (records of unknown type are kept in the journal, ignored here). */
export function apply(state: LedgerState, record: TypedRecord): void {
  state.lastSeq = record.seq;
  const handler = (handlers as Partial<Record<string, (p: PipelineState, d: unknown, t: string) => void>>)[
    record.type
  ];
  const pipeline = (record.data as { pipeline?: unknown }).pipeline;
  if (!handler || typeof pipeline !== 'string') return;
  handler(pipelineState(state, pipeline), record.data, record.time);
}
