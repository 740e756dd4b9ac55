/**
 * What the page shows, as data: every ring of every pipeline, the release timeline, each host's
 * version and last step. Built from the ledger's folded state and the ring state machine
 * (`ringAction`): the page puts the engine's own answer in words and never decides anything itself.
 */
import {
  describeRollout,
  describeState,
  type Engine,
  type HostState,
  type Pipeline,
  type PipelineState,
  type Project,
  pipelineState,
  type RingAction,
  type RingFailure,
  ringAction,
  ringState,
  shortReason,
} from '@ringmaster/core';

export interface HostView {
  name: string;
  /** What the ledger last recorded for the host, in words (`1.0.3`, `unknown (TARGET: …)`). */
  state: string;
  version?: string;
  /** The host does not run the ring's release (and was read). */
  drift: boolean;
  /** The host could not be read when last tried: why. */
  unreachable?: string;
  /** Out of rotation, by whom and why: neither drift nor unreachable. */
  disabled?: { by: string; reason: string; at: string };
  /** The newest step a rollout took on the host. */
  lastStep?: { rollout: string; phase: 'deploy' | 'rollback'; at: string; ok?: boolean; error?: string };
}

export interface RingView {
  name: string;
  policy: string;
  rollout: string;
  gates: string[];
  release?: { id: string; version: string };
  action: RingAction['action'];
  /** The state in a few words: `rolling 2/4 hosts`, `locked by alice: incident 42`, `idle`. */
  state: string;
  /** The state machine's sentence: what the ring does next and why. */
  summary: string;
  /** The release the ring would take next and its policy's verdict on it. */
  candidate?: { release: string; version: string; verdict: string; reason: string; until?: string };
  /** Hosts per version they run, most hosts first; `unknown` for the ones that could not be read. */
  versions: { label: string; hosts: string[] }[];
  drift: string[];
  unreachable: { host: string; reason: string }[];
  /** Hosts out of rotation, with who took each out and why. */
  disabled: { host: string; by: string; reason: string }[];
  lastFailure?: RingFailure;
  locked?: { by: string; at: string; reason: string };
  /** Held on a release by a person. */
  pinned?: { release: string; by: string; at: string; reason: string };
  /** A rollout held by a pause step: which one, and what it waits for. */
  paused?: { rollout: string; step: number; total: number; for: 'person' | 'time'; until?: string };
  hosts: HostView[];
}

export interface ReleaseView {
  id: string;
  version: string;
  revision: string;
  author: string;
  message: string;
  createdAt: string;
  /** Per ring: the release's standing there (`verified`, `rejected`…), or absent. */
  rings: Record<string, { status: string; since: string; reason?: string } | undefined>;
  /** The commits the release brought, newest first (from the ledger's revisions). */
  commits: { id: string; author: string; message: string }[];
}

export interface PipelineView {
  name: string;
  rings: RingView[];
  releases: ReleaseView[];
  /** Nothing built yet: the page draws the rings from the config alone. */
  empty: boolean;
}

export interface ProjectView {
  at: string;
  /** The ledger seq the view was drawn at. */
  seq: number;
  pipelines: PipelineView[];
}

/** Releases on the timeline at most, per pipeline (the newest). */
const TIMELINE = 20;

function versionOf(state: HostState | undefined): string | undefined {
  return state && (state.status === 'installed' || state.status === 'half-configured')
    ? state.version
    : undefined;
}

/** The state of a ring in a few words, from its action. */
function stateWords(action: RingAction): string {
  switch (action.action) {
    case 'resume':
      if (action.step?.waiting)
        return `paused at step ${action.step.step}/${action.step.total}: ${action.kind} of ${action.version}, ${action.done}/${action.total} hosts; ${
          action.step.waiting.for === 'person' ? 'waits for a person' : `until ${action.step.waiting.until}`
        }`;
      return action.parked
        ? `parked: ${action.kind} of ${action.version}, ${action.done}/${action.total} hosts; ${action.parked.reason}`
        : `rolling: ${action.kind} of ${action.version}, ${action.done}/${action.total} hosts`;
    case 'locked':
      return `locked by ${action.locked.by}: ${action.locked.reason}`;
    case 'pinned':
      return `pinned by ${action.pinned.by}: ${action.pinned.reason}`;
    case 'disabled':
      return 'every host disabled';
    case 'verifying':
      return `verifying ${action.version}${action.gates.length ? `: gates ${action.gates.join(', ')}` : ''}`;
    case 'promote':
      return `promoting ${action.version}`;
    case 'wait':
      return `waiting: ${action.version}`;
    case 'blocked':
      return `blocked: ${action.version}`;
    default:
      return 'idle';
  }
}

