/**
 * The engine's promotion decision for one ring, as a pure function of the ledger state, the
 * pipeline's configuration and the time. The reconciler acts on it; `explain()` reports it.
 */
import type { PipelineState, ReleaseState } from '../ledger/state.js';
import type { Pipeline, Ring } from '../model/pipeline.js';
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
 * The ring that feeds ring `index` with verified releases: the nearest earlier ring that takes
 * mainline releases (rings fed by their own line are skipped). Undefined for the first such ring.
 */
export function feederOf(pipeline: Pipeline, index: number): Ring | undefined {
  for (let i = index - 1; i >= 0; i--) if (!pipeline.rings[i]!.line) return pipeline.rings[i];
  return undefined;
}

/**
 * Releases that may enter ring `index`, newest first: never tried in this ring, newer than what
 * it runs, and — for a ring fed by its own line — built from that line; otherwise mainline
 * releases verified by the feeding ring (any mainline release, for the first ring).
 */
export function eligibleReleases(
  pipeline: Pipeline,
  p: PipelineState,
  index: number,
): { release: ReleaseState; readyAt: Date }[] {
  const ring = pipeline.rings[index]!;
  const previous = ring.line ? undefined : feederOf(pipeline, index);
  const current = p.rings.get(ring.name)?.current;
  const currentVersion = current ? p.releases.get(current)?.version : undefined;
  const out: { release: ReleaseState; readyAt: Date }[] = [];
  for (const release of releasesNewestFirst(p)) {
    if (release.feed !== (ring.line ? ring.name : undefined)) continue;
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
    const previous = ring.line ? undefined : feederOf(pipeline, index)?.name;
    const current = p.rings.get(ring.name)?.current;
    const runs = current
      ? `${ring.name} runs ${p.releases.get(current)?.version ?? current}`
      : `${ring.name} runs nothing yet`;
    return {
      idle: previous
        ? `${runs}; ${previous} has verified nothing newer that ${ring.name} has not tried`
        : `${runs}; no newer release has been built${ring.line ? ` from ${ring.name}'s own line` : ''}`,
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
