/**
 * What people and tools ask of the engine, beside the loop: approve, promote, roll back, lock,
 * unlock, unpin, build again, converge. Each is refused at the door when it could not do what it
 * says (with a message saying what to do instead) and otherwise written as a decision — taken
 * again on the caught-up ledger if another process wrote first — so nothing is recorded that does
 * not hold.
 */
import { RingmasterError } from '../errors.js';
import { type Entry, entry } from '../ledger/ledger.js';
import type { ApprovalIdentity, RolloutKind, RolloutOutcome } from '../ledger/records.js';
import type { ReleaseState } from '../ledger/state.js';
import { ringState } from '../ledger/state.js';
import type { Pipeline, Ring } from '../model/pipeline.js';
import { assertCanApprove } from '../policy/approvers.js';
import { type ConvergeReport, convergePipelines } from './converge.js';
import { eligibleReleases, frozenFor } from './eligibility.js';
import { matchHosts, rolloutHosts } from './hosts.js';
import { notice } from './notify.js';
import { type Companion, promoteRefusal, rollbackRefusal } from './relations.js';
import { type RolloutPosition, ringAction, rolloutPosition } from './ring-action.js';
import type { RingRunner } from './rings.js';
import type { Runtime } from './runtime.js';

/** Deploying through a freeze: why, and the groups of who asks (checked against the engine's `breakGlass`). */
export interface BreakGlass {
  reason: string;
  groups: readonly string[];
}

/** What `resume` takes: the ring whose paused rollout goes on, who says so, and why. */
export interface ResumeInput {
  pipeline: string;
  ring: string;
  by?: string;
  reason?: string;
  /** Going on through a freeze begun since the rollout started (see `promote`). */
  breakGlass?: BreakGlass;
}

export interface ActionOptions {
  /** Who asks (recorded in the ledger). @default 'api' */
  by?: string;
  reason?: string;
  /**
   * Only these hosts (names or globs, `'prod-1,prod-[23]'`): a host operation that changes what
   * they run and never what the ring runs (no gates, no rejection). A part that matches no host
   * of the ring is a `CONFIG` error naming it.
   */
  limit?: string | readonly string[];
}

/** What `promote` takes besides the ring: which release, and what else goes with it. */
export interface PromoteInput extends ActionOptions {
  pipeline: string;
  ring: string;
  /** The release (id, revision or prefix): by default the newest ready for the ring. */
  release?: string;
  breakGlass?: BreakGlass;
  /**
   * Releases of other pipelines that go into the ring together with this one, because they need
   * each other (`bar@2.0`): one decision, recorded in each pipeline, and one change of the
   * ring's suite for all of them.
   */
  with?: readonly { pipeline: string; release: string }[];
  /** Goes ahead although package relations say the ring would not be whole. @default false */
  force?: boolean;
}

/** What `rollback` takes. */
export interface RollbackInput extends ActionOptions {
  pipeline: string;
  ring: string;
  /** The release to go back to: by default the newest verified in the ring other than the one it runs. */
  to?: string;
  /** Goes back although what the ring runs needs the release it has now. @default false */
  force?: boolean;
}

/** `limit` as a comma-separated list for `matchHosts`. */
const limitText = (limit: string | readonly string[]) =>
  typeof limit === 'string' ? limit : limit.join(',');

/** What a promote or a rollback did: which rollout, of what, and how it ended. */
export interface RolloutSummary {
  rollout: string;
  kind: RolloutKind;
  release: string;
  version: string;
  /** Undefined when the rollout was parked (stopped at a host boundary) before its end. */
  outcome?: RolloutOutcome;
  reason?: string;
  /** Why this release (for a rollback without `to`: the newest verified there). */
  chosen: string;
  /** Whether the release is verified in the ring now (its rollout succeeded and its gates passed). */
  verified: boolean;
  /** A rollout still in flight: the step it is at, and what it waits for (a pause step). */
  position?: RolloutPosition;
  /**
   * `promote --with`: the rollouts of the other releases, in order, each once the one before
   * succeeded (they stop at the first that did not).
   */
  together?: (RolloutSummary & { pipeline: string })[];
}

export class Operations {
  constructor(
    private readonly rt: Runtime,
    private readonly rings: RingRunner,
    private readonly pipelines: ReadonlyMap<string, Pipeline>,
  ) {}

  pipeline(name: string): Pipeline {
    const p = this.pipelines.get(name);
    if (!p) {
      throw new RingmasterError(
        'NOT_FOUND',
        `no pipeline "${name}"; known: ${[...this.pipelines.keys()].join(', ')}`,
        {
          scope: 'engine',
        },
      );
    }
    return p;
  }

  ringIndex(pipeline: Pipeline, name: string): number {
    const i = pipeline.rings.findIndex((r) => r.name === name);
    if (i === -1) {
      throw new RingmasterError(
        'NOT_FOUND',
        `pipeline ${pipeline.name} has no ring "${name}"; its rings are ${pipeline.rings.map((r) => r.name).join(', ')}`,
        { scope: 'engine' },
      );
    }
    return i;
  }

