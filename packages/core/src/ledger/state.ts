/**
 * Derived views of the ledger: a fold of records into the state the engine decides from and
 * `status`/`explain` report. Rebuilt from the journal at start-up (replay), kept up to date as
 * records are appended, and continued from any seq onward by folding the records after it.
 *
 * Reading never changes it: readers get read-only values, and asking for a pipeline or a ring
 * the ledger has never seen gives an empty one without creating it. The fold replaces an entry
 * (a rollout, a ring, a release's standing in a ring) rather than changing it in place, so a
 * value a reader holds never changes under it; to see what happened since, read again.
 */
import type { Artifact } from '../contracts/artifact.js';
import type { Notification } from '../contracts/notifier.js';
import type { Revision } from '../contracts/source.js';
import type { ProcessIdentity } from '../exec/process-group.js';
import type { HostState } from '../rollout/host-state.js';
import type { PlannedStep, RolloutSpec } from '../rollout/strategy.js';
import type {
  ApprovalIdentity,
  RecordData,
  RolloutKind,
  RolloutOutcome,
  StepRef,
  TypedRecord,
} from './records.js';

export interface BuildState {
  readonly status: 'running' | 'succeeded' | 'failed';
  /** How many times the revision's build was started (retries and restarts included). */
  readonly attempts: number;
  readonly log?: string;
  readonly error?: string;
  readonly release?: string;
}

export interface RevisionState {
  readonly revision: Revision;
  readonly build?: BuildState;
  /** The ring whose own line the revision is on; absent for the mainline. */
  readonly feed?: string;
}

export interface ReleaseState {
  readonly id: string;
  readonly version: string;
  readonly revision: string;
  readonly author: string;
  /** The committer's address, where the VCS records one. */
  readonly email?: string;
  readonly message: string;
  readonly artifact: Artifact;
  /** The ring whose own line it was built from; absent for mainline releases. */
  readonly feed?: string;
  readonly createdAt: string;
  /** Position in creation order. */
  readonly index: number;
}

export type ReleaseRingStatus = 'deploying' | 'verifying' | 'verified' | 'failed' | 'rejected';

export interface ReleaseInRing {
  readonly status: ReleaseRingStatus;
  readonly since: string;
  /** The rollout that brought the release into the ring. */
  readonly rollout?: string;
  readonly reason?: string;
  readonly verifiedAt?: string;
  /** Who rejected it (a person, or `engine` after a failed gate). */
  readonly by?: string;
}

export interface HostStep {
  /** What the host had before the step; unknown for a step recorded only by its end. */
  readonly from: HostState;
  readonly phase: 'deploy' | 'rollback';
  readonly startedAt: string;
  readonly finished?: {
    readonly ok: boolean;
    readonly state: HostState;
    readonly error?: string;
    readonly at: string;
    readonly alreadyThere?: boolean;
    readonly untouched?: boolean;
  };
}

/** A pause step the rollout reached: since when, until when (timed), and who ended it. */
export interface PauseState {
  readonly at: string;
  /** A timed pause's end, on the engine's clock; absent for a pause that waits for a person. */
  readonly until?: string;
  readonly resumed?: { readonly by: string; readonly at: string; readonly reason?: string };
}

export interface RolloutState {
  readonly id: string;
  readonly ring: string;
  readonly release: string;
  readonly kind: RolloutKind;
  readonly reason: string;
  readonly strategy: RolloutSpec;
  readonly batches: readonly (readonly string[])[];
  /** The batches and the pauses and verifies between them, when the strategy has pauses or verifies. */
  readonly steps?: readonly PlannedStep[];
  /** A person aborted it: it applies `onFailure` to the hosts done at its next step boundary. */
  readonly aborted?: { readonly by: string; readonly reason: string; readonly at: string };
  /** The pause steps it reached, by step number. */
  readonly pauses: ReadonlyMap<number, PauseState>;
  /** The hosts a person named (`--limit`): a host operation, which never changes the ring's release. */
  readonly limit?: readonly string[];
  /** Releases of other pipelines promoted with this one (`promote --with`). */
  readonly together?: readonly { readonly pipeline: string; readonly release: string }[];
  /** Its once-per-rollout steps, by `phase/name`: when each began and how it ended. */
  readonly once: ReadonlyMap<
    string,
    {
      readonly startedAt: string;
      readonly finished?: { readonly ok: boolean; readonly log: string; readonly at: string };
    }
  >;
  /** When its release was put into the ring's suite (repositories with a suite per ring). */
  readonly suiteAt?: string;
  readonly startedAt: string;
  /** Deploy steps per host, then rollback steps per host. */
  readonly hosts: ReadonlyMap<string, HostStep>;
  readonly rollbacks: ReadonlyMap<string, HostStep>;
  readonly outcome?: RolloutOutcome;
  readonly outcomeReason?: string;
  /** Set while the rollout waits, parked by a stop, for the next start. */
  readonly parked?: { readonly reason: string; readonly at: string };
  /** With many runners: how many of its batches the ring's holder has opened to every runner. */
  readonly batchesOpened?: number;
  readonly finishedAt?: string;
}

