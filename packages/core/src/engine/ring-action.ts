/**
 * The ring state machine: the one place that decides what a ring does next. A pure function of
 * the ledger's read-only view, the ring and the time, in one order of concerns — a rollout in
 * flight is resumed; a lock stops everything, and so does a ring whose every host is disabled; a
 * release just rolled out runs its gates; a pin holds the ring on its release; then the ring's policy promotes, waits (until T, when it knows)
 * or is blocked (because Y); else the ring is idle, and says why. The engine acts on the answer;
 * `plan`, `explain`, `status` and the page only put it in words.
 */
import { plainMessage } from '../errors.js';
import type { PipelineState, ReleaseInRing, ReleaseState, RolloutState } from '../ledger/state.js';
import { ringState } from '../ledger/state.js';
import { formatDuration } from '../model/duration.js';
import type { Pipeline } from '../model/pipeline.js';
import type { Decision } from '../policy/types.js';
import { describeStep } from '../rollout/strategy.js';
import { type Candidate, candidates, feederOf } from './eligibility.js';
import { allDisabled } from './hosts.js';
import { type Project, type RelationVerdict, relationVerdict } from './relations.js';

/** The newest failure that still matters in a ring: of its current release, or of a newer one. */
export interface RingFailure {
  release: string;
  version: string;
  /** `rejected`: rolled back, or rejected by a person; it stays out until unpinned. `failed`: its rollout or a gate failed. */
  status: 'rejected' | 'failed';
  /** ISO time. */
  at: string;
  /** Who rejected it (a person, or `engine` after a failed gate). */
  by?: string;
  /** What failed and why: `gate smoke failed: curl: (7) …`, `rollout rolled-back: …`. */
  reason: string;
}

interface Common {
  ring: string;
  /** What the ring runs now. */
  current?: { release: string; version: string };
  lastFailure?: RingFailure;
  /** One sentence: what the ring does next and why. */
  reason: string;
}

/**
 * Where a rollout with steps is: the first step not done yet, and — for a pause it reached —
 * what it waits for: a person (`resume`), or the engine's clock (`until`).
 */
export interface RolloutPosition {
  /** From 1. */
  step: number;
  total: number;
  /** `batch 2 (3 hosts)`, `pause for a person`, `pause 10m`, `verify`. */
  what: string;
  waiting?: { for: 'person'; since: string } | { for: 'time'; since: string; until: string };
}

/** The position of `rollout` among its steps at `now`; undefined for one without steps or past them. */
export function rolloutPosition(
  pipeline: Pipeline,
  p: PipelineState,
  rollout: RolloutState,
  now: Date,
): RolloutPosition | undefined {
  const steps = rollout.steps;
  // Aborted: it waits for nothing, it rolls back (or halts) at its next step boundary.
  if (!steps || rollout.rollbacks.size > 0 || rollout.aborted) return undefined;
  const ring = pipeline.rings.find((r) => r.name === rollout.ring);
  for (const s of steps) {
    const at = { step: s.step, total: steps.length, what: describeStep(s, rollout.batches) };
    if ('batch' in s) {
      if ((rollout.batches[s.batch] ?? []).every((h) => rollout.hosts.get(h)?.finished)) continue;
      return at;
    }
    if ('verify' in s) {
      const passed = (ring?.gates ?? []).every((g) =>
        p.gates.some((r) => r.rollout === rollout.id && r.step === s.step && r.gate === g.name && r.ok),
      );
      if (passed) continue;
      return at;
    }
    const paused = rollout.pauses.get(s.step);
    if (paused?.resumed) continue;
    if (!paused) return at; // reached, not recorded yet: the next pass records it
    if (paused.until === undefined) return { ...at, waiting: { for: 'person', since: paused.at } };
    if (Date.parse(paused.until) <= now.getTime()) continue;
    return { ...at, waiting: { for: 'time', since: paused.at, until: paused.until } };
  }
  return undefined;
}