  /** A release by id (version), by revision, or by a revision prefix of at least 7 characters. */
  findRelease(pipeline: Pipeline, ref: string): ReleaseState {
    const p = this.rt.state(pipeline.name);
    const release =
      p.releases.get(ref) ??
      p.releases.get(p.releaseByRevision.get(ref) ?? '') ??
      [...p.releases.values()].find((r) => ref.length >= 7 && r.revision.startsWith(ref));
    if (!release) {
      const known = [...p.releases.keys()].slice(-5).join(', ') || 'none yet';
      throw new RingmasterError(
        'NOT_FOUND',
        `pipeline ${pipeline.name} has no release "${ref}" (newest: ${known})`,
        {
          scope: 'engine',
        },
      );
    }
    return release;
  }

  async approve(input: {
    pipeline: string;
    ring: string;
    release: string;
    by: string;
    comment?: string;
    via?: 'api' | 'cli';
    /** How `by` proved who they are (the CLI's token, the page's session), and their groups. */
    identity?: ApprovalIdentity;
  }): Promise<void> {
    const pipeline = this.pipeline(input.pipeline);
    const ring = pipeline.rings[this.ringIndex(pipeline, input.ring)]!;
    const release = this.findRelease(pipeline, input.release);
    if (!input.by.trim())
      throw new RingmasterError('CONFIG', 'an approval needs a name in "by"', { scope: 'engine' });
    assertCanApprove(ring.policy, {
      pipeline: pipeline.name,
      ring: input.ring,
      by: input.by,
      ...(input.identity ? { groups: input.identity.groups } : {}),
      ...(input.identity?.commitsAs ? { commitsAs: input.identity.commitsAs } : {}),
      author: release.author,
      ...(release.email ? { email: release.email } : {}),
      version: release.version,
    });
    await this.rt.ledger.decide(() => {
      const twice = this.rt
        .state(pipeline.name)
        .approvals.find((a) => a.ring === input.ring && a.revision === release.revision && a.by === input.by);
      if (twice) {
        throw new RingmasterError(
          'STATE',
          `${input.by} already approved ${release.version} for ${pipeline.name}/${input.ring} at ${twice.at}; an approval counts once`,
          { scope: 'engine' },
        );
      }
      return [
        entry('approval.recorded', {
          pipeline: pipeline.name,
          ring: input.ring,
          revision: release.revision,
          by: input.by,
          via: input.via ?? 'api',
          ...(input.comment ? { comment: input.comment } : {}),
          ...(input.identity
            ? {
                identity: {
                  method: input.identity.method,
                  groups: [...input.identity.groups],
                  ...(input.identity.commitsAs?.length ? { commitsAs: [...input.identity.commitsAs] } : {}),
                },
              }
            : {}),
        }),
      ];
    });
  }