export interface GateResult {
  readonly ring: string;
  readonly release: string;
  readonly rollout: string;
  readonly gate: string;
  /** The rollout's verify step it ran for; absent for the ring's verification after the rollout. */
  readonly step?: number;
  readonly ok: boolean;
  readonly log: string;
  readonly durationMs: number;
  readonly at: string;
}

/** The ledger's latest word on a host, and — when that is `unknown` — the last reading before it. */
export interface RecordedHost {
  readonly state: HostState;
  readonly at: string;
  readonly lastKnown?: { readonly state: HostState; readonly at: string };
}

export interface RingState {
  readonly name: string;
  /** The release the ring runs (its last successful rollout). */
  readonly current?: string;
  /** Releases it ran before, oldest first. */
  readonly history: readonly string[];
  /** What each host has, as last recorded (a reading, or unknown with why). */
  readonly hosts: ReadonlyMap<string, RecordedHost>;
  /** The rollout under way (started, not finished): resumed after a crash. */
  readonly inFlight?: string;
  readonly rollouts: readonly string[];
  readonly locked?: { readonly reason: string; readonly by: string; readonly at: string };
  /** Hosts out of rotation, by name: skipped by rollouts, neither drift nor failure. */
  readonly disabled: ReadonlyMap<
    string,
    { readonly reason: string; readonly by: string; readonly at: string }
  >;
  /** Held on a release by a person: automatic promotion waits, other releases are refused. */
  readonly pinned?: {
    readonly release: string;
    readonly reason: string;
    readonly by: string;
    readonly at: string;
  };
}

export interface ApprovalState {
  readonly ring: string;
  readonly revision: string;
  readonly by: string;
  readonly via: 'api' | 'cli' | 'vcs';
  readonly at: string;
  readonly comment?: string;
  /** How the approver proved who they are; absent for an approval nobody authenticated. */
  readonly identity?: ApprovalIdentity;
}

export interface NotificationState {
  readonly notification: Notification;
  readonly sent: ReadonlyMap<string, boolean>;
}

export interface ProcessState {
  readonly process: ProcessIdentity;
  readonly step: StepRef;
  readonly command: string;
  readonly at: string;
}

export interface PipelineState {
  readonly name: string;
  readonly cursor?: string;
  /** Cursors of the rings fed by their own line of development. */
  readonly feedCursors: ReadonlyMap<string, string>;
  readonly requestCursor?: string;
  /** Every deploy request seen, by id → its revision: after a reset, the ones already seen are left out. */
  readonly requestsSeen: ReadonlyMap<string, string>;
  readonly revisions: ReadonlyMap<string, RevisionState>;
  /** Revisions seen (or asked to be built again) but not built yet, oldest first. */
  readonly pending: readonly string[];
  readonly releases: ReadonlyMap<string, ReleaseState>;
  readonly releaseByRevision: ReadonlyMap<string, string>;
  /** Per release, per ring. */
  readonly releaseRings: ReadonlyMap<string, ReadonlyMap<string, ReleaseInRing>>;
  readonly rings: ReadonlyMap<string, RingState>;
  readonly rollouts: ReadonlyMap<string, RolloutState>;
  readonly gates: readonly GateResult[];
  readonly approvals: readonly ApprovalState[];
  readonly notifications: ReadonlyMap<string, NotificationState>;
  /**
   * Processes started for steps that have not finished, by `pid:startTicks`: after a crash,
   * the ones a new engine must make sure are gone before the step runs again.
   */
  readonly processes: ReadonlyMap<string, ProcessState>;
  /** Each change the pipeline's rollouts made to a ring's suite, oldest first. */
  readonly suites: readonly SuiteChange[];
}