interface Move {
  release: string;
  version: string;
  /** When the release became a candidate for this ring (ISO). */
  readyAt: string;
  decision: Decision;
  /**
   * Its policy lets it in, but its package relations to what the ring runs do not (yet): what
   * it needs, or breaks, there.
   */
  needs?: RingNeeds;
}

export type RingAction = Common &
  (
    | {
        /** A rollout is in flight (or parked): it is driven to its end first. */
        action: 'resume';
        rollout: string;
        kind: 'deploy' | 'rollback' | 'converge';
        release: string;
        version: string;
        done: number;
        total: number;
        parked?: { reason: string; at: string };
        /** For a rollout with steps: which one it is at, and what it waits for. */
        step?: RolloutPosition;
      }
    | { action: 'locked'; locked: { by: string; at: string; reason: string } }
    | {
        /** Every host of the ring is out of rotation: nothing can be rolled out until one is enabled. */
        action: 'disabled';
        disabled: string[];
      }
    | {
        /** Held on the release it runs by a person: automatic promotion waits until unpinned. */
        action: 'pinned';
        pinned: { release: string; by: string; at: string; reason: string };
        /** The newest release the ring's policy would otherwise consider, when there is one. */
        held?: { release: string; version: string };
      }
    | {
        /** The current release was rolled out; its gates decide whether it is verified. */
        action: 'verifying';
        release: string;
        version: string;
        gates: string[];
      }
    | (Move & {
        action: 'promote';
        /** A newer candidate the policy holds back, when there is one. */
        newer?: Move;
      })
    | (Move & { action: 'wait'; until?: string })
    | (Move & { action: 'blocked' })
    | { action: 'idle' }
  );

export type RingActionKind = RingAction['action'];

const move = (c: Candidate): Move => ({
  release: c.release.id,
  version: c.release.version,
  readyAt: c.readyAt.toISOString(),
  decision: c.decision,
});

/** The first line of a reason, the `[ringmaster] [scope]` prefixes left out. */
function firstLine(text: string): string {
  return (plainMessage(text).split('\n')[0] ?? '').trim();
}

/**
 * The newest failure in the ring that still matters: of the release it runs or of a newer one
 * (a failure older than what the ring went on to run is history).
 */
export function lastFailureIn(pipeline: Pipeline, p: PipelineState, ring: string): RingFailure | undefined {
  const rs = ringState(p, ring);
  const current = rs.current ? p.releases.get(rs.current) : undefined;
  let newest: { release: ReleaseState; entry: ReleaseInRing } | undefined;
  for (const [id, rings] of p.releaseRings) {
    const entry = rings.get(ring);
    if (entry?.status !== 'failed' && entry?.status !== 'rejected') continue;
    const release = p.releases.get(id);
    if (!release) continue;
    if (current && pipeline.packager.compareVersions(release.version, current.version) < 0) continue;
    if (!newest || entry.since > newest.entry.since) newest = { release, entry };
  }
  if (!newest) return undefined;
  const { release, entry } = newest;
  return {
    release: release.id,
    version: release.version,
    status: entry.status as 'failed' | 'rejected',
    at: entry.since,
    ...(entry.by ? { by: entry.by } : {}),
    reason: firstLine(entry.reason ?? `${entry.status} in ${ring}`),
  };
}