  async promote(input: PromoteInput): Promise<RolloutSummary> {
    const pipeline = this.pipeline(input.pipeline);
    const index = this.ringIndex(pipeline, input.ring);
    const ring = pipeline.rings[index]!;
    this.assertUnlocked(pipeline, ring);
    const p = this.rt.state(pipeline.name);
    const release = input.release
      ? this.findRelease(pipeline, input.release)
      : eligibleReleases(pipeline, p, index)[0]?.release;
    if (release) this.assertNotPinnedAway(pipeline, ring, release.id);
    if (!release) {
      const why = ringAction(pipeline, p, index, this.rt.clock.now(), this.rt).reason;
      throw new RingmasterError('STATE', `nothing to promote to ${ring.name}: ${why}`, { scope: 'engine' });
    }
    const limit = input.limit !== undefined ? matchHosts(ring, limitText(input.limit)) : undefined;
    const companions = this.companions(pipeline, ring, input.with ?? []);
    const refused = input.force
      ? undefined
      : promoteRefusal(this.rt, pipeline, ring.name, release, companions);
    if (refused) throw refused;
    const by = input.by ?? 'api';
    const broke = this.throughFreeze(pipeline, index, release, by, input.breakGlass);
    const together = companions.length
      ? ` together with ${companions.map((c) => `${c.pipeline} ${c.release.version}`).join(', ')}`
      : '';
    const reason = `promoted by ${by}${together}${limit ? ` to ${limit.join(', ')} only` : ''}${broke ? ` through a freeze (break-glass: ${input.breakGlass!.reason})` : ''}${input.reason ? `: ${input.reason}` : ''}`;
    const before = ringState(p, ring.name).rollouts.length;
    // Each companion is frozen or not on its own: breaking glass is asked for each before anything is written.
    const companionGlass = companions.map((c) => {
      const q = this.pipeline(c.pipeline);
      return this.throughFreeze(q, this.ringIndex(q, ring.name), c.release, by, input.breakGlass);
    });
    // The decision to promote them together is written with the first rollout, or not at all.
    const members = [
      { pipeline: pipeline.name, release: release.id },
      ...companions.map((c) => ({ pipeline: c.pipeline, release: c.release.id })),
    ];
    const decided = companions.length
      ? members.map((m) =>
          entry('ring.together', {
            pipeline: m.pipeline,
            ring: ring.name,
            release: m.release,
            members,
            by,
            ...(input.reason ? { reason: input.reason } : {}),
          }),
        )
      : [];
    await this.rings.deploy(
      pipeline,
      ring,
      () => ({
        release,
        reason,
        ...(broke || decided.length ? { with: [...(broke ? broke() : []), ...decided] } : {}),
        ...(companions.length ? { together: members.slice(1) } : {}),
      }),
      {
        required: true,
        ...(limit ? { limit } : {}),
      },
    );
    const first = this.summary(
      pipeline,
      ring,
      before,
      input.release ? `named by ${input.by ?? 'api'}` : `the newest release ready for ${ring.name}`,
    );
    // The others follow only once the first is in: each then needs nothing it does not have.
    if (companions.length && !(first.outcome === 'succeeded' && first.verified))
      return {
        ...first,
        reason: `${first.reason ?? first.outcome ?? 'not finished'}; ${companions.map((c) => `${c.pipeline} ${c.release.version}`).join(' and ')} not rolled out`,
      };
    const others: RolloutSummary[] = [];
    for (const [i, c] of companions.entries()) {
      const q = this.pipeline(c.pipeline);
      const qRing = q.rings[this.ringIndex(q, ring.name)]!;
      const glass = companionGlass[i];
      const qBefore = ringState(this.rt.state(q.name), ring.name).rollouts.length;
      // Against the ring as it is now (the members before it are in), the ones after it taken as there.
      const unmet = input.force
        ? undefined
        : promoteRefusal(this.rt, q, ring.name, c.release, companions.slice(i + 1));
      if (unmet) throw unmet;
      await this.rings.deploy(
        q,
        qRing,
        () => ({
          release: c.release,
          reason: `promoted by ${by} together with ${pipeline.name} ${release.version}${input.reason ? `: ${input.reason}` : ''}`,
          ...(glass ? { with: glass() } : {}),
        }),
        { required: true, ...(limit ? { limit } : {}) },
      );
      const done = this.summary(
        q,
        qRing,
        qBefore,
        `promoted together with ${pipeline.name} ${release.version}`,
      );
      others.push(done);
      if (!(done.outcome === 'succeeded' && done.verified)) break;
    }
    return others.length
      ? { ...first, together: others.map((o, i) => ({ pipeline: companions[i]!.pipeline, ...o })) }
      : first;
  }

  /** The releases named by `with`, each of another pipeline that has the ring. */
  private companions(
    pipeline: Pipeline,
    ring: Ring,
    refs: readonly { pipeline: string; release: string }[],
  ): Companion[] {
    const seen = new Set([pipeline.name]);
    return refs.map((ref) => {
      const q = this.pipeline(ref.pipeline);
      if (seen.has(q.name))
        throw new RingmasterError(
          'CONFIG',
          `with: ${q.name} is named twice (or is the pipeline promoted); name each other pipeline once`,
          { scope: 'engine' },
        );
      seen.add(q.name);
      // One suite change puts them all in: they must share the repository that holds the suite.
      if (q.repository !== pipeline.repository)
        throw new RingmasterError(
          'CONFIG',
          `with: ${q.name} publishes to another repository than ${pipeline.name}; releases promoted together must share one (its ring suites list them all)`,
          { scope: 'engine' },
        );
      const qRing = q.rings[this.ringIndex(q, ring.name)]!;
      this.assertUnlocked(q, qRing);
      const release = this.findRelease(q, ref.release);
      this.assertNotPinnedAway(q, qRing, release.id);
      const inFlight = ringState(this.rt.state(q.name), ring.name).inFlight;
      if (inFlight)
        throw new RingmasterError(
          'LOCKED',
          `with: ${q.name}/${ring.name} has a rollout in flight (${inFlight}): let it end, resume it, or abort it first`,
          { scope: 'engine' },
        );
      return { pipeline: q.name, release };
    });
  }