/** One change of a ring's suite, as `suite.updated` recorded it. */
export interface SuiteChange {
  readonly ring: string;
  readonly rollout: string;
  readonly suite: string;
  /** Every package the suite lists after the change: name → versions, oldest first. */
  readonly packages: Readonly<Record<string, readonly string[]>>;
  /** SHA-256 of each Packages index, by path in the suite. */
  readonly indexes: Readonly<Record<string, string>>;
  readonly at: string;
  readonly seq: number;
}

export interface LedgerState {
  readonly lastSeq: number;
  readonly pipelines: ReadonlyMap<string, PipelineState>;
}

/** What the fold works on: the same shape, with collections it may add to. */
type Folding = {
  -readonly [K in keyof PipelineState]: PipelineState[K] extends ReadonlyMap<infer Key, infer Value>
    ? Map<Key, Value>
    : PipelineState[K] extends readonly (infer Item)[]
      ? Item[]
      : PipelineState[K];
};

interface FoldState {
  lastSeq: number;
  pipelines: Map<string, Folding>;
}

export function emptyState(): LedgerState {
  return { lastSeq: 0, pipelines: new Map() };
}

function newPipeline(name: string): Folding {
  return {
    name,
    feedCursors: new Map(),
    requestsSeen: new Map(),
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
    suites: [],
  };
}

const emptyRing = (name: string): RingState => ({
  name,
  history: [],
  hosts: new Map(),
  rollouts: [],
  disabled: new Map(),
});

/** A pipeline's state; an empty one for a pipeline the ledger has not seen (nothing is created). */
export function pipelineState(state: LedgerState, name: string): PipelineState {
  return state.pipelines.get(name) ?? newPipeline(name);
}

/** A ring's state; an empty one for a ring no record has named yet (nothing is created). */
export function ringState(p: PipelineState, name: string): RingState {
  return p.rings.get(name) ?? emptyRing(name);
}

/** A change to an entry: the fields to set, `undefined` for a field to drop. */
type Patch<T> = { [K in keyof T]?: T[K] | undefined };

/**
 * The entries, maps and arrays made by the batch being folded ({@link foldRecords}), which nobody
 * has seen yet: the batch's later records change them in place instead of copying them again
 * (a rollout's hosts are otherwise copied once per host step, quadratic in its hosts). Set only
 * while a batch folds, synchronously and telling no one, so no reader ever holds one of them.
 */
let drafts: Set<object> | undefined;

/** A value the fold may change: `value` itself when this batch made it, else a copy it owns. */
function own<T extends object>(value: T, copy: (v: T) => T): T {
  if (drafts?.has(value)) return value;
  const mine = copy(value);
  drafts?.add(mine);
  return mine;
}

const ownMap = <K, V>(map: ReadonlyMap<K, V> | undefined): Map<K, V> =>
  own((map ?? new Map()) as Map<K, V>, (m) => new Map(m));

/** `list` with `item` added at its end (the fold's own copy). */
function appended<T>(list: readonly T[], item: T): T[] {
  const mine = own(list as T[], (l) => [...l]);
  mine.push(item);
  return mine;
}

/** `entry` with `patch` applied, as a new object (fields patched to undefined are dropped). */
function patched<T extends object>(entry: T, patch: Patch<T>): T {
  const next = (drafts?.has(entry) ? entry : { ...entry }) as Record<string, unknown>;
  for (const key of Object.keys(patch)) {
    const value = (patch as Record<string, unknown>)[key];
    if (value === undefined) delete next[key];
    else next[key] = value;
  }
  drafts?.add(next);
  return next as T;
}

/** Replaces a ring's entry with `patch` applied. */
function updateRing(p: Folding, name: string, patch: (r: RingState) => Patch<RingState>): void {
  const ring = ringState(p, name);
  p.rings.set(name, patched(ring, patch(ring)));
}