/** Decides what ring `index` of the pipeline does next, from the ledger's view and the time. */
export function ringAction(
  pipeline: Pipeline,
  p: PipelineState,
  index: number,
  now: Date,
  project: Project,
): RingAction {
  const ring = pipeline.rings[index]!;
  const rs = ringState(p, ring.name);
  const currentRelease = rs.current ? p.releases.get(rs.current) : undefined;
  const lastFailure = lastFailureIn(pipeline, p, ring.name);
  const common = {
    ring: ring.name,
    ...(currentRelease ? { current: { release: currentRelease.id, version: currentRelease.version } } : {}),
    ...(lastFailure ? { lastFailure } : {}),
  };

  const inFlight = rs.inFlight ? p.rollouts.get(rs.inFlight) : undefined;
  if (inFlight) {
    const version = p.releases.get(inFlight.release)?.version ?? inFlight.release;
    const done = [...inFlight.hosts.values()].filter((h) => h.finished).length;
    const total = inFlight.batches.flat().length;
    const what = `${inFlight.kind} ${inFlight.id} of ${version} to ${ring.name}`;
    const step = rolloutPosition(pipeline, p, inFlight, now);
    const at = step ? ` at step ${step.step} of ${step.total} (${step.what})` : '';
    const hostsDone = `${done}/${total} hosts done`;
    let reason: string;
    if (inFlight.aborted)
      reason = `${what} was aborted by ${inFlight.aborted.by} (${inFlight.aborted.reason}; ${hostsDone}): it applies ${inFlight.strategy.onFailure} to the hosts done at its next step`;
    else if (step?.waiting?.for === 'person')
      reason = `${what} is paused${at}, ${hostsDone}: it waits for a person to resume it (ringmaster resume ${pipeline.name} ${ring.name}) or abort it (ringmaster abort ${pipeline.name} ${ring.name})${rs.locked ? `; ${ring.name} is locked by ${rs.locked.by} (${rs.locked.reason}): unlock it first` : ''}`;
    else if (step?.waiting?.for === 'time')
      reason = `${what} is paused${at}, ${hostsDone}, until ${step.waiting.until} (in ${formatDuration(Date.parse(step.waiting.until) - now.getTime())})`;
    else if (inFlight.parked)
      reason = `${what} is parked${at} (${inFlight.parked.reason}; ${hostsDone}); it resumes at the next pass`;
    else reason = `${what} is under way${at} (${hostsDone}); it is driven to its end first`;
    return {
      ...common,
      action: 'resume',
      rollout: inFlight.id,
      kind: inFlight.kind,
      release: inFlight.release,
      version,
      done,
      total,
      ...(inFlight.parked ? { parked: inFlight.parked } : {}),
      ...(step ? { step } : {}),
      reason,
    };
  }

  if (rs.locked) {
    return {
      ...common,
      action: 'locked',
      locked: rs.locked,
      reason: `${ring.name} is locked by ${rs.locked.by} since ${rs.locked.at}: ${rs.locked.reason}`,
    };
  }

  if (ring.target.hosts.length > 0 && ring.target.hosts.every((h) => rs.disabled.has(h.name))) {
    return {
      ...common,
      action: 'disabled',
      disabled: [...rs.disabled.keys()],
      reason: allDisabled(ring, rs),
    };
  }

  if (currentRelease && p.releaseRings.get(currentRelease.id)?.get(ring.name)?.status === 'verifying') {
    const gates = ring.gates.map((g) => g.name);
    return {
      ...common,
      action: 'verifying',
      release: currentRelease.id,
      version: currentRelease.version,
      gates,
      reason: gates.length
        ? `${currentRelease.version} is deployed to ${ring.name}; gates ${gates.join(', ')} decide whether it is verified`
        : `${currentRelease.version} is deployed to ${ring.name} and has no gates: it is verified at the next pass`,
    };
  }

  // Pinned: the pinned release's gates still ran (above); what waits is moving on from it.
  if (rs.pinned) {
    const version = p.releases.get(rs.pinned.release)?.version ?? rs.pinned.release;
    const next = candidates(pipeline, p, index, now)[0];
    return {
      ...common,
      action: 'pinned',
      pinned: rs.pinned,
      ...(next ? { held: { release: next.release.id, version: next.release.version } } : {}),
      reason: `${ring.name} is pinned to ${version} by ${rs.pinned.by}: ${rs.pinned.reason}; ${
        next ? `${next.release.version} waits until it is unpinned` : 'nothing newer is ready'
      }`,
    };
  }

  const all = candidates(pipeline, p, index, now);
  const promote = all.find((c) => c.decision.verdict === 'promote');
  const newest = all[0];
  // The policy lets it in; its relations to what the ring runs must let it in too.
  const unmet = promote && relationsOf(project, pipeline, ring.name, promote);
  if (promote && unmet) {
    return {
      ...common,
      action: unmet.together || unmet.error ? 'blocked' : 'wait',
      ...move(promote),
      needs: unmet,
      reason: `${promote.release.version} ${unmet.together || unmet.error ? 'is blocked for' : 'waits for'} ${ring.name}: ${unmet.reason}`,
    };
  }
  if (promote) {
    const held = newest && newest !== promote ? newest : undefined;
    return {
      ...common,
      action: 'promote',
      ...move(promote),
      ...(held ? { newer: move(held) } : {}),
      reason: `${promote.release.version} is being promoted to ${ring.name}: ${promote.decision.reason}${
        held ? `; newer ${held.release.version} ${held.decision.verdict}s: ${held.decision.reason}` : ''
      }`,
    };
  }
  if (newest) {
    const d = newest.decision;
    if (d.verdict === 'wait') {
      const when = d.until
        ? ` (until ${d.until}, in ${formatDuration(Date.parse(d.until) - now.getTime())})`
        : '';
      // Said now, so a person approving it knows it would wait for something else after.
      const also = relationsOf(project, pipeline, ring.name, newest);
      return {
        ...common,
        action: 'wait',
        ...move(newest),
        ...(also ? { needs: also } : {}),
        ...(d.until ? { until: d.until } : {}),
        reason: `${newest.release.version} waits for ${ring.name}: ${d.reason}${when}${also ? `; then it also ${also.error ? `cannot be checked: ${also.reason}` : also.together ? `is blocked on its relations: ${also.reason}` : `waits on its relations: ${also.reason}`}` : ''}`,
      };
    }
    return {
      ...common,
      action: 'blocked',
      ...move(newest),
      reason: `${newest.release.version} is blocked for ${ring.name}: ${d.reason}`,
    };
  }
  return { ...common, action: 'idle', reason: idleReason(pipeline, p, index, lastFailure) };
}

