/**
 * The page's actions, each shown first as a preview of what it will do — the hosts and their
 * order, from which version to which, the commits added and removed — and then done with the
 * very call the CLI makes (`engine.approve`, `promote`, `rollback`, `lock`, `unlock`, `pin`,
 * `unpin`, `allow`),
 * so it lands in the same ledger record.
 *
 * A preview carries a fingerprint of the ring as it was drawn. An action whose ring has moved
 * since (another rollout, a lock, a new approval) is refused and the new preview shown, so
 * nobody confirms something they did not see.
 */
import { createHash } from 'node:crypto';
import {
  type AccessAction,
  type ApprovalIdentity,
  type Commit,
  type CommitsBetween,
  commitsBetween,
  describeState,
  type Engine,
  enabledHosts,
  type Pipeline,
  type PipelineState,
  pipelineState,
  RingmasterError,
  ringAction,
  ringState,
  rolloutPlanFor,
} from '@ringmaster/core';

export const WEB_ACTIONS = [
  'approve',
  'promote',
  'rollback',
  'lock',
  'unlock',
  'pin',
  'unpin',
  'allow',
  'resume',
  'abort',
] as const;
export type WebAction = (typeof WEB_ACTIONS)[number];

/** The permission each action needs (the same table the CLI uses). */
export const PERMISSION: Record<WebAction, AccessAction> = {
  approve: 'approve',
  promote: 'deploy',
  rollback: 'rollback',
  lock: 'lock',
  unlock: 'lock',
  pin: 'lock',
  unpin: 'lock',
  allow: 'deploy',
  resume: 'deploy',
  abort: 'rollback',
};

export interface ActionRequest {
  action: WebAction;
  pipeline: string;
  ring: string;
  /** The release to approve, promote, roll back to or allow again. */
  release?: string;
}

/** A commit as a preview lists it (core's, shared with `ringmaster deploy --dry-run`). */
export type { Commit };

export interface Preview extends ActionRequest {
  /** `Promote foostat 1.0.4 to prod`. */
  title: string;
  /** What will happen, a line each. */
  effects: string[];
  /** Promote and rollback: every host in rollout order, with its batch, from which version to which. */
  hosts?: { name: string; batch: number; from: string; to: string }[];
  /** Between what the ring runs and the release: the commits it adds, and the ones it takes away. */
  commits?: CommitsBetween;
  /** A reason is required (lock) or recorded when given. */
  reason: 'required' | 'optional';
  /** The ring as the preview was drawn; an action with another one is stale. */
  fingerprint: string;
}

function releaseOf(engine: Engine, pipeline: Pipeline, p: PipelineState, id: string | undefined) {
  if (!id) throw new RingmasterError('NOT_FOUND', 'no release given', { scope: 'web' });
  const release = p.releases.get(id) ?? [...p.releases.values()].find((r) => r.version === id);
  if (!release)
    throw new RingmasterError('NOT_FOUND', `no release "${id}" in pipeline ${pipeline.name}`, {
      scope: 'web',
    });
  void engine;
  return release;
}

/** What the ring is now, as far as an action's effect goes: a change makes a preview stale. */
function fingerprint(p: PipelineState, ring: string, release: string | undefined): string {
  const rs = ringState(p, ring);
  const approvals = p.approvals.filter((a) => a.ring === ring).length;
  const standing = release ? p.releaseRings.get(release)?.get(ring) : undefined;
  const hosts = [...rs.hosts].map(([h, e]) => [h, describeState(e.state)]);
  // A rollout in flight moves on by its pauses too: one resumed meanwhile makes a preview stale.
  const inFlight = rs.inFlight ? p.rollouts.get(rs.inFlight) : undefined;
  const pauses = inFlight ? [...inFlight.pauses].map(([step, pause]) => [step, Boolean(pause.resumed)]) : [];
  return createHash('sha256')
    .update(
      JSON.stringify([
        rs.current ?? null,
        rs.inFlight ?? null,
        pauses,
        rs.locked ?? null,
        rs.pinned ?? null,
        rs.rollouts.length,
        approvals,
        standing?.status ?? null,
        hosts,
      ]),
    )
    .digest('hex')
    .slice(0, 16);
}