/**
 * The newest step of each host in a ring's rollouts: from the newest rollout back, until every
 * one of the ring's `hosts` has one (so a long history is not walked for every page).
 */
function lastSteps(p: PipelineState, ring: string, hosts: number): Map<string, HostView['lastStep']> {
  const out = new Map<string, HostView['lastStep']>();
  const ids = ringState(p, ring).rollouts;
  for (let i = ids.length - 1; i >= 0 && out.size < hosts; i--) {
    const rollout = p.rollouts.get(ids[i]!);
    if (!rollout) continue;
    for (const [phase, steps] of [
      ['rollback', rollout.rollbacks],
      ['deploy', rollout.hosts],
    ] as const) {
      for (const [host, step] of steps) {
        if (out.has(host)) continue;
        out.set(host, {
          rollout: rollout.id,
          phase,
          at: step.finished?.at ?? step.startedAt,
          ...(step.finished ? { ok: step.finished.ok } : {}),
          ...(step.finished?.error ? { error: step.finished.error } : {}),
        });
      }
    }
  }
  return out;
}

function ringView(
  pipeline: Pipeline,
  p: PipelineState,
  index: number,
  now: Date,
  project: Project,
): RingView {
  const ring = pipeline.rings[index]!;
  const rs = ringState(p, ring.name);
  const action = ringAction(pipeline, p, index, now, project);
  const current = rs.current ? p.releases.get(rs.current) : undefined;
  const steps = lastSteps(p, ring.name, ring.target.hosts.length);
  // A host the rollout in flight updated runs what it should: it is not drift.
  const rolling = rs.inFlight ? p.rollouts.get(rs.inFlight) : undefined;
  const rollingVersion = rolling ? p.releases.get(rolling.release)?.version : undefined;
  const hosts: HostView[] = ring.target.hosts.map((h) => {
    const recorded = rs.hosts.get(h.name);
    const state = recorded?.state;
    const version = versionOf(state);
    const off = rs.disabled.get(h.name);
    const unreachable = !off && state?.status === 'unknown' ? shortReason(state.reason) : undefined;
    const updated =
      rolling?.hosts.get(h.name)?.finished?.ok === true &&
      state?.status === 'installed' &&
      state.version === rollingVersion;
    const drift =
      !off &&
      state !== undefined &&
      state.status !== 'unknown' &&
      !updated &&
      (current
        ? !(state.status === 'installed' && state.version === current.version)
        : state.status !== 'absent');
    const step = steps.get(h.name);
    return {
      name: h.name,
      state: state ? describeState(state) : 'nothing recorded',
      ...(version ? { version } : {}),
      drift,
      ...(unreachable ? { unreachable } : {}),
      ...(off ? { disabled: off } : {}),
      ...(step ? { lastStep: step } : {}),
    };
  });
  const groups = new Map<string, string[]>();
  for (const h of hosts) {
    const label = h.disabled
      ? 'disabled'
      : h.unreachable
        ? 'unknown'
        : (h.version ?? (h.state === 'nothing recorded' ? 'nothing' : h.state));
    const group = groups.get(label);
    if (group) group.push(h.name);
    else groups.set(label, [h.name]);
  }
  const candidate =
    action.action === 'promote' || action.action === 'wait' || action.action === 'blocked'
      ? {
          release: action.release,
          version: action.version,
          // Its policy may let it in while its package relations keep it out: say the latter.
          verdict:
            action.needs && action.decision.verdict === 'promote' ? action.action : action.decision.verdict,
          reason:
            action.needs && action.decision.verdict === 'promote'
              ? action.needs.reason
              : action.decision.reason,
          ...(action.decision.verdict === 'wait' && action.decision.until
            ? { until: action.decision.until }
            : {}),
        }
      : undefined;
  return {
    name: ring.name,
    policy: ring.policy.describe(),
    rollout: describeRollout(ring.rollout),
    gates: ring.gates.map((g) => g.name),
    ...(current ? { release: { id: current.id, version: current.version } } : {}),
    action: action.action,
    state: stateWords(action),
    summary: action.reason,
    ...(candidate ? { candidate } : {}),
    versions: [...groups]
      .map(([label, names]) => ({ label, hosts: names }))
      .sort((a, b) => b.hosts.length - a.hosts.length),
    drift: hosts.filter((h) => h.drift).map((h) => h.name),
    unreachable: hosts.filter((h) => h.unreachable).map((h) => ({ host: h.name, reason: h.unreachable! })),
    disabled: hosts.flatMap((h) =>
      h.disabled ? [{ host: h.name, by: h.disabled.by, reason: h.disabled.reason }] : [],
    ),
    ...(action.lastFailure ? { lastFailure: action.lastFailure } : {}),
    ...(rs.locked ? { locked: rs.locked } : {}),
    ...(rs.pinned ? { pinned: rs.pinned } : {}),
    ...(action.action === 'resume' && action.step?.waiting
      ? {
          paused: {
            rollout: action.rollout,
            step: action.step.step,
            total: action.step.total,
            for: action.step.waiting.for,
            ...(action.step.waiting.for === 'time' ? { until: action.step.waiting.until } : {}),
          },
        }
      : {}),
    hosts,
  };
}

