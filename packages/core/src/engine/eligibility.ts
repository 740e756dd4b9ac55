/**
 * Which releases may enter a ring, and since when: the one definition the ring's decision,
 * `replay` and `converge` share. A ring fed by its own line of development takes the releases
 * built from that line; the others take mainline releases once the feeding ring (the nearest
 * earlier mainline ring) verified them, or once built, for the first. Automatic promotion only
 * moves forward: a release no newer than the newest the ring has already tried (run, failed or
 * rejected) is never a candidate, so a rollback sticks.
 */
import type { PipelineState, ReleaseState } from '../ledger/state.js';
import type { Pipeline, Ring } from '../model/pipeline.js';
import type { Decision, PolicyContext } from '../policy/types.js';

export interface Candidate {
  release: ReleaseState;
  /** When it became a candidate for this ring. */
  readyAt: Date;
  decision: Decision;
}

/** Releases newest first. */
export function releasesNewestFirst(p: PipelineState): ReleaseState[] {
  return [...p.releases.values()].sort((a, b) => b.index - a.index);
}

/**
 * The ring that feeds ring `index` with verified releases: the nearest earlier ring that takes
 * mainline releases (rings fed by their own line are skipped). Undefined for the first such
 * ring, and for a ring fed by its own line.
 */
export function feederOf(pipeline: Pipeline, index: number): Ring | undefined {
  if (pipeline.rings[index]?.line) return undefined;
  for (let i = index - 1; i >= 0; i--) if (!pipeline.rings[i]!.line) return pipeline.rings[i];
  return undefined;
}

/**
 * When `release` became ready for ring `index`, or undefined when it is not for this ring
 * (another line's) or not ready yet (the feeding ring has not verified it).
 */
export function readyAt(
  pipeline: Pipeline,
  p: PipelineState,
  index: number,
  release: ReleaseState,
): Date | undefined {
  const ring = pipeline.rings[index]!;
  if (release.feed !== (ring.line ? ring.name : undefined)) return undefined;
  const feeder = feederOf(pipeline, index);
  if (!feeder) return new Date(release.createdAt);
  const there = p.releaseRings.get(release.id)?.get(feeder.name);
  return there?.status === 'verified' && there.verifiedAt ? new Date(there.verifiedAt) : undefined;
}

/** The newest release (by the packager's order) the ring has tried: run, failed or rejected. */
export function newestTried(pipeline: Pipeline, p: PipelineState, ring: Ring): ReleaseState | undefined {
  let newest: ReleaseState | undefined;
  for (const release of p.releases.values()) {
    if (!p.releaseRings.get(release.id)?.has(ring.name)) continue;
    if (!newest || pipeline.packager.compareVersions(release.version, newest.version) > 0) newest = release;
  }
  return newest;
}

/**
 * Releases that may enter ring `index`, newest first: ready for it, never tried there, and newer
 * than anything it has tried.
 */
export function eligibleReleases(
  pipeline: Pipeline,
  p: PipelineState,
  index: number,
): { release: ReleaseState; readyAt: Date }[] {
  const ring = pipeline.rings[index]!;
  const floor = newestTried(pipeline, p, ring)?.version;
  const out: { release: ReleaseState; readyAt: Date }[] = [];
  for (const release of releasesNewestFirst(p)) {
    if (floor !== undefined && pipeline.packager.compareVersions(release.version, floor) <= 0) continue;
    if (p.releaseRings.get(release.id)?.has(ring.name)) continue;
    const ready = readyAt(pipeline, p, index, release);
    if (ready) out.push({ release, readyAt: ready });
  }
  return out;
}

/** The approvals recorded for a release's revision in a ring, as a policy reads them. */
export function approvalsFor(p: PipelineState, ring: string, revision: string) {
  return p.approvals
    .filter((a) => a.ring === ring && a.revision === revision)
    .map((a) => ({
      by: a.by,
      at: a.at,
      via: a.via,
      ...(a.comment ? { comment: a.comment } : {}),
      ...(a.identity
        ? {
            authenticated: a.identity.method,
            groups: a.identity.groups,
            ...(a.identity.commitsAs ? { commitsAs: a.identity.commitsAs } : {}),
          }
        : {}),
    }));
}

/** What a ring's policy is asked about `release` in ring `index` at `now`. */
function policyContext(
  pipeline: Pipeline,
  p: PipelineState,
  index: number,
  release: ReleaseState,
  ready: Date,
  now: Date,
): PolicyContext {
  const ring = pipeline.rings[index]!;
  return {
    now,
    pipeline: pipeline.name,
    ring: ring.name,
    release: {
      id: release.id,
      version: release.version,
      revision: release.revision,
      author: release.author,
      ...(release.email ? { email: release.email } : {}),
    },
    readyAt: ready,
    approvals: approvalsFor(p, ring.name, release.revision),
  };
}

/** Every eligible release with what the ring's policy says of it now, newest first. */
export function candidates(pipeline: Pipeline, p: PipelineState, index: number, now: Date): Candidate[] {
  const ring = pipeline.rings[index]!;
  return eligibleReleases(pipeline, p, index).map(({ release, readyAt }) => ({
    release,
    readyAt,
    decision: ring.policy.evaluate(policyContext(pipeline, p, index, release, readyAt, now)),
  }));
}

/**
 * The freeze in force in ring `index` at `now` for `release`, as the ring's policy says
 * (`Policy.frozen`); undefined when the ring is not frozen. A freeze binds people too.
 */
export function frozenFor(
  pipeline: Pipeline,
  p: PipelineState,
  index: number,
  release: ReleaseState,
  now: Date,
): { reason: string; until?: string } | undefined {
  const ready = readyAt(pipeline, p, index, release) ?? new Date(release.createdAt);
  return pipeline.rings[index]!.policy.frozen?.(policyContext(pipeline, p, index, release, ready, now));
}