/** Draws the preview of an action from the ledger as it is now (and the source, for commits). */
export async function preview(
  engine: Engine,
  request: ActionRequest,
  options: { commits?: boolean } = {},
): Promise<Preview> {
  const pipeline = engine.pipelines.get(request.pipeline);
  if (!pipeline)
    throw new RingmasterError('NOT_FOUND', `no pipeline "${request.pipeline}"`, { scope: 'web' });
  const index = pipeline.rings.findIndex((r) => r.name === request.ring);
  if (index < 0)
    throw new RingmasterError('NOT_FOUND', `no ring "${request.ring}" in pipeline ${pipeline.name}`, {
      scope: 'web',
    });
  const ring = pipeline.rings[index]!;
  const p = pipelineState(engine.ledger.state, pipeline.name);
  const rs = ringState(p, ring.name);
  const current = rs.current ? p.releases.get(rs.current) : undefined;
  const where = `${pipeline.name}/${ring.name}`;
  const base = { ...request, reason: 'optional' as const };
  /** The preview of an action on the ring itself (no release): its title and its one effect. */
  const onRing = (title: string, effect: string, reason: Preview['reason'] = 'optional'): Preview => ({
    ...base,
    reason,
    title,
    effects: [effect],
    fingerprint: fingerprint(p, ring.name, undefined),
  });
  switch (request.action) {
    case 'lock':
      return onRing(
        `Lock ${where}`,
        `No deployment reaches ${where} (automatic ones included) until it is unlocked.`,
        'required',
      );
    case 'unlock':
      return onRing(
        `Unlock ${where}`,
        rs.locked
          ? `Lifts the lock by ${rs.locked.by} (${rs.locked.reason}); the ring's policy may promote again.`
          : `${where} is not locked: unlocking will be refused.`,
      );
    case 'pin':
      return onRing(
        `Pin ${where}${current ? ` to ${current.version}` : ''}`,
        current
          ? `Holds ${where} on ${current.version}: automatic promotion waits, and promote or rollback to another release is refused, until it is unpinned.`
          : `${where} runs no release yet: pinning will be refused.`,
        'required',
      );
    case 'resume': {
      const action = ringAction(pipeline, p, index, engine.clock.now(), engine.project);
      const step = action.action === 'resume' ? action.step : undefined;
      return onRing(
        `Resume ${where}`,
        action.action === 'resume' && step?.waiting
          ? `Ends the pause at step ${step.step} of ${step.total} of ${action.rollout} (${action.version}, ${action.done}/${action.total} hosts done); the rollout goes on to its end or its next pause.`
          : `${where} has no paused rollout: resuming will be refused.`,
      );
    }
    case 'abort': {
      const action = ringAction(pipeline, p, index, engine.clock.now(), engine.project);
      return onRing(
        `Abort ${where}`,
        action.action === 'resume'
          ? `Aborts ${action.rollout} (${action.kind} of ${action.version}, ${action.done}/${action.total} hosts done): its hosts done so far get ${ring.rollout.onFailure === 'rollback' ? 'what they ran before' : 'no more changes (it halts)'}.`
          : `${where} has no rollout in flight: aborting will be refused.`,
        'required',
      );
    }
    case 'unpin':
      return onRing(
        `Unpin ${where}`,
        rs.pinned
          ? `Lifts the pin by ${rs.pinned.by} (${rs.pinned.reason}); the ring's policy may promote again.`
          : `${where} is not pinned: unpinning will be refused.`,
      );
    default:
      break;
  }
  const release = releaseOf(engine, pipeline, p, request.release);
  const withRelease = { ...base, release: release.id };
  const fp = fingerprint(p, ring.name, release.id);
  if (request.action === 'approve') {
    return {
      ...withRelease,
      title: `Approve ${pipeline.name} ${release.version} for ${ring.name}`,
      effects: [
        `Records your approval of ${release.version} (${release.revision.slice(0, 10)} by ${release.author}) for ${where}.`,
        `The ring's policy (${ring.policy.describe()}) then decides; it may promote at its next pass.`,
      ],
      fingerprint: fp,
    };
  }
  if (request.action === 'allow') {
    const standing = p.releaseRings.get(release.id)?.get(ring.name);
    return {
      ...withRelease,
      title: `Allow ${pipeline.name} ${release.version} in ${ring.name} again`,
      effects: [
        standing?.status === 'rejected'
          ? `Lifts its rejection (${standing.reason ?? 'rejected'}, by ${standing.by ?? 'engine'}): the ring's policy may promote it again.`
          : `${release.version} is not rejected in ${where}: this will be refused.`,
      ],
      fingerprint: fp,
    };
  }
  // promote or rollback: every host in rotation, in the rollout's order, from what it has to the release.
  const names = enabledHosts(ring, rs);
  const kind = request.action === 'promote' ? 'deploy' : 'rollback';
  const hosts = rolloutPlanFor(ring, kind, names).batches.flatMap((batch, i) =>
    batch.map((name) => {
      const recorded = rs.hosts.get(name)?.state;
      return {
        name,
        batch: i + 1,
        from: recorded ? describeState(recorded) : 'nothing recorded',
        to: release.version,
      };
    }),
  );
  // Confirming needs only the fingerprint: the commits are asked of the source for the preview.
  const commits =
    options.commits === false
      ? undefined
      : await commitsBetween(pipeline, p, current?.revision, release.revision, release.feed !== undefined);
  const verb = request.action === 'promote' ? 'Promote' : 'Roll back';
  return {
    ...withRelease,
    title: `${verb} ${where} to ${release.version}`,
    effects: [
      `${current ? `${ring.name} runs ${current.version} now` : `${ring.name} runs nothing yet`}; ${hosts.length} host${hosts.length === 1 ? '' : 's'} get ${release.version} (${ring.rollout.batch !== undefined || ring.rollout.steps ? hosts.at(-1)?.batch : 1} batch${hosts.at(-1)?.batch === 1 ? '' : 'es'}, ${ring.rollout.onFailure === 'rollback' ? 'rolled back on failure' : `on failure: ${ring.rollout.onFailure}`}).`,
      ...(request.action === 'rollback'
        ? [
            `${current?.version ?? 'What the ring runs'} is rejected in ${where}, so no policy promotes it again until it is allowed.`,
          ]
        : [
            `Bypasses the ring's policy (${ring.policy.describe()}), not its lock; then its gates run${ring.gates.length ? ` (${ring.gates.map((g) => g.name).join(', ')})` : ''}.`,
          ]),
    ],
    hosts,
    ...(commits ? { commits } : {}),
    fingerprint: fp,
  };
}