/**
 * The commits of each release: the revisions seen (in the order the ledger saw them) since the
 * previous release on the same line, newest first.
 */
export function commitsByRelease(p: PipelineState): Map<string, ReleaseView['commits']> {
  const out = new Map<string, ReleaseView['commits']>();
  const pending = new Map<string, ReleaseView['commits']>();
  for (const [id, revision] of p.revisions) {
    const line = revision.feed ?? '';
    const buffer = pending.get(line) ?? [];
    buffer.push({ id, author: revision.revision.author, message: revision.revision.message });
    const release = p.releaseByRevision.get(id);
    if (release) {
      out.set(release, buffer.reverse());
      pending.delete(line);
    } else pending.set(line, buffer);
  }
  return out;
}

function pipelineView(pipeline: Pipeline, p: PipelineState, now: Date, project: Project): PipelineView {
  const commits = commitsByRelease(p);
  const releases = [...p.releases.values()].sort((a, b) => b.index - a.index).slice(0, TIMELINE);
  return {
    name: pipeline.name,
    rings: pipeline.rings.map((_, i) => ringView(pipeline, p, i, now, project)),
    releases: releases.map((r) => {
      const standing = p.releaseRings.get(r.id);
      return {
        id: r.id,
        version: r.version,
        revision: r.revision,
        author: r.author,
        message: r.message,
        createdAt: r.createdAt,
        rings: Object.fromEntries(
          pipeline.rings.map((ring) => {
            const s = standing?.get(ring.name);
            return [
              ring.name,
              s ? { status: s.status, since: s.since, ...(s.reason ? { reason: s.reason } : {}) } : undefined,
            ];
          }),
        ),
        commits: commits.get(r.id) ?? [],
      };
    }),
    empty: p.releases.size === 0,
  };
}

/** The whole project as the page shows it, from the engine's ledger state as it is now. */
export function projectView(engine: Engine, now: Date = engine.clock.now()): ProjectView {
  const state = engine.ledger.state;
  return {
    at: now.toISOString(),
    seq: state.lastSeq,
    pipelines: [...engine.pipelines.values()].map((pipeline) =>
      pipelineView(pipeline, pipelineState(state, pipeline.name), now, engine.project),
    ),
  };
}