function updateRollout(
  p: Folding,
  id: string,
  patch: (r: RolloutState) => Patch<RolloutState>,
): RolloutState | undefined {
  const rollout = p.rollouts.get(id);
  if (!rollout) return undefined;
  const next = patched(rollout, patch(rollout));
  p.rollouts.set(id, next);
  return next;
}

function setReleaseRing(p: Folding, release: string, ring: string, patch: ReleaseInRing): void {
  const rings = ownMap(p.releaseRings.get(release));
  const previous = rings.get(ring);
  rings.set(ring, { ...(previous?.rollout ? { rollout: previous.rollout } : {}), ...patch });
  p.releaseRings.set(release, rings);
}

function updateBuild(p: Folding, revision: string, build: (b: BuildState | undefined) => BuildState): void {
  const entry = p.revisions.get(revision);
  if (entry) p.revisions.set(revision, { ...entry, build: build(entry.build) });
}

/** Records that change no derived state (kept in the journal for people and tools). */
type Informational = 'lease.lost' | 'engine.fault' | 'ring.break-glass' | 'ring.together';

type Handlers = {
  [K in Exclude<keyof RecordData, Informational>]: (
    p: Folding,
    data: RecordData[K],
    time: string,
    seq: number,
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
    updateBuild(p, revision, (b) => ({ status: 'running', attempts: attempt ?? (b?.attempts ?? 0) + 1 }));
  },
  'build.finished'(p, { revision, ok, log, error }) {
    updateBuild(p, revision, (b) => ({
      attempts: 1,
      ...b,
      status: ok ? 'succeeded' : 'failed',
      log,
      ...(error ? { error } : {}),
    }));
    p.pending = p.pending.filter((id) => id !== revision);
    forgetProcesses(p, (s) => s.kind === 'build' && s.revision === revision);
  },
  'build.retried'(p, { revision }) {
    if (p.revisions.has(revision) && !p.pending.includes(revision)) p.pending = appended(p.pending, revision);
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
      ...(data.email ? { email: data.email } : {}),
      message: data.message,
      artifact: data.artifact,
      ...(data.feed ? { feed: data.feed } : {}),
      createdAt: time,
      index: p.releases.size,
    });
    p.releaseByRevision.set(data.revision, data.release);
    updateBuild(p, data.revision, (b) => ({ status: 'succeeded', attempts: 1, ...b, release: data.release }));
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
      ...(data.steps ? { steps: data.steps } : {}),
      ...(data.limit ? { limit: data.limit } : {}),
      ...(data.together ? { together: data.together } : {}),
      pauses: new Map(),
      once: new Map(),
      startedAt: time,
      hosts: new Map(),
      rollbacks: new Map(),
    });
    updateRing(p, data.ring, (r) => ({
      inFlight: data.rollout,
      rollouts: appended(r.rollouts, data.rollout),
    }));
    if (data.kind === 'deploy' && !data.limit) {
      setReleaseRing(p, data.release, data.ring, { status: 'deploying', since: time, rollout: data.rollout });
    }
  },
  'host.started'(p, { rollout, host, from, phase }, time) {
    updateRollout(p, rollout, (r) => {
      const steps = ownMap(phase === 'deploy' ? r.hosts : r.rollbacks).set(host, {
        from,
        phase,
        startedAt: time,
      });
      const patch = phase === 'deploy' ? { hosts: steps } : { rollbacks: steps };
      return 'parked' in r ? { ...patch, parked: undefined } : patch;
    });
  },
  'host.finished'(p, data, time) {
    const r = updateRollout(p, data.rollout, (r) => {
      const steps = ownMap(data.phase === 'deploy' ? r.hosts : r.rollbacks);
      const step = steps.get(data.host) ?? {
        from: { status: 'unknown', code: 'LEDGER', reason: 'no host.started was recorded' },
        phase: data.phase,
        startedAt: time,
      };
      // Built field by field, in the order a spread would give: this runs for every host step.
      const finished: {
        -readonly [K in keyof NonNullable<HostStep['finished']>]: NonNullable<HostStep['finished']>[K];
      } = { ok: data.ok, state: data.state, at: time };
      if (data.error) finished.error = data.error;
      if (data.alreadyThere) finished.alreadyThere = true;
      if (data.untouched) finished.untouched = true;
      steps.set(data.host, { from: step.from, phase: step.phase, startedAt: step.startedAt, finished });
      return data.phase === 'deploy' ? { hosts: steps } : { rollbacks: steps };
    });
    if (!r) return;
    updateRing(p, r.ring, (ring) => {
      const before = ring.hosts.get(data.host);
      const lastKnown =
        data.state.status !== 'unknown'
          ? undefined
          : before && before.state.status !== 'unknown'
            ? { state: before.state, at: before.at }
            : before?.lastKnown;
      const recorded: { -readonly [K in keyof RecordedHost]: RecordedHost[K] } = {
        state: data.state,
        at: time,
      };
      if (lastKnown) recorded.lastKnown = lastKnown;
      const hosts = ownMap(ring.hosts).set(data.host, recorded);
      return { hosts };
    });
  },
  'batch.started'(p, { rollout, batch }) {
    updateRollout(p, rollout, (r) => ({ batchesOpened: Math.max(r.batchesOpened ?? 0, batch + 1) }));
  },
  'rollout.parked'(p, { rollout, reason }, time) {
    updateRollout(p, rollout, () => ({ parked: { reason, at: time } }));
  },
  'once.started'(p, { rollout, step, phase }, time) {
    updateRollout(p, rollout, (r) => ({
      once: ownMap(r.once).set(`${phase}/${step}`, { startedAt: time }),
    }));
  },
  'once.finished'(p, data, time) {
    const r = updateRollout(p, data.rollout, (r) => {
      const key = `${data.phase}/${data.step}`;
      const started = r.once.get(key)?.startedAt ?? time;
      return {
        once: ownMap(r.once).set(key, {
          startedAt: started,
          finished: { ok: data.ok, log: data.log, at: time },
        }),
      };
    });
    if (r)
      forgetProcesses(
        p,
        (s) =>
          s.kind === 'once' && s.rollout === data.rollout && s.step === data.step && s.phase === data.phase,
      );
  },
  'rollout.aborted'(p, { rollout, by, reason }, time) {
    updateRollout(p, rollout, (r) => (r.aborted ? {} : { aborted: { by, reason, at: time } }));
  },
  'rollout.paused'(p, { rollout, step, until }, time) {
    updateRollout(p, rollout, (r) =>
      r.pauses.has(step)
        ? {}
        : { pauses: ownMap(r.pauses).set(step, { at: time, ...(until ? { until } : {}) }) },
    );
  },
  'rollout.resumed'(p, { rollout, step, by, reason }, time) {
    updateRollout(p, rollout, (r) => {
      const paused = r.pauses.get(step) ?? { at: time };
      if (paused.resumed) return {};
      return {
        pauses: ownMap(r.pauses).set(step, {
          ...paused,
          resumed: { by, at: time, ...(reason ? { reason } : {}) },
        }),
      };
    });
  },
  'rollout.finished'(p, { rollout, outcome, reason, hostsOk }, time) {
    const r = updateRollout(p, rollout, () => ({ outcome, outcomeReason: reason, finishedAt: time }));
    if (!r) return;
    updateRing(p, r.ring, (ring) => ({
      inFlight: ring.inFlight === rollout ? undefined : ring.inFlight,
      // A rollout to named hosts only (`--limit`) changes those hosts, not what the ring runs.
      ...((outcome === 'succeeded' || hostsOk) && ring.current !== r.release && !r.limit
        ? { current: r.release, history: ring.current ? appended(ring.history, ring.current) : ring.history }
        : {}),
    }));
    if (r.kind === 'deploy' && !r.limit) {
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
    p.gates = appended(p.gates, {
      ring: data.ring,
      release: data.release,
      rollout: data.rollout,
      gate: data.gate,
      ...(data.step !== undefined ? { step: data.step } : {}),
      ok: data.ok,
      log: data.log,
      durationMs: data.durationMs,
      at: time,
    });
    forgetProcesses(
      p,
      (s) =>
        s.kind === 'gate' &&
        s.ring === data.ring &&
        s.release === data.release &&
        s.rollout === data.rollout &&
        s.gate === data.gate &&
        s.step === data.step,
    );
  },
  'ring.verified'(p, { ring, release }, time) {
    setReleaseRing(p, release, ring, { status: 'verified', since: time, verifiedAt: time });
  },
  'ring.failed'(p, { ring, release, reason }, time) {
    setReleaseRing(p, release, ring, { status: 'failed', since: time, reason });
  },
  'ring.unrejected'(p, { ring, release }) {
    // Forget the release's history in this ring, so it is a candidate there again.
    const rings = ownMap(p.releaseRings.get(release));
    rings.delete(ring);
    p.releaseRings.set(release, rings);
  },
  'ring.rejected'(p, { ring, release, reason, by }, time) {
    setReleaseRing(p, release, ring, { status: 'rejected', since: time, reason, by });
  },
  'ring.locked'(p, { ring, reason, by }, time) {
    updateRing(p, ring, () => ({ locked: { reason, by, at: time } }));
  },
  'ring.unlocked'(p, { ring }) {
    updateRing(p, ring, () => ({ locked: undefined }));
  },
  'suite.updated'(p, { ring, rollout, suite, packages, indexes }, time, seq) {
    p.suites.push({ ring, rollout, suite, packages, indexes, at: time, seq });
    updateRollout(p, rollout, () => ({ suiteAt: time }));
  },
  'ring.pinned'(p, { ring, release, reason, by }, time) {
    updateRing(p, ring, () => ({ pinned: { release, reason, by, at: time } }));
  },
  'ring.unpinned'(p, { ring }) {
    updateRing(p, ring, () => ({ pinned: undefined }));
  },
  'host.disabled'(p, { ring, host, reason, by }, time) {
    updateRing(p, ring, (r) => ({ disabled: ownMap(r.disabled).set(host, { reason, by, at: time }) }));
  },
  'host.enabled'(p, { ring, host }) {
    updateRing(p, ring, (r) => {
      const disabled = ownMap(r.disabled);
      disabled.delete(host);
      return { disabled };
    });
  },
  'approval.recorded'(p, data, time) {
    p.approvals = appended(p.approvals, {
      ring: data.ring,
      revision: data.revision,
      by: data.by,
      via: data.via,
      at: time,
      ...(data.comment ? { comment: data.comment } : {}),
      ...(data.identity ? { identity: data.identity } : {}),
    });
  },
  'deploy-request.seen'(p, { request }) {
    p.requestCursor = request.id;
    p.requestsSeen.set(request.id, request.revision);
  },
  'deploy-requests.reset'(p, { to }) {
    p.requestCursor = to;
  },
  'notification.queued'(p, { id, notification }) {
    p.notifications.set(id, { notification, sent: new Map() });
  },
  'notification.sent'(p, { id, notifier, ok }) {
    const entry = p.notifications.get(id);
    if (entry) p.notifications.set(id, { ...entry, sent: ownMap(entry.sent).set(notifier, ok) });
  },
};

