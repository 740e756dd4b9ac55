/**
 * Plan: what the next tick would do and why, without doing it. The builds it would start (asking
 * every line the intake polls for new revisions, unless told not to), the deploy requests it
 * would record, and per ring the ring state machine's answer in words. It never builds,
 * installs or writes the ledger.
 */
import type { DeployRequest } from '../contracts/source.js';
import { isRingmasterError } from '../errors.js';
import type { PipelineState } from '../ledger/state.js';
import type { Pipeline } from '../model/pipeline.js';
import { linesOf, unseenRequests } from './intake.js';
import type { Project } from './relations.js';
import { type RingAction, type RingActionKind, ringAction } from './ring-action.js';

/** What the next tick would do in one ring: the ring's action, with its policy in words. */
export interface RingPlan {
  ring: string;
  /**
   * `resume` a rollout in flight, `verifying` (its gates run), `promote` a release, `wait` for
   * its policy, `blocked` by its policy, `locked` or `pinned` by a person, or `idle` (nothing
   * newer to take).
   */
  action: RingActionKind;
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
  /** Why: the state machine's reason. */
  reason: string;
}

/** A revision the next tick would build. */
export interface PlannedBuild {
  revision: string;
  author: string;
  message: string;
  /** `ledger`: seen and not built yet; `source`: new in the source since the last poll. */
  from: 'ledger' | 'source';
  /** The ring whose own line it is on; absent for the mainline. */
  feed?: string;
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
  /** Why a line could not be asked for new revisions, when one could not. */
  pollError?: string;
  rings: RingPlan[];
}

/** The result of `engine.plan()`. */
export interface Plan {
  at: string;
  pipelines: PipelinePlan[];
}

/** A ring's action as a plan line. */
export function planOf(action: RingAction, policy: string): RingPlan {
  const base = { ring: action.ring, action: action.action, policy, reason: action.reason };
  switch (action.action) {
    case 'resume':
      return { ...base, rollout: action.rollout, release: action.release, version: action.version };
    case 'verifying':
      return { ...base, release: action.release, version: action.version, gates: action.gates };
    case 'promote':
    case 'blocked':
      return { ...base, release: action.release, version: action.version };
    case 'wait':
      return {
        ...base,
        release: action.release,
        version: action.version,
        ...(action.until ? { until: action.until } : {}),
      };
    default:
      return base;
  }
}

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Plans one pipeline: builds (asking every line's source when `poll`), then each ring. */
export async function planPipeline(
  pipeline: Pipeline,
  p: PipelineState,
  now: Date,
  poll: boolean,
  project: Project,
): Promise<PipelinePlan> {
  const builds: PlannedBuild[] = p.pending.flatMap((id) => {
    const seen = p.revisions.get(id);
    if (!seen) return [];
    const r = seen.revision;
    return [
      {
        revision: r.id,
        author: r.author,
        message: r.message,
        from: 'ledger' as const,
        ...(seen.feed ? { feed: seen.feed } : {}),
      },
    ];
  });
  let pollError: string | undefined;
  if (poll) {
    for (const line of linesOf(pipeline, p)) {
      try {
        for (const r of await line.source.log(line.cursor)) {
          if (!p.revisions.has(r.id))
            builds.push({
              revision: r.id,
              author: r.author,
              message: r.message,
              from: 'source',
              ...(line.feed ? { feed: line.feed } : {}),
            });
        }
      } catch (error) {
        const where = line.feed ? `${line.feed}'s line: ` : '';
        pollError ??= isRingmasterError(error, 'CURSOR_LOST')
          ? `${where}history was rewritten under ${line.cursor}; the next tick starts again from the head`
          : `${where}${message(error)}`;
      }
    }
  }
  const approvals: PlannedApproval[] = [];
  if (poll && pipeline.source.deployRequests) {
    try {
      let requests: DeployRequest[];
      try {
        requests = await pipeline.source.deployRequests(p.requestCursor);
      } catch (error) {
        if (!isRingmasterError(error, 'CURSOR_LOST') || p.requestCursor === undefined) throw error;
        // As the engine does: read from the start, without the requests already taken.
        requests = unseenRequests(p, await pipeline.source.deployRequests(undefined));
      }
      for (const r of requests)
        approvals.push({
          ring: r.ring,
          revision: r.revision,
          by: r.author,
          name: r.name,
          known: pipeline.rings.some((ring) => ring.name === r.ring),
        });
    } catch (error) {
      pollError ??= `deploy requests: ${message(error)}`;
    }
  }
  return {
    pipeline: pipeline.name,
    builds,
    approvals,
    ...(pollError ? { pollError } : {}),
    rings: pipeline.rings.map((ring, index) =>
      planOf(ringAction(pipeline, p, index, now, project), ring.policy.describe()),
    ),
  };
}

/** Renders a plan as lines a person reads. */
export function formatPlan(plan: Plan): string {
  const lines: string[] = [];
  for (const p of plan.pipelines) {
    lines.push(`${p.pipeline}:`);
    if (p.pollError) lines.push(`  source: cannot poll: ${p.pollError}`);
    for (const b of p.builds)
      lines.push(
        `  build ${b.revision.slice(0, 12)}${b.feed ? ` (${b.feed}'s line)` : ''} by ${b.author}: ${b.message.split('\n')[0]}`,
      );
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
          : r.action === 'verifying'
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
