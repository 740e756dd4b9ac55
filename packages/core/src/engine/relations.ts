/**
 * Package relations between a project's pipelines, ring by ring. Before a release enters a ring,
 * its Depends, Pre-Depends, Breaks and Conflicts are checked — with the packager's own rules
 * (`Packager.relationProblems`) — against what the project's other pipelines run in that ring,
 * and theirs against it. A ring is named the same in every pipeline of a project (`prod` is one
 * ring), so "what prod runs" is each pipeline's current release in its ring called `prod`.
 *
 * Only packages the project makes are checked; relations to others (`libc6`) are the host's
 * package manager's to resolve. A release that waits says on what, and where that is:
 * `needs bar (>= 2.0); prod has bar 1.9 (bar 2.0 is verified in sandbox)`.
 */
import type { Artifact, RelationProblem } from '../contracts/artifact.js';
import { plainMessage, RingmasterError } from '../errors.js';
import type { LedgerState, PipelineState, ReleaseState } from '../ledger/state.js';
import { pipelineState, ringState } from '../ledger/state.js';
import type { Pipeline } from '../model/pipeline.js';

/** Every pipeline of an engine, and the ledger's view of each: what relations are checked across. */
export interface Project {
  readonly pipelines: ReadonlyMap<string, Pipeline>;
  state(pipeline: string): PipelineState;
}

/** The project of `pipelines` as the ledger's `state` has it. */
export function projectOf(pipelines: ReadonlyMap<string, Pipeline>, state: () => LedgerState): Project {
  return { pipelines, state: (name) => pipelineState(state(), name) };
}

/** A release of another pipeline taken as being in the ring already (`promote --with`). */
export interface Companion {
  pipeline: string;
  release: ReleaseState;
}

/** What the check found: the problems, in one sentence, and what could end them. */
export interface RelationVerdict {
  problems: RelationProblem[];
  /** `needs bar (>= 2.0); prod has bar 1.9 (bar 2.0 is verified in sandbox)`. */
  reason: string;
  /**
   * Releases of other pipelines that need this one as it needs them: no order of automatic
   * promotions can let either in, only a promotion of them together.
   */
  together?: { pipeline: string; release: string; version: string }[];
}

/** How many of a pipeline's newest releases a hint looks through for one that meets a relation. */
const HINT_RELEASES = 20;

/** The pipeline of the project that makes package `name`. */
function makerOf(project: Project, name: string): Pipeline | undefined {
  for (const p of project.pipelines.values()) if (p.packager.packageName === name) return p;
  return undefined;
}

/** What ring `ring` runs, pipeline by pipeline, with `replace` taken as run there instead. */
function ringSet(project: Project, ring: string, replace: ReadonlyMap<string, ReleaseState>): Artifact[] {
  const set: Artifact[] = [];
  for (const pipeline of project.pipelines.values()) {
    const instead = replace.get(pipeline.name);
    if (instead) {
      set.push(instead.artifact);
      continue;
    }
    if (!pipeline.rings.some((r) => r.name === ring)) continue;
    const p = project.state(pipeline.name);
    const current = ringState(p, ring).current;
    const release = current ? p.releases.get(current) : undefined;
    if (release) set.push(release.artifact);
  }
  return set;
}

/** The problems when `release` of `pipeline` joins ring `ring` (with `companions` there too). */
function problemsOf(
  project: Project,
  pipeline: Pipeline,
  ring: string,
  release: ReleaseState,
  companions: readonly Companion[],
): RelationProblem[] {
  const check = pipeline.packager.relationProblems;
  if (!check) return [];
  // The ring as it is, with the companions in: the packager replaces the subject's own package
  // (so it can tell what the release would replace).
  const replace = new Map<string, ReleaseState>();
  for (const c of companions) replace.set(c.pipeline, c.release);
  const managed = new Set([...project.pipelines.values()].map((p) => p.packager.packageName));
  try {
    return check.call(pipeline.packager, {
      subject: release.artifact,
      set: ringSet(project, ring, replace),
      managed,
    });
  } catch (error) {
    throw new RingmasterError(
      'PACKAGE',
      `pipeline ${pipeline.name}: the relations of ${release.artifact.name} ${release.version} cannot be checked for ${ring}: ${plainMessage((error as Error).message)}`,
      { scope: 'engine', cause: error, details: { pipeline: pipeline.name, release: release.id } },
    );
  }
}

const same = (a: RelationProblem, b: RelationProblem) =>
  a.package === b.package && a.field === b.field && a.relation === b.relation;

