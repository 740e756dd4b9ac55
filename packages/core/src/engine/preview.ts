/**
 * A rollout drawn before it runs (Ansible's `--check --diff`, shipit's undeployed commits): every
 * host step by step, from which version to which, the pauses and the gates, and the commits the
 * release adds to or takes from the ring. Read from the ledger's view and the source alone: it
 * writes nothing and takes no lease, so `plan --hosts`, `deploy --dry-run` and the page can draw
 * it as often as they like.
 */
import type { Revision } from '../contracts/source.js';
import { RingmasterError } from '../errors.js';
import type { RolloutKind } from '../ledger/records.js';
import type { PipelineState, ReleaseState } from '../ledger/state.js';
import { ringState } from '../ledger/state.js';
import type { Pipeline, Ring } from '../model/pipeline.js';
import { describeState } from '../rollout/host-state.js';
import { describeRollout, type PlannedStep, planRollout, type RolloutSpec } from '../rollout/strategy.js';
import { rolloutHosts } from './hosts.js';
import type { Project } from './relations.js';
import { ringAction } from './ring-action.js';

/** A commit as a preview lists it. Its message is the committer's text: untrusted. */
export interface Commit {
  id: string;
  author: string;
  message: string;
}

/** Between what a ring runs and a release: the commits it adds, and the ones it takes away. */
export interface CommitsBetween {
  /** Newest first. */
  added: Commit[];
  /** Newest first. */
  removed: Commit[];
  /** `source`: asked of the source; `ledger`: from the revisions the ledger saw (see `note`). */
  from: 'source' | 'ledger';
  /** Why the source was not the one that answered. */
  note?: string;
}

/**
 * The commits between two revisions: asked of the source (added when `to` is newer, removed
 * when it is older), else — a source that cannot say, or a release from a ring's own line
 * (`fromLedgerOnly`) — from the revisions the ledger saw, in the order it saw them.
 */
export async function commitsBetween(
  pipeline: Pipeline,
  p: PipelineState,
  from: string | undefined,
  to: string,
  fromLedgerOnly: boolean,
): Promise<CommitsBetween> {
  const asCommit = (r: Revision): Commit => ({ id: r.id, author: r.author, message: r.message });
  let note: string | undefined;
  if (from && from !== to && !fromLedgerOnly) {
    try {
      const after = await pipeline.source.log(from);
      const up = after.findIndex((r) => r.id === to);
      if (up >= 0)
        return {
          added: after
            .slice(0, up + 1)
            .reverse()
            .map(asCommit),
          removed: [],
          from: 'source',
        };
      const back = await pipeline.source.log(to);
      const down = back.findIndex((r) => r.id === from);
      if (down >= 0)
        return {
          added: [],
          removed: back
            .slice(0, down + 1)
            .reverse()
            .map(asCommit),
          from: 'source',
        };
      note = 'the source does not have both revisions on one line';
    } catch (error) {
      note = `the source could not be asked: ${error instanceof Error ? error.message : String(error)}`;
    }
  }
  // The ledger's revisions, in the order they were seen.
  const ids = [...p.revisions.keys()];
  const at = (id: string | undefined) => (id ? ids.indexOf(id) : -1);
  const a = at(from);
  const b = at(to);
  const pick = (lo: number, hi: number) =>
    ids
      .slice(lo + 1, hi + 1)
      .reverse()
      .map((id) => asCommit(p.revisions.get(id)!.revision));
  if (from === to) return { added: [], removed: [], from: 'ledger', ...(note ? { note } : {}) };
  return b >= a
    ? { added: pick(a, b), removed: [], from: 'ledger', ...(note ? { note } : {}) }
    : { added: [], removed: pick(b, a), from: 'ledger', ...(note ? { note } : {}) };
}

/** One host of a batch: what the ledger last recorded on it, and the version it gets. */
export interface PreviewHost {
  name: string;
  /** `1.0.3`, `nothing`, `unknown (TIMEOUT: …)`, or `nothing recorded` for a host never read. */
  from: string;
  to: string;
}

/** One step of the rollout, in order: a batch of hosts, a pause, or a verify (the ring's gates). */
export interface PreviewStep {
  /** From 1, as `status` and `resume` number them. */
  step: number;
  kind: 'batch' | 'pause' | 'verify';
  /** A batch's number, from 1. */
  batch?: number;
  hosts?: PreviewHost[];
  /** A pause: until a person resumes the rollout, or this many milliseconds. */
  pause?: 'manual' | number;
  /** A verify: the gates it runs on the hosts done so far. */
  gates?: string[];
}