  /**
   * Rolls a ring back to `to`, or to the newest release verified there other than the one it
   * runs (never onto one rejected or failed there unless named), and rejects the release it ran.
   */
  async rollback(input: RollbackInput): Promise<RolloutSummary> {
    const pipeline = this.pipeline(input.pipeline);
    const ring = pipeline.rings[this.ringIndex(pipeline, input.ring)]!;
    const named = input.to ? this.findRelease(pipeline, input.to) : undefined;
    this.assertNotPinnedAway(pipeline, ring, named?.id);
    // What the rollback would install must leave what the ring runs whole (a foo that needs this bar).
    const current = ringState(this.rt.state(pipeline.name), ring.name).current;
    const target = named ?? (current ? this.rings.previousRelease(pipeline, ring, current) : undefined);
    const broken = target && !input.force ? rollbackRefusal(this.rt, pipeline, ring.name, target) : undefined;
    if (broken) throw broken;
    const limit = input.limit !== undefined ? matchHosts(ring, limitText(input.limit)) : undefined;
    const by = input.by ?? 'api';
    const reason = input.reason ?? `rolled back by ${by}${limit ? ` on ${limit.join(', ')} only` : ''}`;
    const before = ringState(this.rt.state(pipeline.name), ring.name).rollouts.length;
    await this.rings.withRingLock(
      pipeline,
      ring,
      async (session) => {
        // Decided on the ledger as it is when written: what the ring runs may have changed.
        await session.decide(() => {
          const rs = ringState(this.rt.state(pipeline.name), ring.name);
          if (rs.inFlight) {
            throw new RingmasterError(
              'LOCKED',
              `${pipeline.name}/${ring.name} has a rollout in flight; let it finish first`,
              {
                scope: 'engine',
              },
            );
          }
          const current = rs.current;
          const to = named ?? (current ? this.rings.previousRelease(pipeline, ring, current) : undefined);
          if (!to) {
            throw new RingmasterError(
              'STATE',
              `${pipeline.name}/${ring.name} has no earlier release verified there to roll back to; name one with "to"`,
              { scope: 'engine' },
            );
          }
          // On named hosts only, the release stays the ring's: it is not rejected there.
          return [
            ...(current && current !== to.id && !limit
              ? [
                  entry('ring.rejected', {
                    pipeline: pipeline.name,
                    ring: ring.name,
                    release: current,
                    reason,
                    by,
                  }),
                ]
              : []),
            limit
              ? this.rings.rolloutEntry(
                  pipeline,
                  ring,
                  to,
                  'rollback',
                  reason,
                  rolloutHosts(ring, rs, limit),
                  {
                    limit: true,
                  },
                )
              : this.rings.rolloutEntry(pipeline, ring, to, 'rollback', reason),
          ];
        });
        await this.rings.resumeRollout(session);
      },
      true,
    );
    return this.summary(
      pipeline,
      ring,
      before,
      named ? `named by ${by}` : `the newest release verified in ${ring.name}`,
    );
  }

  /**
   * A promote by hand during a freeze (the ring's policy says `frozen`) is refused unless the
   * caller breaks glass: with a reason, and in one of the engine's `breakGlass` groups. Returns
   * undefined when the ring is not frozen, else what records the break (and notifies it) — asked
   * again on the ledger as it is when the rollout is written, in the same append, so a break is
   * never recorded for a rollout that did not start.
   */
  private throughFreeze(
    pipeline: Pipeline,
    index: number,
    release: ReleaseState,
    by: string,
    breakGlass: BreakGlass | undefined,
  ): (() => Entry[]) | undefined {
    const ring = pipeline.rings[index]!;
    const frozenNow = () =>
      frozenFor(pipeline, this.rt.state(pipeline.name), index, release, this.rt.clock.now());
    const frozen = frozenNow();
    if (!frozen) return undefined;
    const where = `${pipeline.name}/${ring.name}`;
    const allowed = this.rt.breakGlass;
    if (!breakGlass)
      throw new RingmasterError(
        'STATE',
        `${where} is frozen (${frozen.reason}): nothing is deployed there by hand either; ${
          allowed
            ? `to go ahead anyway, break glass with a reason (ringmaster deploy … --break-glass --reason "…"; allowed to ${allowed.join(', ')})`
            : 'no group may break glass here (the config has no access.breakGlass)'
        }`,
        { scope: 'engine', details: { frozen } },
      );
    if (!breakGlass.reason.trim())
      throw new RingmasterError('CONFIG', 'reason: say why the freeze must be broken', { scope: 'engine' });
    if (!allowed || !breakGlass.groups.some((g) => allowed.includes(g)))
      throw new RingmasterError(
        'FORBIDDEN',
        `${by} may not break glass in ${where}: ${allowed ? `only ${allowed.join(', ')} may` : 'no group may (the config has no access.breakGlass)'}`,
        { scope: 'engine' },
      );
    return () => {
      const still = frozenNow();
      if (!still) return [];
      return [
        entry('ring.break-glass', {
          pipeline: pipeline.name,
          ring: ring.name,
          release: release.id,
          by,
          reason: breakGlass.reason,
          frozen: still.reason,
          groups: [...breakGlass.groups],
        }),
        notice(pipeline, {
          kind: 'break-glass',
          pipeline: pipeline.name,
          ok: true,
          summary: `${by} broke glass: ${release.version} goes to ${ring.name} during a freeze (${still.reason}): ${breakGlass.reason}`,
          revision: release.revision,
          release: release.id,
          ring: ring.name,
        }),
      ];
    };
  }