function verbOf(field: RelationProblem['field']): string {
  return field === 'Breaks' ? 'breaks' : field === 'Conflicts' ? 'conflicts with' : 'needs';
}

/** One problem as a clause, from the point of view of `subject` entering `ring`. */
function clause(problem: RelationProblem, subject: Artifact, ring: string): string {
  const has = problem.found.length
    ? problem.found.map((f) => `${f.name} ${f.version}`).join(', ')
    : `no ${problem.names.join(' or ') || problem.relation}`;
  if (problem.package === subject.name)
    return `${verbOf(problem.field)} ${problem.relation}; ${ring} has ${has}`;
  return `${problem.package} ${problem.version} in ${ring} ${verbOf(problem.field)} ${problem.relation}`;
}

/** The rings where `release` is verified, in the pipeline's order. */
function verifiedIn(pipeline: Pipeline, p: PipelineState, release: ReleaseState): string[] {
  const rings = p.releaseRings.get(release.id);
  return pipeline.rings.filter((r) => rings?.get(r.name)?.status === 'verified').map((r) => r.name);
}

/**
 * The newest release of `maker` (of its newest few: every view asks this, and an old one is
 * rarely the answer) that would end `problem` of `release`; undefined when none would, or when
 * one of them does not parse (then there is no hint, and no block either).
 */
function newestMeeting(
  project: Project,
  pipeline: Pipeline,
  ring: string,
  release: ReleaseState,
  companions: readonly Companion[],
  problem: RelationProblem,
  maker: Pipeline,
): ReleaseState | undefined {
  const q = project.state(maker.name);
  const newestFirst = [...q.releases.values()].sort((a, b) => b.index - a.index).slice(0, HINT_RELEASES);
  try {
    return newestFirst.find(
      (r) =>
        !problemsOf(project, pipeline, ring, release, [
          ...companions.filter((c) => c.pipeline !== maker.name),
          { pipeline: maker.name, release: r },
        ]).some((x) => same(x, problem)),
    );
  } catch {
    return undefined;
  }
}

/**
 * For a need of the subject on other pipelines' packages: the newest release of each that would
 * meet it, and where it stands — or that none would: ` (bar 2.0 is verified in sandbox)`.
 */
function whatWouldMeet(
  project: Project,
  pipeline: Pipeline,
  ring: string,
  release: ReleaseState,
  companions: readonly Companion[],
  problem: RelationProblem,
): string {
  const hints: string[] = [];
  for (const name of problem.names) {
    const maker = makerOf(project, name);
    if (!maker || maker === pipeline) continue;
    const q = project.state(maker.name);
    if (q.releases.size === 0) {
      hints.push(`${name} has no release yet`);
      continue;
    }
    const meets = newestMeeting(project, pipeline, ring, release, companions, problem, maker);
    if (!meets) {
      hints.push(
        q.releases.size > HINT_RELEASES
          ? `none of the newest ${HINT_RELEASES} releases of ${name} meets it`
          : `no release of ${name} meets it`,
      );
      continue;
    }
    const where = verifiedIn(maker, q, meets);
    hints.push(
      where.length
        ? `${name} ${meets.version} is verified in ${where.join(', ')}`
        : `${name} ${meets.version} is built, not verified anywhere yet`,
    );
  }
  return hints.length ? ` (${hints.join('; ')})` : '';
}

/** A Depends or Pre-Depends of `subject` itself. */
const needs = (p: RelationProblem, subject: Artifact) =>
  p.package === subject.name && (p.field === 'Depends' || p.field === 'Pre-Depends');

/** How many pipelines a group that can only go in together may have, at most. */
const GROUP_LIMIT = 8;

/**
 * Releases of other pipelines that `release` can only go in with, and they only with it (a
 * cycle of needs, of any length up to {@link GROUP_LIMIT}): the group each member's unmet needs
 * lead to, when together they meet every relation but none of them can go in alone first.
 * Undefined when some order of promotions lets them in one by one, or no such group exists.
 */