/**
 * Why the relations of `candidate` keep it out of ring `ring`, or undefined when they do not.
 * A relation that does not parse is reported as such (the ring is blocked, and says why), not
 * thrown: every view of the ring asks this.
 */
function relationsOf(
  project: Project,
  pipeline: Pipeline,
  ring: string,
  candidate: Candidate,
): RingNeeds | undefined {
  try {
    return relationVerdict(project, pipeline, ring, candidate.release);
  } catch (error) {
    const reason = plainMessage((error as Error).message);
    return { problems: [], reason, error: reason };
  }
}

/** Why the ring waits for other pipelines (`Move.needs`). */
export type RingNeeds = RelationVerdict & {
  /** Set when the relations could not be checked (one does not parse): the ring is blocked. */
  error?: string;
};

/** Why nothing moves: what the ring runs, what was kept out of it, or what it waits to be given. */
function idleReason(
  pipeline: Pipeline,
  p: PipelineState,
  index: number,
  failure: RingFailure | undefined,
): string {
  const ring = pipeline.rings[index]!;
  const rs = ringState(p, ring.name);
  const current = rs.current ? p.releases.get(rs.current) : undefined;
  const runs = current ? `${ring.name} runs ${current.version}` : `${ring.name} runs nothing`;
  // It runs a release someone marked bad: say so, and how to leave it.
  if (failure && current && failure.release === current.id && failure.status === 'rejected')
    return `${runs}, which is rejected here (${failure.reason}): roll back with ringmaster rollback ${pipeline.name} ${ring.name}`;
  if (failure && failure.release !== current?.id) {
    const what = failure.status === 'rejected' ? 'was rejected' : 'failed';
    const next =
      failure.status === 'rejected'
        ? `allow ${failure.version} to let it through`
        : 'a newer release is tried when one is ready';
    return `${runs}; ${failure.version} ${what} here at ${failure.at} (${failure.reason}); ${next}`;
  }
  const feeder = feederOf(pipeline, index);
  if (feeder) return `${runs}; ${feeder.name} has verified nothing newer that ${ring.name} has not tried`;
  return `${runs}; no newer release has been built${ring.line ? ` from ${ring.name}'s own line` : ''}`;
}