  /** The rollout a promote or rollback started: the first the ring recorded after `before`. */
  private summary(pipeline: Pipeline, ring: Ring, before: number, chosen: string): RolloutSummary {
    const p = this.rt.state(pipeline.name);
    // The rollout it started, or — when one was in flight already — the one it drove to its end.
    const rollouts = ringState(p, ring.name).rollouts;
    const id = rollouts[before] ?? rollouts.at(-1);
    const rollout = id ? p.rollouts.get(id) : undefined;
    if (!rollout) {
      throw new RingmasterError('STATE', `no rollout of ${pipeline.name}/${ring.name} was started`, {
        scope: 'engine',
      });
    }
    const position = rollout.outcome ? undefined : rolloutPosition(pipeline, p, rollout, this.rt.clock.now());
    return {
      rollout: rollout.id,
      kind: rollout.kind,
      release: rollout.release,
      version: p.releases.get(rollout.release)?.version ?? rollout.release,
      ...(rollout.outcome ? { outcome: rollout.outcome } : {}),
      ...(rollout.outcomeReason ? { reason: rollout.outcomeReason } : {}),
      chosen,
      verified: p.releaseRings.get(rollout.release)?.get(ring.name)?.status === 'verified',
      ...(position ? { position } : {}),
    };
  }

  /**
   * Ends the pause step a ring's rollout waits at (for a person, or early for a timed one) and
   * records who did. The rollout goes on at the engine's next pass, or in `drive`'s session.
   */
  async resume(input: ResumeInput): Promise<{ rollout: string; step: number }> {
    const pipeline = this.pipeline(input.pipeline);
    const index = this.ringIndex(pipeline, input.ring);
    const ring = pipeline.rings[index]!;
    // A lock stops a paused rollout from going on, as it stops one from starting.
    this.assertUnlocked(pipeline, ring);
    const inFlight = ringState(this.rt.state(pipeline.name), ring.name).inFlight;
    const release = inFlight
      ? this.rt
          .state(pipeline.name)
          .releases.get(this.rt.state(pipeline.name).rollouts.get(inFlight)!.release)
      : undefined;
    // So does a freeze begun since: going on through it is breaking glass.
    const broke = release
      ? this.throughFreeze(pipeline, index, release, input.by ?? 'api', input.breakGlass)
      : undefined;
    let resumed: { rollout: string; step: number } | undefined;
    await this.rt.ledger.decide(() => {
      const p = this.rt.state(pipeline.name);
      const action = ringAction(pipeline, p, index, this.rt.clock.now(), this.rt);
      if (action.action !== 'resume' || !action.step?.waiting)
        throw new RingmasterError(
          'STATE',
          `${pipeline.name}/${input.ring} has no paused rollout to resume: ${action.reason}`,
          { scope: 'engine' },
        );
      resumed = { rollout: action.rollout, step: action.step.step };
      return [
        ...(broke ? broke() : []),
        entry('rollout.resumed', {
          pipeline: pipeline.name,
          rollout: action.rollout,
          step: action.step.step,
          by: input.by ?? 'api',
          ...(input.reason ? { reason: input.reason } : {}),
        }),
      ];
    });
    return resumed!;
  }

  /**
   * Aborts the ring's rollout in flight: recorded as who and why, and at its next step boundary
   * (at once for a paused or parked one, when driven) it applies `onFailure` to the hosts done
   * so far — rolls them back, or halts — as when its failure budget is spent.
   */
  async abort(input: {
    pipeline: string;
    ring: string;
    reason: string;
    by?: string;
  }): Promise<{ rollout: string }> {
    const pipeline = this.pipeline(input.pipeline);
    const ring = pipeline.rings[this.ringIndex(pipeline, input.ring)]!;
    if (!input.reason.trim())
      throw new RingmasterError('CONFIG', 'reason: say why the rollout is aborted', { scope: 'engine' });
    let aborted: { rollout: string } | undefined;
    await this.rt.ledger.decide(() => {
      const p = this.rt.state(pipeline.name);
      const id = ringState(p, ring.name).inFlight;
      const rollout = id ? p.rollouts.get(id) : undefined;
      if (!rollout)
        throw new RingmasterError(
          'STATE',
          `${pipeline.name}/${ring.name} has no rollout in flight to abort`,
          {
            scope: 'engine',
          },
        );
      if (rollout.aborted)
        throw new RingmasterError(
          'STATE',
          `${rollout.id} was aborted already by ${rollout.aborted.by} at ${rollout.aborted.at}: ${rollout.aborted.reason}`,
          { scope: 'engine' },
        );
      aborted = { rollout: rollout.id };
      return [
        entry('rollout.aborted', {
          pipeline: pipeline.name,
          rollout: rollout.id,
          by: input.by ?? 'api',
          reason: input.reason,
        }),
      ];
    });
    return aborted!;
  }

  /**
   * Drives the ring's rollout in flight on from where it is (after `resume`), to its end or its
   * next pause; undefined when another process holds the ring (it carries the rollout on).
   */
  async drive(input: {
    pipeline: string;
    ring: string;
    chosen?: string;
  }): Promise<RolloutSummary | undefined> {
    const pipeline = this.pipeline(input.pipeline);
    const ring = pipeline.rings[this.ringIndex(pipeline, input.ring)]!;
    const id = ringState(this.rt.state(pipeline.name), ring.name).inFlight;
    if (!id) return undefined;
    const before = ringState(this.rt.state(pipeline.name), ring.name).rollouts.indexOf(id);
    const ran = await this.rings.withRingLock(pipeline, ring, (session) => this.rings.resumeRollout(session));
    return ran ? this.summary(pipeline, ring, before, input.chosen ?? `resumed in ${ring.name}`) : undefined;
  }