/** What a rollout of a release to a ring would do: plain data, the same for text and `--json`. */
export interface RolloutPreview {
  pipeline: string;
  ring: string;
  release: string;
  version: string;
  /** What the ring runs now, when it runs something. */
  from?: { release: string; version: string };
  kind: 'deploy' | 'rollback';
  /** The strategy in words: `steps 1 host→pause→verify→100%, max failures 0, then rollback`. */
  strategy: string;
  steps: PreviewStep[];
  /** The gates that decide, after the rollout, whether the release is verified in the ring. */
  finalGates: string[];
  /** The hosts a person named: a host operation that leaves the ring's release as it is. */
  limit?: string[];
  /** The ring is frozen now: the deploy by hand would need to break glass (`--break-glass`). */
  frozen?: string;
  /**
   * Package relations refuse it now, as the command would say (`--force` goes ahead): what the
   * release needs in the ring, or what of the ring it would break.
   */
  refused?: string;
  /**
   * The ring's once-per-rollout steps this rollout runs: a deploy's `before` and `after` steps;
   * a rollback's `down` steps, and the steps it does not undo (they have no down step).
   */
  once?: { before?: string[]; after?: string[]; down?: string[]; notUndone?: string[] };
  commits: CommitsBetween;
}

/**
 * The strategy a rollout of `kind` runs with, and its plan over `hosts`: the one rule
 * `rolloutEntry` records by, so a preview shows the rollout that would be recorded. A rollback or
 * a converge never undoes itself (`halt`); pauses and verifies are for a deploy to the whole
 * ring — a rollback, a converge and a rollout to named hosts (`limited`) go straight through.
 */
export function rolloutPlanFor(
  ring: Ring,
  kind: RolloutKind,
  hosts: readonly string[],
  limited = false,
): { strategy: RolloutSpec; batches: string[][]; steps?: PlannedStep[] } {
  const strategy: RolloutSpec = kind === 'deploy' ? ring.rollout : { ...ring.rollout, onFailure: 'halt' };
  const plan = planRollout(strategy, hosts);
  return {
    strategy,
    batches: plan.batches,
    ...(kind === 'deploy' && !limited && plan.steps ? { steps: plan.steps } : {}),
  };
}

export interface PreviewRolloutInput {
  pipeline: Pipeline;
  /** The pipeline's ledger view, as `pipelineState()` folds it. */
  state: PipelineState;
  ring: string;
  /** The release the rollout installs. */
  release: ReleaseState;
  /** @default 'deploy' */
  kind?: 'deploy' | 'rollback';
  /** The hosts it would reach, in order. @default every host of the ring in rotation */
  hosts?: readonly string[];
  /**
   * Hosts a person named (`--limit`): a host operation, as the real one would be — no pauses,
   * verifies or gates, and the ring's release unchanged.
   */
  limit?: readonly string[];
}

/**
 * Draws a rollout of `release` to a ring without doing it: each step in order (each host of a
 * batch from what the ledger last recorded on it to the release's version), its pauses and
 * verifies, the gates after it, and the commits between what the ring runs and the release
 * (asked of the source, else from the ledger). Reads only.
 *
 * @example
 * ```ts
 * const p = pipelineState(engine.ledger.state, 'shop');
 * const preview = await previewRollout({ pipeline: shop, state: p, ring: 'prod', release: p.releases.get('1.0.5')! });
 * for (const s of preview.steps) console.log(s.step, s.kind, s.hosts?.map((h) => `${h.name} ${h.from} → ${h.to}`));
 * ```
 */
export async function previewRollout(input: PreviewRolloutInput): Promise<RolloutPreview> {
  const { pipeline, state: p, release } = input;
  const kind = input.kind ?? 'deploy';
  const ring = pipeline.rings.find((r) => r.name === input.ring);
  if (!ring)
    throw new RingmasterError('NOT_FOUND', `pipeline ${pipeline.name} has no ring "${input.ring}"`, {
      scope: 'engine',
    });
  const rs = ringState(p, ring.name);
  const current = rs.current ? p.releases.get(rs.current) : undefined;
  const names = input.limit ?? input.hosts ?? rolloutHosts(ring, rs);
  const plan = rolloutPlanFor(ring, kind, names, input.limit !== undefined);
  const gates = ring.gates.map((g) => g.name);
  const hostsOf = (batch: readonly string[]): PreviewHost[] =>
    batch.map((name) => {
      const recorded = rs.hosts.get(name)?.state;
      return { name, from: recorded ? describeState(recorded) : 'nothing recorded', to: release.version };
    });
  const planned: PlannedStep[] = plan.steps ?? plan.batches.map((_, i) => ({ step: i + 1, batch: i }));
  const steps = planned.map((s): PreviewStep => {
    if ('batch' in s)
      return { step: s.step, kind: 'batch', batch: s.batch + 1, hosts: hostsOf(plan.batches[s.batch] ?? []) };
    if ('verify' in s) return { step: s.step, kind: 'verify', gates };
    return { step: s.step, kind: 'pause', pause: s.pause };
  });
  const hasCheckpoints = ring.rollout.steps?.some((s) => typeof s === 'object' && !('hosts' in s));
  return {
    pipeline: pipeline.name,
    ring: ring.name,
    release: release.id,
    version: release.version,
    ...(current ? { from: { release: current.id, version: current.version } } : {}),
    kind,
    strategy: `${describeRollout(plan.strategy)}${kind === 'rollback' && hasCheckpoints ? '; a rollback skips its pauses and verifies' : ''}`,
    steps,
    // Gates verify a deploy of the ring; a rollback goes back to a release verified (or named)
    // already, and a rollout to named hosts changes no ring's release.
    finalGates: kind === 'deploy' && !input.limit ? gates : [],
    ...onceOf(ring, kind, input.limit !== undefined),
    ...(input.limit ? { limit: [...input.limit] } : {}),
    commits: await commitsBetween(
      pipeline,
      p,
      current?.revision,
      release.revision,
      release.feed !== undefined,
    ),
  };
}

