/**
 * The engine's promotion decision for one ring, as a pure function of the ledger state, the
 * pipeline's configuration and the time. The reconciler acts on it; `explain()` reports it.
 */
import type { PipelineState, ReleaseState } from '../ledger/state.js';
import type { Pipeline } from '../model/pipeline.js';
import type { Decision } from '../policy/types.js';

export interface Candidate {
  release: ReleaseState;
  /** When it became a candidate for this ring. */
  readyAt: Date;
  decision: Decision;
}

export interface RingDecision {
  /** The release to roll out now, when the policy says promote. */
  promote?: Candidate;
  /** The newest candidate and what the policy says of it (also when it waits or is blocked). */
  newest?: Candidate;
  /** Why nothing moves, when there is no candidate at all. */
  idle?: string;
}

/** Releases newest first. */
export function releasesNewestFirst(p: PipelineState): ReleaseState[] {
  return [...p.releases.values()].sort((a, b) => b.index - a.index);
}

/**
 * Releases that may enter ring `index`: verified in the previous ring (any release for the
 * first ring), never tried in this ring, and newer than what it runs. Newest first.
 */
export function eligibleReleases(
  pipeline: Pipeline,
  p: PipelineState,
  index: number,
): { release: ReleaseState; readyAt: Date }[] {
  const ring = pipeline.rings[index]!;
  const previous = index > 0 ? pipeline.rings[index - 1]! : undefined;
  const current = p.rings.get(ring.name)?.current;
  const currentVersion = current ? p.releases.get(current)?.version : undefined;
  const out: { release: ReleaseState; readyAt: Date }[] = [];
  for (const release of releasesNewestFirst(p)) {
    if (
      currentVersion !== undefined &&
      pipeline.packager.compareVersions(release.version, currentVersion) <= 0
    )
      break;
    if (p.releaseRings.get(release.id)?.has(ring.name)) continue;
    if (!previous) {
      out.push({ release, readyAt: new Date(release.createdAt) });
      continue;
    }
    const there = p.releaseRings.get(release.id)?.get(previous.name);
    if (there?.status === 'verified' && there.verifiedAt)
      out.push({ release, readyAt: new Date(there.verifiedAt) });
  }
  return out;
}

/** Decides what ring `index` of the pipeline should do now. */
export function decideRing(pipeline: Pipeline, p: PipelineState, index: number, now: Date): RingDecision {
  const ring = pipeline.rings[index]!;
  const eligible = eligibleReleases(pipeline, p, index);
  if (eligible.length === 0) {
    const previous = index > 0 ? pipeline.rings[index - 1]!.name : undefined;
    const current = p.rings.get(ring.name)?.current;
    const runs = current
      ? `${ring.name} runs ${p.releases.get(current)?.version ?? current}`
      : `${ring.name} runs nothing yet`;
    return {
      idle: previous
        ? `${runs}; ${previous} has verified nothing newer that ${ring.name} has not tried`
        : `${runs}; no newer release has been built`,
    };
  }
  let newest: Candidate | undefined;
  for (const { release, readyAt } of eligible) {
    const approvals = p.approvals
      .filter((a) => a.ring === ring.name && a.revision === release.revision)
      .map((a) => ({ by: a.by, at: a.at, via: a.via, ...(a.comment ? { comment: a.comment } : {}) }));
    const decision = ring.policy.evaluate({
      now,
      pipeline: pipeline.name,
      ring: ring.name,
      release: {
        id: release.id,
        version: release.version,
        revision: release.revision,
        author: release.author,
      },
      readyAt,
      approvals,
    });
    const candidate = { release, readyAt, decision };
    newest ??= candidate;
    if (decision.verdict === 'promote') return { promote: candidate, newest };
  }
  return { newest };
}