  async lock(input: { pipeline: string; ring: string; reason: string; by?: string }): Promise<void> {
    const pipeline = this.pipeline(input.pipeline);
    this.ringIndex(pipeline, input.ring);
    // Decided on the ledger as it is when written: a lock taken meanwhile by someone else stands.
    await this.rt.ledger.decide(() => {
      const locked = ringState(this.rt.state(pipeline.name), input.ring).locked;
      if (locked) {
        throw new RingmasterError(
          'STATE',
          `${pipeline.name}/${input.ring} is already locked by ${locked.by} since ${locked.at}: ${locked.reason}; unlock it first to lock it again`,
          { scope: 'engine', details: { locked } },
        );
      }
      return [
        entry('ring.locked', {
          pipeline: pipeline.name,
          ring: input.ring,
          reason: input.reason,
          by: input.by ?? 'api',
        }),
      ];
    });
  }

  async unlock(input: { pipeline: string; ring: string; by?: string; reason?: string }): Promise<void> {
    const pipeline = this.pipeline(input.pipeline);
    this.ringIndex(pipeline, input.ring);
    await this.rt.ledger.decide(() => {
      if (!ringState(this.rt.state(pipeline.name), input.ring).locked) {
        throw new RingmasterError(
          'STATE',
          `${pipeline.name}/${input.ring} is not locked; nothing to unlock`,
          {
            scope: 'engine',
          },
        );
      }
      return [
        entry('ring.unlocked', {
          pipeline: pipeline.name,
          ring: input.ring,
          by: input.by ?? 'api',
          ...(input.reason ? { reason: input.reason } : {}),
        }),
      ];
    });
  }

  async allow(input: { pipeline: string; ring: string; release: string; by?: string }): Promise<void> {
    const pipeline = this.pipeline(input.pipeline);
    this.ringIndex(pipeline, input.ring);
    const release = this.findRelease(pipeline, input.release);
    await this.rt.ledger.decide(() => {
      const status = this.rt.state(pipeline.name).releaseRings.get(release.id)?.get(input.ring)?.status;
      if (status !== 'rejected') {
        throw new RingmasterError(
          'STATE',
          `${release.version} is not rejected in ${pipeline.name}/${input.ring} (it is ${status ?? 'not there'}); nothing to allow`,
          { scope: 'engine' },
        );
      }
      return [
        entry('ring.unrejected', {
          pipeline: pipeline.name,
          ring: input.ring,
          release: release.id,
          by: input.by ?? 'api',
        }),
      ];
    });
  }

  /** Asks for a failed build to be run again: the revision's next attempt, at the next build. */
  async rebuild(input: { pipeline: string; revision: string; by?: string }): Promise<{ revision: string }> {
    const pipeline = this.pipeline(input.pipeline);
    const p = this.rt.state(pipeline.name);
    const matches = [...p.revisions.values()].filter(
      (r) =>
        r.revision.id === input.revision ||
        (input.revision.length >= 7 && r.revision.id.startsWith(input.revision)),
    );
    if (matches.length !== 1) {
      throw new RingmasterError(
        'NOT_FOUND',
        matches.length
          ? `"${input.revision}" names ${matches.length} revisions of ${pipeline.name}; give more of it`
          : `pipeline ${pipeline.name} has seen no revision "${input.revision}"`,
        { scope: 'engine' },
      );
    }
    const revision = matches[0]!.revision.id;
    await this.rt.ledger.decide(() => {
      const seen = this.rt.state(pipeline.name).revisions.get(revision)!;
      const status = seen.build?.status;
      if (status !== 'failed') {
        const why =
          status === 'succeeded'
            ? `it was built into release ${seen.build?.release ?? '?'}`
            : status === 'running'
              ? 'its build is running'
              : 'it has not been built yet';
        throw new RingmasterError('STATE', `${revision.slice(0, 12)} needs no retry: ${why}`, {
          scope: 'engine',
        });
      }
      return [entry('build.retried', { pipeline: pipeline.name, revision, by: input.by ?? 'api' })];
    });
    return { revision };
  }

  /** Brings drifted hosts back to their ring's release (see `Engine.converge`). */
  async converge(input: {
    pipeline?: string;
    ring?: string;
    by?: string;
    limit?: string | readonly string[];
  }): Promise<ConvergeReport> {
    if (input.ring !== undefined && input.pipeline === undefined)
      throw new RingmasterError('CONFIG', 'converge of a ring needs its pipeline too', { scope: 'engine' });
    if (input.limit !== undefined && input.ring === undefined)
      throw new RingmasterError('CONFIG', '--limit: name the pipeline and ring whose hosts it means', {
        scope: 'engine',
      });
    const pipelines = input.pipeline ? [this.pipeline(input.pipeline)] : [...this.pipelines.values()];
    const limit =
      input.ring !== undefined
        ? (() => {
            const ring = pipelines[0]!.rings[this.ringIndex(pipelines[0]!, input.ring)]!;
            return input.limit !== undefined ? matchHosts(ring, limitText(input.limit)) : undefined;
          })()
        : undefined;
    return convergePipelines(this.rt, this.rings, pipelines, input.ring, input.by ?? 'api', limit);
  }