/** Who does an action, as the engine records it. */
export interface Actor {
  name: string;
  identity: ApprovalIdentity;
}

/** What an action did, in words, and for a rollout how it ended. */
export interface ActionResult {
  message: string;
  ok: boolean;
}

/**
 * Does the action: the engine call the CLI makes. A rollout (promote, rollback) runs to its
 * end; the caller decides how long to wait for it.
 */
export async function perform(
  engine: Engine,
  request: ActionRequest & { reason?: string },
  actor: Actor,
): Promise<ActionResult> {
  const { pipeline, ring } = request;
  const reason = request.reason?.trim() || undefined;
  switch (request.action) {
    case 'approve':
      await engine.approve({
        pipeline,
        ring,
        release: request.release!,
        by: actor.name,
        via: 'api',
        identity: actor.identity,
        ...(reason ? { comment: reason } : {}),
      });
      return { ok: true, message: `approved ${request.release} for ${pipeline}/${ring} as ${actor.name}` };
    case 'lock':
      if (!reason)
        throw new RingmasterError('CONFIG', 'reason: say why the ring is locked', { scope: 'web' });
      await engine.lock({ pipeline, ring, reason, by: actor.name });
      return { ok: true, message: `locked ${pipeline}/${ring}: ${reason}` };
    case 'unlock':
      await engine.unlock({ pipeline, ring, by: actor.name, ...(reason ? { reason } : {}) });
      return { ok: true, message: `unlocked ${pipeline}/${ring}` };
    case 'allow':
      await engine.allow({ pipeline, ring, release: request.release!, by: actor.name });
      return { ok: true, message: `${request.release} may be promoted to ${pipeline}/${ring} again` };
    case 'pin':
      if (!reason)
        throw new RingmasterError('CONFIG', 'reason: say why the ring is pinned', { scope: 'web' });
      await engine.pin({ pipeline, ring, reason, by: actor.name });
      return { ok: true, message: `pinned ${pipeline}/${ring}: ${reason}` };
    case 'unpin':
      await engine.unpin({ pipeline, ring, by: actor.name });
      return { ok: true, message: `unpinned ${pipeline}/${ring}` };
    case 'abort': {
      if (!reason)
        throw new RingmasterError('CONFIG', 'reason: say why the rollout is aborted', { scope: 'web' });
      const aborted = await engine.abort({ pipeline, ring, reason, by: actor.name });
      const s = aborted.summary;
      return {
        ok: !s || s.outcome === 'rolled-back' || s.outcome === 'halted',
        message: `aborted ${aborted.rollout} as ${actor.name}: ${s ? `${s.outcome ?? 'parked'}${s.reason ? `: ${s.reason}` : ''}` : 'another process holds the ring and aborts it at its next step'}`,
      };
    }
    case 'resume': {
      const resumed = await engine.resume({ pipeline, ring, by: actor.name, ...(reason ? { reason } : {}) });
      const s = resumed.summary;
      const how = !s
        ? 'another process holds the ring and carries the rollout on'
        : s.outcome
          ? `${s.outcome}${s.reason ? `: ${s.reason}` : ''}`
          : s.position?.waiting
            ? `paused again at step ${s.position.step} of ${s.position.total} (${s.position.what})`
            : 'parked';
      return {
        ok: !s || s.outcome === undefined || (s.outcome === 'succeeded' && s.verified),
        message: `resumed ${resumed.rollout} at step ${resumed.step} as ${actor.name}: ${how}`,
      };
    }
    case 'promote':
    case 'rollback': {
      const summary =
        request.action === 'promote'
          ? await engine.promote({
              pipeline,
              ring,
              release: request.release!,
              by: actor.name,
              ...(reason ? { reason } : {}),
            })
          : await engine.rollback({
              pipeline,
              ring,
              to: request.release!,
              by: actor.name,
              ...(reason ? { reason } : {}),
            });
      const ok = summary.outcome === 'succeeded' && (request.action === 'rollback' || summary.verified);
      return {
        ok,
        message: `${summary.kind} ${summary.rollout} of ${summary.version} to ${pipeline}/${ring}: ${summary.outcome ?? 'parked'}${summary.reason ? `: ${summary.reason}` : ''}`,
      };
    }
  }
}