export const processKey = (p: ProcessIdentity) => `${p.pid}:${p.startTicks}`;

/** A step finished: its processes are no longer anyone's worry. */
function forgetProcesses(p: Folding, of: (step: StepRef) => boolean): void {
  for (const [key, entry] of p.processes) if (of(entry.step)) p.processes.delete(key);
}

/**
 * Folds one record into the state (records of unknown type are kept in the journal, ignored
 * here). Only the Ledger calls this, on the state it owns.
 */
export function apply(state: LedgerState, record: TypedRecord): void {
  const fold = state as FoldState;
  fold.lastSeq = record.seq;
  const handler = (
    handlers as Partial<Record<string, (p: Folding, d: unknown, t: string, seq: number) => void>>
  )[record.type];
  const pipeline = (record.data as { pipeline?: unknown }).pipeline;
  if (!handler || typeof pipeline !== 'string') return;
  let p = fold.pipelines.get(pipeline);
  if (!p) {
    p = newPipeline(pipeline);
    fold.pipelines.set(pipeline, p);
  }
  handler(p, record.data, record.time, record.seq);
}

/**
 * Folds records into a state: from the empty state, or onward from one already folded up to
 * some seq (the records must follow it). Returns the state.
 *
 * One batch, telling no one between its records: what it makes for one record, later ones
 * change in place. Values a reader took from the state before the call never change.
 */
export function foldRecords(records: Iterable<TypedRecord>, state: LedgerState = emptyState()): LedgerState {
  const outer = drafts;
  drafts = new Set();
  try {
    for (const record of records) apply(state, record);
  } finally {
    drafts = outer;
  }
  return state;
}