  /** What `status` shows: the pipelines, rings and (with a ring and `limit`) hosts asked for. */
  statusFilter(options: { pipeline?: string; ring?: string; limit?: string | readonly string[] }): {
    pipelines: Pipeline[];
    ring?: (pipeline: string, ring: string) => boolean;
    host?: (pipeline: string, ring: string, host: string) => boolean;
  } {
    if (options.ring !== undefined && options.pipeline === undefined)
      throw new RingmasterError('CONFIG', 'status of a ring needs its pipeline too', { scope: 'engine' });
    if (options.limit !== undefined && options.ring === undefined)
      throw new RingmasterError('CONFIG', '--limit: name the pipeline and ring whose hosts it means', {
        scope: 'engine',
      });
    if (options.pipeline === undefined) return { pipelines: [...this.pipelines.values()] };
    const pipeline = this.pipeline(options.pipeline);
    if (options.ring === undefined) return { pipelines: [pipeline] };
    const ring = pipeline.rings[this.ringIndex(pipeline, options.ring)]!;
    const onlyRing = (_p: string, r: string) => r === ring.name;
    if (options.limit === undefined) return { pipelines: [pipeline], ring: onlyRing };
    const hosts = new Set(matchHosts(ring, limitText(options.limit)));
    return { pipelines: [pipeline], ring: onlyRing, host: (_p, _r, host) => hosts.has(host) };
  }

  /**
   * Takes a host out of rotation, with a reason: rollouts and gates skip it, and `status` shows it
   * as disabled (who, why), counting it as neither drift nor failure.
   */
  async disableHost(input: { pipeline: string; ring: string; host: string; reason: string; by?: string }) {
    const pipeline = this.pipeline(input.pipeline);
    const ring = pipeline.rings[this.ringIndex(pipeline, input.ring)]!;
    if (!ring.target.hosts.some((h) => h.name === input.host))
      throw new RingmasterError(
        'NOT_FOUND',
        `${pipeline.name}/${ring.name} has no host "${input.host}"; its hosts are ${ring.target.hosts.map((h) => h.name).join(', ')}`,
        { scope: 'engine' },
      );
    if (!input.reason.trim())
      throw new RingmasterError('CONFIG', 'reason: say why the host is out of rotation', { scope: 'engine' });
    await this.rt.ledger.decide(() => {
      const rs = ringState(this.rt.state(pipeline.name), ring.name);
      const off = rs.disabled.get(input.host);
      if (off)
        throw new RingmasterError(
          'STATE',
          `${input.host} is already disabled in ${pipeline.name}/${ring.name} by ${off.by} since ${off.at}: ${off.reason}`,
          { scope: 'engine' },
        );
      // A host under way in a rollout would be half in it: let the rollout end first.
      if (rs.inFlight)
        throw new RingmasterError(
          'STATE',
          `${pipeline.name}/${ring.name} has a rollout under way (${rs.inFlight}); disable ${input.host} once it ends`,
          { scope: 'engine' },
        );
      return [
        entry('host.disabled', {
          pipeline: pipeline.name,
          ring: ring.name,
          host: input.host,
          reason: input.reason,
          by: input.by ?? 'api',
        }),
      ];
    });
  }

  /** Puts a disabled host back in rotation, then converges it to the ring's release. */
  async enableHost(input: {
    pipeline: string;
    ring: string;
    host: string;
    by?: string;
  }): Promise<ConvergeReport> {
    const pipeline = this.pipeline(input.pipeline);
    const ring = pipeline.rings[this.ringIndex(pipeline, input.ring)]!;
    await this.rt.ledger.decide(() => {
      if (!ringState(this.rt.state(pipeline.name), ring.name).disabled.has(input.host))
        throw new RingmasterError(
          'STATE',
          `${input.host} is not disabled in ${pipeline.name}/${ring.name}; nothing to enable`,
          { scope: 'engine' },
        );
      return [
        entry('host.enabled', {
          pipeline: pipeline.name,
          ring: ring.name,
          host: input.host,
          by: input.by ?? 'api',
        }),
      ];
    });
    return convergePipelines(this.rt, this.rings, [pipeline], ring.name, input.by ?? 'api', [input.host]);
  }

  /**
   * Throws `STATE` when the ring is pinned and `release` is not its pinned one (undefined: any
   * other release, as a rollback to whatever came before): unpin first.
   */
  private assertNotPinnedAway(pipeline: Pipeline, ring: Ring, release: string | undefined): void {
    const pinned = ringState(this.rt.state(pipeline.name), ring.name).pinned;
    if (!pinned || (release !== undefined && release === pinned.release)) return;
    throw new RingmasterError(
      'STATE',
      `${pipeline.name}/${ring.name} is pinned to ${pinned.release} by ${pinned.by}: ${pinned.reason}; unpin it first (ringmaster unpin ${pipeline.name} ${ring.name})`,
      { scope: 'engine', details: { pinned: pinned.release, by: pinned.by } },
    );
  }

