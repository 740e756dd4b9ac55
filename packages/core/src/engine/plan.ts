/**
 * Plan: what the next tick would do and why, without doing it. It reads the ledger and the
 * policies (and, unless told not to, asks each source for new revisions); it never builds,
 * installs or writes the ledger. It follows the ring runner's order of concerns: an in-flight
 * rollout is resumed, a lock stops everything, a fresh release runs its gates, then the policy.
 */
import { isRingmasterError } from '../errors.js';
import type { PipelineState } from '../ledger/state.js';
import { ringState } from '../ledger/state.js';
import type { Pipeline } from '../model/pipeline.js';
import { decideRing } from './decide.js';

/** What the next tick would do in one ring. */
export interface RingPlan {
  ring: string;
  /**
   * `resume` an in-flight rollout, run its `gates`, `promote` a release, `wait` for its policy,
   * `blocked` by its policy, `locked` by a person, or `idle` (nothing newer to take).
   */
  action: 'resume' | 'gates' | 'promote' | 'wait' | 'blocked' | 'locked' | 'idle';
  release?: string;
  version?: string;
  /** The rollout that would be resumed. */
  rollout?: string;
  /** The gates that would run. */
  gates?: string[];
  /** When a wait may end (ISO time), when the policy knows. */
  until?: string;
  /** The ring's policy, as a person reads it. */
  policy: string;
  /** Why: the policy's reason, the lock's reason, or what the ring waits for. */
  reason: string;
}

/** A revision the next tick would build. */
export interface PlannedBuild {
  revision: string;
  author: string;
  message: string;
  /** `ledger`: seen and not built yet; `source`: new in the source since the last poll. */
  from: 'ledger' | 'source';
}

/** A deploy request in the repository the next tick would record as an approval. */
export interface PlannedApproval {
  ring: string;
  revision: string;
  by: string;
  /** The request's name (`prod/2011-07-08-10:00`'s timestamp, a tag's suffix). */
  name: string;
  /** False when the request names a ring the pipeline does not have (it would be ignored). */
  known: boolean;
}

export interface PipelinePlan {
  pipeline: string;
  builds: PlannedBuild[];
  /** Deploy requests (svn copies, git tags) the next tick would record as approvals. */
  approvals: PlannedApproval[];
  /** Why the source could not be asked for new revisions, when it could not. */
  pollError?: string;
  rings: RingPlan[];
}

/** The result of `engine.plan()`. */
export interface Plan {
  at: string;
  pipelines: PipelinePlan[];
}

/** What ring `index` would do at the next tick, from the ledger state alone. */
export function planRing(pipeline: Pipeline, p: PipelineState, index: number, now: Date): RingPlan {
  const ring = pipeline.rings[index]!;
  const rs = ringState(p, ring.name);
  const base = { ring: ring.name, policy: ring.policy.describe() };
  const about = (id: string) => {
    const release = p.releases.get(id);
    return { release: id, ...(release ? { version: release.version } : {}) };
  };
  if (rs.inFlight) {
    const r = p.rollouts.get(rs.inFlight);
    const done = r ? [...r.hosts.values()].filter((h) => h.finished).length : 0;
    return {
      ...base,
      action: 'resume',
      rollout: rs.inFlight,
      ...(r ? about(r.release) : {}),
      reason: `${r?.kind ?? 'rollout'} ${rs.inFlight} was interrupted after ${done}/${r?.batches.flat().length ?? 0} hosts; it is resumed first`,
    };
  }
  if (rs.locked) {
    return {
      ...base,
      action: 'locked',
      reason: `locked by ${rs.locked.by} since ${rs.locked.at}: ${rs.locked.reason}`,
    };
  }
  if (rs.current && p.releaseRings.get(rs.current)?.get(ring.name)?.status === 'verifying') {
    return {
      ...base,
      action: 'gates',
      ...about(rs.current),
      gates: ring.gates.map((g) => g.name),
      reason: ring.gates.length
        ? `${rs.current} is deployed; gates ${ring.gates.map((g) => g.name).join(', ')} decide whether it is verified`
        : `${rs.current} is deployed and has no gates: it is verified`,
    };
  }
  const decision = decideRing(pipeline, p, index, now);
  const chosen = decision.promote ?? decision.newest;
  if (!chosen) return { ...base, action: 'idle', reason: decision.idle ?? 'nothing to do' };
  const d = chosen.decision;
  return {
    ...base,
    action: d.verdict,
    release: chosen.release.id,
    version: chosen.release.version,
    ...(d.verdict === 'wait' && d.until ? { until: d.until } : {}),
    reason: d.reason,
  };
}

/** Plans one pipeline: builds (asking the source when `poll`), then each ring. */
export async function planPipeline(
  pipeline: Pipeline,
  p: PipelineState,
  now: Date,
  poll: boolean,
): Promise<PipelinePlan> {
  const builds: PlannedBuild[] = p.pending.flatMap((id) => {
    const r = p.revisions.get(id)?.revision;
    return r ? [{ revision: r.id, author: r.author, message: r.message, from: 'ledger' as const }] : [];
  });
  let pollError: string | undefined;
  if (poll) {
    try {
      for (const r of await pipeline.source.log(p.cursor)) {
        if (!p.revisions.has(r.id))
          builds.push({ revision: r.id, author: r.author, message: r.message, from: 'source' });
      }
    } catch (error) {
      pollError = isRingmasterError(error, 'CURSOR_LOST')
        ? `history was rewritten under ${p.cursor}; the next tick starts again from the head`
        : error instanceof Error
          ? error.message
          : String(error);
    }
  }
  const approvals: PlannedApproval[] = [];
  if (poll && pipeline.source.deployRequests) {
    try {
      for (const r of await pipeline.source.deployRequests(p.requestCursor))
        approvals.push({
          ring: r.ring,
          revision: r.revision,
          by: r.author,
          name: r.name,
          known: pipeline.rings.some((ring) => ring.name === r.ring),
        });
    } catch (error) {
      pollError ??= `deploy requests: ${error instanceof Error ? error.message : String(error)}`;
    }
  }
  return {
    pipeline: pipeline.name,
    builds,
    approvals,
    ...(pollError ? { pollError } : {}),
    rings: pipeline.rings.map((_, index) => planRing(pipeline, p, index, now)),
  };
}

/** Renders a plan as lines a person reads. */
export function formatPlan(plan: Plan): string {
  const lines: string[] = [];
  for (const p of plan.pipelines) {
    lines.push(`${p.pipeline}:`);
    if (p.pollError) lines.push(`  source: cannot poll: ${p.pollError}`);
    for (const b of p.builds)
      lines.push(`  build ${b.revision.slice(0, 12)} by ${b.author}: ${b.message.split('\n')[0]}`);
    if (!p.builds.length && !p.pollError) lines.push('  build: nothing new');
    for (const a of p.approvals)
      lines.push(
        `  approval ${a.revision.slice(0, 12)} for ${a.ring} by ${a.by} (${a.name})${a.known ? '' : ': unknown ring, ignored'}`,
      );
    for (const r of p.rings) {
      const what = r.version ?? r.release ?? '';
      const head =
        r.action === 'resume'
          ? `resume ${r.rollout}`
          : r.action === 'gates'
            ? `run gates on ${what}`
            : r.action === 'promote'
              ? `promote ${what}`
              : r.action === 'wait'
                ? `wait${r.until ? ` until ${r.until}` : ''} with ${what}`
                : r.action === 'blocked'
                  ? `blocked: ${what}`
                  : r.action;
      lines.push(`  ${r.ring}: ${head} — ${r.reason}`);
    }
  }
  return lines.join('\n');
}