/**
 * Why the action itself would be refused at its door, as it would say it: a rollout in flight, a
 * locked ring (for a deploy: a rollback is how one leaves an incident), a pin on another release
 * (`release` undefined: the one a rollback would choose, never the pinned one). A dry run that
 * drew a rollout the real command then refuses would mislead; undefined when it would go ahead.
 */
export function previewRefusal(
  pipeline: Pipeline,
  p: PipelineState,
  ring: string,
  release: string | undefined,
  kind: 'deploy' | 'rollback',
): RingmasterError | undefined {
  const rs = ringState(p, ring);
  const where = `${pipeline.name}/${ring}`;
  // A deploy would carry the rollout in flight on rather than start this one; a rollback refuses.
  if (rs.inFlight)
    return new RingmasterError(
      'LOCKED',
      `${where} has a rollout in flight (${rs.inFlight}): ${kind === 'deploy' ? 'a deploy now would carry it on instead' : 'let it finish first'} (ringmaster resume ${pipeline.name} ${ring}, or the next watch pass)`,
      { scope: 'engine' },
    );
  if (kind === 'deploy' && rs.locked)
    return new RingmasterError(
      'LOCKED',
      `${where} is locked by ${rs.locked.by}: ${rs.locked.reason}; unlock it first`,
      { scope: 'engine' },
    );
  if (rs.pinned && (release === undefined ? kind === 'rollback' : rs.pinned.release !== release))
    return new RingmasterError(
      'STATE',
      `${where} is pinned to ${rs.pinned.release} by ${rs.pinned.by}: ${rs.pinned.reason}; unpin it first (ringmaster unpin ${pipeline.name} ${ring})`,
      { scope: 'engine', details: { pinned: rs.pinned.release, by: rs.pinned.by } },
    );
  return undefined;
}

/**
 * The release a preview draws when none is named. A deploy: what `plan` would promote next in
 * ring `index` (the candidate of the ring's action, promote, wait or blocked). A rollback: what
 * `rollback` would choose, `previous(current)` — the newest release verified there other than the
 * one it runs. `STATE` with the ring's reason when there is none.
 */
export function defaultPreviewRelease(
  pipeline: Pipeline,
  p: PipelineState,
  index: number,
  now: Date,
  kind: 'deploy' | 'rollback',
  previous: (current: string) => ReleaseState | undefined,
  project: Project,
): ReleaseState {
  const ring = pipeline.rings[index]!;
  if (kind === 'rollback') {
    const current = ringState(p, ring.name).current;
    const to = current ? previous(current) : undefined;
    if (!to)
      throw new RingmasterError(
        'STATE',
        `${pipeline.name}/${ring.name} has no earlier release verified there to roll back to; name one with "to"`,
        { scope: 'engine' },
      );
    return to;
  }
  const action = ringAction(pipeline, p, index, now, project);
  const candidate =
    action.action === 'promote' || action.action === 'wait' || action.action === 'blocked'
      ? p.releases.get(action.release)
      : undefined;
  if (!candidate)
    throw new RingmasterError('STATE', `nothing to promote to ${ring.name}: ${action.reason}`, {
      scope: 'engine',
    });
  return candidate;
}

/** The once-steps a rollout of `kind` runs (none for one to named hosts), for the preview. */
function onceOf(ring: Ring, kind: 'deploy' | 'rollback', limited: boolean): Pick<RolloutPreview, 'once'> {
  const { before, after } = ring.once;
  if (limited || before.length + after.length === 0) return {};
  if (kind === 'deploy')
    return { once: { before: before.map((s) => s.name), after: after.map((s) => s.name) } };
  const all = [...before, ...after];
  return {
    once: {
      down: all
        .filter((s) => s.down)
        .reverse()
        .map((s) => s.name),
      notUndone: all.filter((s) => !s.down).map((s) => s.name),
    },
  };
}