  /**
   * Holds a ring on the release it runs (default: that one; naming another is refused): automatic
   * promotion waits, and promote or rollback to another release is refused, until `unpinRing`.
   */
  async pin(input: {
    pipeline: string;
    ring: string;
    release?: string;
    reason: string;
    by?: string;
  }): Promise<void> {
    const pipeline = this.pipeline(input.pipeline);
    this.ringIndex(pipeline, input.ring);
    if (!input.reason.trim())
      throw new RingmasterError('CONFIG', 'reason: say why the ring is pinned', { scope: 'engine' });
    const named = input.release ? this.findRelease(pipeline, input.release) : undefined;
    await this.rt.ledger.decide(() => {
      const p = this.rt.state(pipeline.name);
      const rs = ringState(p, input.ring);
      const where = `${pipeline.name}/${input.ring}`;
      if (rs.pinned)
        throw new RingmasterError(
          'STATE',
          `${where} is already pinned to ${rs.pinned.release} by ${rs.pinned.by}: ${rs.pinned.reason}; unpin it first to pin it again`,
          { scope: 'engine' },
        );
      const current = rs.current ? p.releases.get(rs.current) : undefined;
      if (!current)
        throw new RingmasterError('STATE', `${where} runs no release yet: there is nothing to pin`, {
          scope: 'engine',
        });
      if (rs.inFlight)
        throw new RingmasterError(
          'STATE',
          `${where} has a rollout under way (${rs.inFlight}): pin it once it ends`,
          {
            scope: 'engine',
          },
        );
      if (named && named.id !== current.id)
        throw new RingmasterError(
          'STATE',
          `${where} runs ${current.version}, not ${named.version}: a pin holds a ring on what it runs; deploy ${named.version} first, then pin it`,
          { scope: 'engine' },
        );
      return [
        entry('ring.pinned', {
          pipeline: pipeline.name,
          ring: input.ring,
          release: current.id,
          reason: input.reason,
          by: input.by ?? 'api',
        }),
      ];
    });
  }

  /** Lifts a ring's pin: its policy may promote again. */
  async unpinRing(input: { pipeline: string; ring: string; by?: string }): Promise<void> {
    const pipeline = this.pipeline(input.pipeline);
    this.ringIndex(pipeline, input.ring);
    await this.rt.ledger.decide(() => {
      if (!ringState(this.rt.state(pipeline.name), input.ring).pinned)
        throw new RingmasterError('STATE', `${pipeline.name}/${input.ring} is not pinned; nothing to unpin`, {
          scope: 'engine',
        });
      return [entry('ring.unpinned', { pipeline: pipeline.name, ring: input.ring, by: input.by ?? 'api' })];
    });
  }

  /**
   * Marks a release bad in every ring (a rejection in each, by a person): no policy promotes it
   * again, and the rings running it say so and offer a rollback. Rings where it is rejected
   * already keep their rejection. Returns the rings it was rejected in now.
   */
  async reject(input: { pipeline: string; release: string; reason: string; by?: string }): Promise<string[]> {
    const pipeline = this.pipeline(input.pipeline);
    const release = this.findRelease(pipeline, input.release);
    if (!input.reason.trim())
      throw new RingmasterError('CONFIG', 'reason: say why the release is bad', { scope: 'engine' });
    let rings: string[] = [];
    await this.rt.ledger.decide(() => {
      const p = this.rt.state(pipeline.name);
      // A rollout of it under way would record its own end over the rejection: wait for it.
      for (const ring of pipeline.rings) {
        const inFlight = ringState(p, ring.name).inFlight;
        const rollout = inFlight ? p.rollouts.get(inFlight) : undefined;
        if (rollout?.release === release.id)
          throw new RingmasterError(
            'STATE',
            `${release.version} is being rolled out to ${ring.name} (${rollout.id}); reject it once that ends (or lock ${ring.name} to stop what follows)`,
            { scope: 'engine' },
          );
      }
      const standing = p.releaseRings.get(release.id);
      rings = pipeline.rings.map((r) => r.name).filter((r) => standing?.get(r)?.status !== 'rejected');
      if (rings.length === 0)
        throw new RingmasterError('STATE', `${release.version} is rejected in every ring already`, {
          scope: 'engine',
        });
      return rings.map((ring) =>
        entry('ring.rejected', {
          pipeline: pipeline.name,
          ring,
          release: release.id,
          reason: `marked bad by ${input.by ?? 'api'}: ${input.reason}`,
          by: input.by ?? 'api',
        }),
      );
    });
    return rings;
  }

  private assertUnlocked(pipeline: Pipeline, ring: Ring): void {
    const locked = ringState(this.rt.state(pipeline.name), ring.name).locked;
    if (locked) {
      throw new RingmasterError(
        'LOCKED',
        `${pipeline.name}/${ring.name} is locked by ${locked.by}: ${locked.reason}; unlock it first`,
        { scope: 'engine' },
      );
    }
  }
}