function cycleOf(
  project: Project,
  pipeline: Pipeline,
  ring: string,
  release: ReleaseState,
): RelationVerdict['together'] {
  const group: Companion[] = [{ pipeline: pipeline.name, release }];
  try {
    // Bounded: each round adds a pipeline or stops.
    for (let grown = true; grown && group.length <= GROUP_LIMIT; ) {
      grown = false;
      for (const m of [...group]) {
        const q = project.pipelines.get(m.pipeline)!;
        const others = group.filter((o) => o !== m);
        for (const problem of problemsOf(project, q, ring, m.release, others)) {
          if (!needs(problem, m.release.artifact)) continue;
          for (const name of problem.names) {
            const maker = makerOf(project, name);
            if (!maker || group.some((g) => g.pipeline === maker.name)) continue;
            const meets = newestMeeting(project, q, ring, m.release, others, problem, maker);
            if (!meets) return undefined; // nothing would meet it: no group can go in
            group.push({ pipeline: maker.name, release: meets });
            grown = true;
          }
        }
      }
    }
    if (group.length < 2 || group.length > GROUP_LIMIT) return undefined;
    for (const m of group) {
      const q = project.pipelines.get(m.pipeline)!;
      const others = group.filter((o) => o !== m);
      if (problemsOf(project, q, ring, m.release, others).length > 0) return undefined; // not whole even together
      if (problemsOf(project, q, ring, m.release, []).length === 0) return undefined; // it can go first
    }
  } catch {
    return undefined;
  }
  return group
    .slice(1)
    .map((g) => ({ pipeline: g.pipeline, release: g.release.id, version: g.release.version }));
}

/**
 * Checks `release` of `pipeline` against ring `ring`: undefined when every relation is met (or
 * the packager has no relations), else the problems and why in one sentence. Throws a `PACKAGE`
 * error naming the pipeline when a relation does not parse.
 */
export function relationVerdict(
  project: Project,
  pipeline: Pipeline,
  ring: string,
  release: ReleaseState,
  companions: readonly Companion[] = [],
): RelationVerdict | undefined {
  const problems = problemsOf(project, pipeline, ring, release, companions);
  if (problems.length === 0) return undefined;
  const clauses = problems.map(
    (problem) =>
      `${clause(problem, release.artifact, ring)}${
        needs(problem, release.artifact)
          ? whatWouldMeet(project, pipeline, ring, release, companions, problem)
          : ''
      }`,
  );
  const together =
    companions.length === 0 && problems.some((x) => needs(x, release.artifact))
      ? (cycleOf(project, pipeline, ring, release) ?? [])
      : [];
  const reason = together.length
    ? `${clauses.join('; ')}; ${[`${pipeline.name} ${release.version}`, ...together.map((t) => `${t.pipeline} ${t.version}`)].join(' and ')} need each other: promote them together (ringmaster promote ${pipeline.name} ${ring} ${release.id} ${together.map((t) => `--with ${t.pipeline}@${t.release}`).join(' ')})`
    : clauses.join('; ');
  return { problems, reason, ...(together.length ? { together } : {}) };
}

/**
 * Why a promote by hand of `release` (with `companions` going in too) is refused for its package
 * relations, as `promote` and its dry run say it; undefined when every member's are met.
 */
export function promoteRefusal(
  project: Project,
  pipeline: Pipeline,
  ring: string,
  release: ReleaseState,
  companions: readonly Companion[] = [],
): RingmasterError | undefined {
  const members: Companion[] = [{ pipeline: pipeline.name, release }, ...companions];
  for (const m of members) {
    const q = project.pipelines.get(m.pipeline);
    if (!q) continue;
    const verdict = relationVerdict(
      project,
      q,
      ring,
      m.release,
      members.filter((o) => o !== m),
    );
    if (verdict)
      return new RingmasterError(
        'STATE',
        `${q.name} ${m.release.version} cannot go into ${ring}: ${verdict.reason}. To go ahead anyway: --force`,
        { scope: 'engine', details: { problems: verdict.problems } },
      );
  }
  return undefined;
}

/**
 * Why rolling `pipeline` back to `target` in `ring` is refused: what the ring runs would need the
 * release it has now (or the target's own relations are not met there). Undefined when not.
 */
export function rollbackRefusal(
  project: Project,
  pipeline: Pipeline,
  ring: string,
  target: ReleaseState,
): RingmasterError | undefined {
  const broken = relationVerdict(project, pipeline, ring, target);
  if (!broken) return undefined;
  const others = broken.problems.every((x) => x.package !== target.artifact.name);
  return new RingmasterError(
    'STATE',
    `rolling ${pipeline.name} back to ${target.version} in ${ring} is refused: ${broken.reason}. ${
      others ? 'Roll those back first, or force it (--force)' : 'To go back anyway: --force'
    }`,
    { scope: 'engine', details: { problems: broken.problems } },
  );
}
