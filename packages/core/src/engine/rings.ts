/**
 * The ring runner: everything done to one ring happens in a ring session — holding the ring's
 * lease (kept alive for as long as the work runs), with every write fenced by it and by the
 * engine's lease, and a signal that stops the work at the next host boundary when the engine
 * stops or a lease is lost. Decisions (start a rollout) are taken again if the ledger moved on.
 *
 * With many runners (a store with `capabilities.manyRunners`) the session's holder also shares
 * each batch: it opens the batch to everyone, and any runner claims hosts of it (a lease per
 * host, its records fenced by that claim). The holder alone weighs a batch and decides what
 * comes next; a rollback is never shared.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { SuiteListing } from '../contracts/artifact.js';
import type { Lease } from '../contracts/store.js';
import { plainMessage, RingmasterError } from '../errors.js';
import { runCommand } from '../exec/run.js';
import { type Entry, entry, type LedgerDecision } from '../ledger/ledger.js';
import type { RolloutKind, RolloutOutcome, TypedRecord } from '../ledger/records.js';
import type { PipelineState, ReleaseState, RolloutState } from '../ledger/state.js';
import { pipelineState, ringState } from '../ledger/state.js';
import { formatDuration } from '../model/duration.js';
import { type Gate, type GateOutcome, gateFailureLine } from '../model/gate.js';
import { type OncePhase, type OnceStep, onceKey } from '../model/once.js';
import type { Pipeline, Ring } from '../model/pipeline.js';
import { type RingEnv, ringEnv } from '../model/secrets.js';
import {
  type CheckpointResult,
  deployHost,
  executeRollout,
  type HostSharing,
  mapLimited,
  type RolloutRecorder,
  type RolloutResult,
} from '../rollout/execute.js';
import { type Checkpoint, describeStep, type PlannedStep } from '../rollout/strategy.js';
import { describeHolder } from '../store/lockfile.js';
import { frozenFor } from './eligibility.js';
import { enabledHosts, rolloutHosts } from './hosts.js';
import { LeaseKeeper } from './lease.js';
import { notice } from './notify.js';
import { rolloutPlanFor } from './preview.js';
import { processRecorder, reapOrphans } from './processes.js';
import type { Project } from './relations.js';
import { ringAction } from './ring-action.js';
import type { Runtime } from './runtime.js';

/** Why a ring's suite could not be changed, and whether trying again later may work. */
interface SuiteFailure {
  why: string;
  transient: boolean;
}

/** How often a ring's holder (or a helper) looks for other runners' progress on a shared batch. */
const SHARE_POLL_MS = 25;
/** How long a helper waits for the holder to open the next batch before it goes on with its pass. */
const HELP_IDLE_MS = 500;

interface HostClaim {
  recorder: RolloutRecorder;
  /** Renews the claim with the store, or throws `LOCKED`: called right before the host is changed. */
  confirm(): Promise<void>;
  release(): Promise<void>;
}

/** Records a rollout's host steps through `write`. */
function hostRecorder(
  write: (...entries: Entry[]) => Promise<unknown>,
  base: { pipeline: string; rollout: string },
): RolloutRecorder {
  return {
    hostStarted: async (host, from, phase) => {
      await write(entry('host.started', { ...base, host, from, phase }));
    },
    hostFinished: async (host, outcome, phase) => {
      await write(
        entry('host.finished', {
          ...base,
          host,
          phase,
          ok: outcome.ok,
          state: outcome.state,
          ...(outcome.error ? { error: outcome.error } : {}),
          ...(outcome.alreadyThere ? { alreadyThere: true } : {}),
          ...(outcome.untouched ? { untouched: true } : {}),
        }),
      );
    },
  };
}

/** Waits `ms` (real time: a poll interval, not a schedule), or until `signal` aborts. */
function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** One piece of work on a ring, under its lease. */
export interface RingSession {
  readonly pipeline: Pipeline;
  readonly ring: Ring;
  /** The leases the session's writes are made under (the engine's, if any, and the ring's). */
  readonly fence: readonly Lease[];
  /** Aborted when the engine stops or its pass is cut short, or a lease is lost (reason: LOCKED). */
  readonly signal: AbortSignal;
  /** Appends facts under the engine's and the ring's leases. */
  write(...entries: Entry[]): Promise<TypedRecord[]>;
  /** Takes a decision under those leases, again after a conflict. */
  decide(decision: LedgerDecision): Promise<TypedRecord[]>;
  /** The ring's vars and secrets, read when a rollout or gate first needs them, kept for this session only. */
  readonly env: RingEnv;
}

/**
 * Why a session's work ended early, when it was for a lost lease: the keeper noticed (the
 * signal's reason), or the store refused an append fenced by one of `fence`.
 */
function lostLease(
  session: RingSession,
  fence: readonly Lease[],
  error?: unknown,
): RingmasterError | undefined {
  const reason: unknown = session.signal.reason;
  if (reason instanceof RingmasterError && reason.code === 'LOCKED') return reason;
  if (
    error instanceof RingmasterError &&
    error.code === 'LOCKED' &&
    fence.some((lease) => lease.name === error.details.lock)
  )
    return error;
  return undefined;
}

/** Whether the approvers were asked already for `release` in `ring`: an approval notice queued. */
function approvalAsked(p: PipelineState, ring: string, release: string): boolean {
  for (const { notification: n } of p.notifications.values())
    if (n.kind === 'approval' && n.ring === ring && n.release === release) return true;
  return false;
}

/**
 * The notice that asks for the approvals ring `index` waits for, on the ledger's view `p` at
 * `now`: none when the ring does not wait for approvals, or its approvers were asked already for
 * that release. It is for the approvers, not the committer: no `author`, so no `to` either.
 */
function approvalNotice(
  pipeline: Pipeline,
  p: PipelineState,
  index: number,
  now: Date,
  pageUrl: string | undefined,
  project: Project,
): Entry | undefined {
  const action = ringAction(pipeline, p, index, now, project);
  if (action.action !== 'wait' || action.decision.verdict !== 'wait') return undefined;
  const { awaiting } = action.decision;
  if (!awaiting || approvalAsked(p, action.ring, action.release)) return undefined;
  const release = p.releases.get(action.release);
  const n = awaiting.approvals;
  const from = awaiting.from?.length ? ` from ${awaiting.from.join(', ')}` : '';
  return notice(pipeline, {
    kind: 'approval',
    pipeline: pipeline.name,
    ok: true, // nothing failed: the release is ready, and people are asked to let it go on
    summary: `${pipeline.name} ${action.version} waits for approval in ${action.ring}: waiting for ${n} more approval${n === 1 ? '' : 's'}${from}${pageUrl ? ` — approve: ${pageUrl}` : ''}`,
    ...(release ? { revision: release.revision } : {}),
    release: action.release,
    ring: action.ring,
    ...(pageUrl ? { url: pageUrl } : {}),
    ...(awaiting.from ? { approvers: [...awaiting.from] } : {}),
  });
}

export class RingRunner {
  /** Per shared rollout: the open batch, and the hosts of it this runner tried to claim. */
  private readonly tried = new Map<string, { batch: number; hosts: Set<string> }>();

  constructor(private readonly rt: Runtime) {}

  /** One pass over a ring: asks the ring state machine what to do, and does it. */
  async reconcileRing(pipeline: Pipeline, index: number): Promise<void> {
    const ring = pipeline.rings[index]!;
    const action = ringAction(pipeline, this.rt.state(pipeline.name), index, this.rt.clock.now(), this.rt);
    switch (action.action) {
      case 'resume':
      case 'verifying': {
        // A rollout held by a pause step has nothing to do until it is resumed or its time is up.
        if (action.action === 'resume' && action.step?.waiting) return;
        const ran = await this.withRingLock(pipeline, ring, (session) => this.continueRing(session, index));
        // With many runners, the ring's holder shares each batch: help with the open one.
        if (!ran && action.action === 'resume' && this.rt.manyRunners) await this.helpRollout(pipeline, ring);
        return;
      }
      case 'promote':
      case 'wait':
      case 'blocked':
        this.rt.emit('decision', {
          pipeline: pipeline.name,
          ring: ring.name,
          release: action.release,
          version: action.version,
          decision: action.decision,
          reason: action.reason,
          ...(action.needs ? { needs: action.needs } : {}),
        });
        break;
      default:
        return;
    }
    if (action.action === 'wait' && action.decision.verdict === 'wait' && action.decision.awaiting)
      await this.askForApproval(pipeline, index);
    if (action.action !== 'promote') return;
    // Decided again on the ledger as it is when the rollout is recorded: a lock, a rejection or a
    // newer approval written meanwhile by someone else wins.
    await this.deploy(pipeline, ring, () => {
      const now = ringAction(pipeline, this.rt.state(pipeline.name), index, this.rt.clock.now(), this.rt);
      if (now.action !== 'promote') return undefined;
      return {
        release: this.rt.state(pipeline.name).releases.get(now.release)!,
        reason: now.decision.reason,
      };
    });
  }

  /**
   * Tells the approvers that a release waits for them in the ring, once per pipeline, ring and
   * release. "Once" is read from the ledger, and the notice is a decision taken on it as it is
   * when appended (compare-and-set): after a restart, or with another runner deciding the same
   * at once, the notice already queued is found and no second one is.
   */
  private async askForApproval(pipeline: Pipeline, index: number): Promise<void> {
    const ask = (p: PipelineState) =>
      approvalNotice(pipeline, p, index, this.rt.clock.now(), this.rt.pageUrl, this.rt);
    if (!ask(this.rt.state(pipeline.name))) return; // asked already: no write at all
    await this.rt.ledger.decide((state) => {
      const notice = ask(pipelineState(state, pipeline.name));
      return notice ? [notice] : [];
    });
  }

  /**
   * Resumes the ring's rollout or runs its gates, if that is still what the ring needs on the
   * ledger as it is now, under the lease: the holder before (a runner that died, a CLI) may have
   * finished the step between the look that brought us here and the lease.
   */
  private async continueRing(session: RingSession, index: number): Promise<void> {
    const { pipeline } = session;
    const now = ringAction(pipeline, this.rt.state(pipeline.name), index, this.rt.clock.now(), this.rt);
    if (now.action === 'resume') await this.resumeRollout(session);
    else if (now.action === 'verifying')
      await this.runGates(session, this.rt.state(pipeline.name).releases.get(now.release)!);
  }

  /**
   * Runs `work` in a session holding the ring's lease, renewed in the background for as long as
   * the work takes (a slow gate included); skips quietly when another process holds it, unless
   * the lock is `required`. When a lease is lost, the work stops at its next host boundary, the
   * loss is recorded (outside the fence: it is the loser's own account) and `LOCKED` is thrown.
   * Resolves true when the work ran, false when it was skipped.
   */
  async withRingLock(
    pipeline: Pipeline,
    ring: Ring,
    work: (session: RingSession) => Promise<void>,
    required = false,
  ): Promise<boolean> {
    const name = `rollout:${pipeline.name}:${ring.name}`;
    const store = this.rt.ledger.store;
    const lease = await store.acquire(name, { owner: this.rt.owner, ttlMs: this.rt.leaseMs });
    if (!lease) {
      if (!required) return false;
      const holder = await store.inspect(name);
      throw new RingmasterError(
        'LOCKED',
        `a rollout of ${pipeline.name}/${ring.name} is under way: ${holder ? describeHolder(holder) : 'another process'}; try again when it ends`,
        { scope: 'engine', details: { holder } },
      );
    }
    const keeper = new LeaseKeeper(store, lease, this.rt.leaseMs, (error) =>
      this.rt.emit('error', { pipeline: pipeline.name, operation: `renew ${name}`, error }),
    );
    const fence = [...this.rt.ledger.fence(), lease];
    const session: RingSession = {
      pipeline,
      ring,
      fence,
      signal: AbortSignal.any([this.rt.signal, keeper.signal]),
      write: (...entries) => this.rt.ledger.writeUnder(fence, ...entries),
      decide: (decision) => this.rt.ledger.decide(decision, fence),
      env: ringEnv(ring, this.rt.mask),
    };
    let failure: unknown;
    try {
      await this.rt.ledger.refresh(); // another process may have moved the ring while we waited
      // Gates and once-steps a dead holder left running in this ring are ours to end now: a
      // one-shot CLI killed mid-step never starts an engine that would reap them.
      await reapOrphans(
        this.rt,
        [pipeline],
        (step) => (step.kind === 'gate' || step.kind === 'once') && step.ring === ring.name,
        (record) => session.write(record),
      );
      await work(session);
    } catch (error) {
      failure = error;
    } finally {
      await keeper.stop();
      await store.release(lease).catch(() => {}); // a lost lease is not ours to release
    }
    const lost = lostLease(session, fence, failure);
    // The engine records the loss of its own lease; the ring's is recorded here.
    if (lost?.details.lock === name) {
      await this.rt.ledger
        .writeUnder(
          [],
          entry('lease.lost', {
            pipeline: pipeline.name,
            ring: ring.name,
            lease: name,
            owner: this.rt.owner,
            reason: `${lost.message}; stopped at the next host boundary, the new holder resumes from the ledger`,
          }),
        )
        .catch(() => {}); // best effort: the store may be what failed
    }
    if (lost) throw lost;
    if (failure !== undefined) throw failure;
    return true;
  }

  /**
   * Claims one host of a shared rollout for this runner (a lease of its own, renewed while the
   * host's step runs): its records are written under the claim (and `fence`, the ring's lease
   * for the ring's holder), so a runner whose claim lapsed cannot write for the host any more.
   */
  private async claimHost(
    pipeline: Pipeline,
    ring: Ring,
    rollout: string,
    host: string,
    fence: readonly Lease[],
  ): Promise<HostClaim | undefined> {
    const name = `host:${pipeline.name}:${ring.name}:${host}`;
    const store = this.rt.ledger.store;
    const lease = await store.acquire(name, { owner: this.rt.owner, ttlMs: this.rt.leaseMs });
    if (!lease) return undefined;
    const keeper = new LeaseKeeper(store, lease, this.rt.leaseMs, (error) =>
      this.rt.emit('error', { pipeline: pipeline.name, operation: `renew ${name}`, error }),
    );
    const write = (...entries: Entry[]) => this.rt.ledger.writeUnder([...fence, keeper.current], ...entries);
    return {
      recorder: hostRecorder(write, { pipeline: pipeline.name, rollout }),
      confirm: async () => {
        if (keeper.signal.aborted) throw keeper.signal.reason;
        await store.renew(keeper.current, this.rt.leaseMs);
      },
      release: async () => {
        await keeper.stop();
        await store.release(keeper.current).catch(() => {});
      },
    };
  }

  /** The coordination a ring's holder offers the other runners for `rollout` (see HostSharing). */
  private sharing(session: RingSession, rollout: string, fence: readonly Lease[]): HostSharing {
    const { pipeline, ring } = session;
    const current = () => this.rt.state(pipeline.name).rollouts.get(rollout);
    return {
      open: async (index) => {
        if ((current()?.batchesOpened ?? 0) > index) return;
        await session.write(entry('batch.started', { pipeline: pipeline.name, rollout, batch: index }));
      },
      claim: (host) => this.claimHost(pipeline, ring, rollout, host, fence),
      refresh: async () => {
        await this.rt.ledger.refresh();
      },
      step: (host) => current()?.hosts.get(host),
      pause: async (signal) => {
        await pause(SHARE_POLL_MS, signal);
        await this.rt.ledger.refresh();
      },
    };
  }

  /**
   * Works on the hosts of the batches another runner opens in this ring's rollout, as many at
   * once as `forks` allows, each under its claim: the holder waits for them, weighs each batch,
   * and alone decides what comes next (the next batch, or a rollback, which is never shared).
   * It stays while there is work (waiting up to HELP_IDLE_MS for the holder to open the next
   * batch), then returns to the rest of its pass.
   */
  private async helpRollout(pipeline: Pipeline, ring: Ring): Promise<void> {
    let idleSince = Date.now();
    while (!this.rt.signal.aborted) {
      await this.rt.ledger.refresh();
      const p = this.rt.state(pipeline.name);
      const id = ringState(p, ring.name).inFlight;
      const rollout = id ? p.rollouts.get(id) : undefined;
      const opened = rollout?.batchesOpened ?? 0;
      if (!rollout || opened === 0 || rollout.outcome || rollout.rollbacks.size > 0) return;
      const tried = this.triedIn(pipeline.name, rollout.id, opened);
      const pending = (rollout.batches[opened - 1] ?? []).filter(
        (host) => !rollout.hosts.get(host)?.finished && !tried.has(host),
      );
      if (pending.length === 0) {
        if (Date.now() - idleSince > HELP_IDLE_MS) return;
        await pause(SHARE_POLL_MS, this.rt.signal);
        continue;
      }
      idleSince = Date.now();
      for (const host of pending) tried.add(host);
      await mapLimited(pending, this.rt.forks ?? pending.length, (host) =>
        this.helpWithHost(pipeline, ring, rollout, opened, host),
      );
    }
  }

  /**
   * The hosts of a shared batch this runner already tried to claim: another runner had the
   * rest, and the ring's holder takes over any whose claim lapses, so they are not asked again.
   */
  private triedIn(pipeline: string, rollout: string, batch: number): Set<string> {
    const key = `${pipeline}/${rollout}`;
    let entry = this.tried.get(key);
    if (entry?.batch !== batch) {
      entry = { batch, hosts: new Set() };
      this.tried.set(key, entry);
    }
    return entry.hosts;
  }

  /**
   * With many runners: helps with every shared batch that still has hosts nobody claimed (in any
   * of `pipelines`), before the pass goes on to its next pipeline. A shared batch holds up its
   * whole ring, so it comes first.
   */
  async helpOpenBatches(pipelines: readonly Pipeline[]): Promise<void> {
    await this.rt.ledger.refresh();
    // What was tried in rollouts that have ended is of no use any more.
    for (const key of this.tried.keys()) {
      const [pipeline, rollout] = key.split('/') as [string, string];
      if (this.rt.state(pipeline).rollouts.get(rollout)?.outcome) this.tried.delete(key);
    }
    for (const pipeline of pipelines) {
      const p = this.rt.state(pipeline.name);
      for (const ring of pipeline.rings) {
        if (this.rt.signal.aborted) return;
        const id = ringState(p, ring.name).inFlight;
        const rollout = id ? p.rollouts.get(id) : undefined;
        const opened = rollout?.batchesOpened ?? 0;
        if (!rollout || opened === 0 || rollout.outcome || rollout.rollbacks.size > 0) continue;
        const tried = this.triedIn(pipeline.name, rollout.id, opened);
        const open = (rollout.batches[opened - 1] ?? []).some(
          (host) => !rollout.hosts.get(host) && !tried.has(host),
        );
        if (open) await this.helpRollout(pipeline, ring);
      }
    }
  }

  /** Deploys one host of an open shared batch, if it can be claimed and still needs it. */
  private async helpWithHost(
    pipeline: Pipeline,
    ring: Ring,
    rollout: RolloutState,
    opened: number,
    host: string,
  ): Promise<void> {
    if (this.rt.signal.aborted) return;
    const claim = await this.claimHost(pipeline, ring, rollout.id, host, this.rt.ledger.fence());
    if (!claim) return;
    try {
      await this.rt.ledger.refresh();
      const p = this.rt.state(pipeline.name);
      const now = p.rollouts.get(rollout.id);
      // Only while the holder still waits on this batch: not once it moved on or rolls back.
      if (!now || now.outcome || now.rollbacks.size > 0 || (now.batchesOpened ?? 0) !== opened) return;
      const step = now.hosts.get(host);
      if (step?.finished) return;
      await deployHost(
        {
          spec: rollout.strategy,
          batches: rollout.batches,
          target: ring.target,
          artifact: p.releases.get(rollout.release)!.artifact,
          prior: { hosts: new Map(step ? [[host, step]] : []), rollbacks: now.rollbacks },
          resolve: async () => undefined, // a helper never rolls back
          recorder: claim.recorder,
          beforeInstall: claim.confirm,
          env: ringEnv(ring, this.rt.mask),
        },
        host,
      );
    } catch (error) {
      this.rt.emit('error', {
        pipeline: pipeline.name,
        operation: `help ${rollout.id} on ${host}`,
        error: error instanceof Error ? error : new Error(String(error)),
      });
    } finally {
      await claim.release();
    }
  }

  /**
   * Starts a rollout to the ring (or resumes the one in flight), then its gates. `choose` says
   * which release and why; it is asked on the ledger as it is when the rollout is recorded (and
   * again after a conflict), and when it says none, nothing is written.
   */
  async deploy(
    pipeline: Pipeline,
    ring: Ring,
    choose: () =>
      | {
          release: ReleaseState;
          reason: string;
          with?: Entry[];
          together?: { pipeline: string; release: string }[];
        }
      | undefined,
    options: { kind?: RolloutKind; required?: boolean; limit?: readonly string[] } = {},
  ): Promise<void> {
    await this.withRingLock(
      pipeline,
      ring,
      async (session) => {
        await session.decide(() => {
          const p = this.rt.state(pipeline.name);
          const rs = ringState(p, ring.name);
          if (rs.inFlight) {
            // Asked for by a person: driving another rollout on instead would say it did what was asked.
            const other = p.rollouts.get(rs.inFlight);
            const asked = options.required ? choose() : undefined;
            if (asked && other && (other.release !== asked.release.id || options.limit || other.limit))
              throw new RingmasterError(
                'LOCKED',
                `${pipeline.name}/${ring.name} has a rollout in flight (${other.kind} ${other.id} of ${p.releases.get(other.release)?.version ?? other.release}): let it end, resume it, or abort it first`,
                { scope: 'engine', details: { rollout: other.id } },
              );
            return []; // the same one, or someone started one meanwhile: resume it below
          }
          if (rs.locked) {
            if (!options.required) return [];
            throw new RingmasterError(
              'LOCKED',
              `${pipeline.name}/${ring.name} is locked by ${rs.locked.by}: ${rs.locked.reason}; unlock it first`,
              { scope: 'engine' },
            );
          }
          const chosen = choose();
          if (!chosen) return [];
          return [
            // What lets it through (a break of a freeze) is written with the rollout, or not at all.
            ...(chosen.with ?? []),
            options.limit
              ? this.rolloutEntry(
                  pipeline,
                  ring,
                  chosen.release,
                  options.kind ?? 'deploy',
                  chosen.reason,
                  rolloutHosts(ring, rs, options.limit),
                  { limit: true },
                )
              : this.rolloutEntry(
                  pipeline,
                  ring,
                  chosen.release,
                  options.kind ?? 'deploy',
                  chosen.reason,
                  undefined,
                  chosen.together ? { together: chosen.together } : {},
                ),
          ];
        });
        await this.resumeRollout(session);
      },
      options.required ?? false,
    );
  }

  /**
   * Drives the in-flight rollout of the ring to its end (fresh or after a crash), then its gates.
   */
  async resumeRollout(session: RingSession): Promise<void> {
    const { pipeline, ring } = session;
    const p = this.rt.state(pipeline.name);
    const rs = ringState(p, ring.name);
    const rollout = rs.inFlight ? p.rollouts.get(rs.inFlight) : undefined;
    if (!rollout) return;
    const release = p.releases.get(rollout.release)!;
    const base = { pipeline: pipeline.name, rollout: rollout.id };
    // Once-steps are for a deploy of the whole ring: before its first host (a failure there stops
    // it with nothing installed) and after its last; a rollback runs only their `down` commands.
    const once = rollout.kind === 'deploy' && !rollout.limit ? ring.once : undefined;
    if (once?.before.length) {
      const stop = await this.runOnce(session, rollout.id, release, 'before', once.before);
      if (stop === 'stopped') return this.park(session, base, 'stopped while a before-step ran');
      if (stop)
        return this.finishRollout(session, rollout, release, 'failed', `${stop}; nothing was installed`);
    }
    // Right before the first host: what the ring's hosts may install now includes the release.
    const suite = await this.putInSuite(session, rollout, release);
    if (suite?.transient) {
      this.rt.emit('error', {
        pipeline: pipeline.name,
        operation: `rollout ${rollout.id}`,
        error: new RingmasterError('REPOSITORY', suite.why, { scope: 'engine' }),
      });
      return this.park(session, base, `${suite.why}; nothing was installed, tried again at the next pass`);
    }
    if (suite)
      return this.finishRollout(session, rollout, release, 'failed', `${suite.why}; nothing was installed`);
    const result: RolloutResult = await executeRollout({
      spec: rollout.strategy,
      batches: rollout.batches,
      ...(rollout.steps ? { steps: rollout.steps } : {}),
      checkpoint: (step, done) => this.checkpoint(session, rollout.id, release, step, done),
      target: ring.target,
      artifact: release.artifact,
      prior: { hosts: rollout.hosts, rollbacks: rollout.rollbacks },
      resolve: async (version) =>
        p.releases.get(version)?.artifact ?? (await pipeline.repository.find(release.artifact.name, version)),
      signal: session.signal,
      ...(this.rt.forks ? { forks: this.rt.forks } : {}),
      ...(this.rt.manyRunners ? { share: this.sharing(session, rollout.id, session.fence) } : {}),
      recorder: hostRecorder(session.write, base),
      env: session.env,
      aborted: () => {
        const a = this.rt.state(pipeline.name).rollouts.get(rollout.id)?.aborted;
        return a ? `aborted by ${a.by}: ${a.reason}` : undefined;
      },
    });
    if (result.outcome === 'paused') return; // recorded by the pause step; taken up again later
    if (result.outcome === 'interrupted') {
      // A lost lease is recorded by withRingLock, outside the fence; a stop parks the rollout,
      // and says so: the next start resumes it from the ledger.
      if (!lostLease(session, []))
        await session.write(entry('rollout.parked', { ...base, reason: result.reason }));
      return;
    }
    let { outcome, reason } = result;
    // Every host ran its step: what the ring runs moves, even if a once-step after them failed.
    let hostsOk = false;
    let afterFailed: { reason: string; log: string } | undefined;
    if (outcome === 'succeeded' && once?.after.length) {
      const stop = await this.runOnce(session, rollout.id, release, 'after', once.after);
      if (stop === 'stopped') return this.park(session, base, 'stopped while an after-step ran');
      // Like a failed gate: the release fails in the ring (and is rolled back if the ring says so).
      if (stop) afterFailed = { reason: stop, log: this.onceLog(pipeline.name, rollout.id, 'after') };
    }
    // A rollback of the ring undoes its once-steps, and so does a deploy its own failure rolled
    // back (its before-steps ran) — each only by its own `down` command, saying which it cannot.
    const undo =
      rollout.limit === undefined &&
      ((rollout.kind === 'rollback' && outcome === 'succeeded') ||
        (rollout.kind === 'deploy' && outcome === 'rolled-back'))
        ? rollout.kind === 'rollback'
          ? [...ring.once.before, ...ring.once.after]
          : ring.once.before
        : [];
    if (undo.length) {
      const undoable = undo.filter((s) => s.down).reverse();
      const kept = undo.filter((s) => !s.down).map((s) => s.name);
      if (undoable.length) {
        const downs = undoable.map((s) => ({ ...s, run: s.down!, idempotent: s.idempotent }));
        const stop = await this.runOnce(session, rollout.id, release, 'down', downs);
        if (stop === 'stopped') return this.park(session, base, 'stopped while a down step ran');
        if (stop) {
          hostsOk = outcome === 'succeeded';
          outcome = 'failed';
          reason = `${reason}; ${stop}`;
        } else reason = `${reason}; undone by their down steps: ${undoable.map((s) => s.name).join(', ')}`;
      }
      if (kept.length) reason = `${reason}; not undone (no down step): ${kept.join(', ')}`;
    }
    await this.finishRollout(session, rollout, release, outcome, reason, { hostsOk, afterFailed });
  }

  /**
   * Before the first host: makes the ring's suite in the repository (a repository with a suite
   * per ring, `Repository.admit`) list the rollout's release — with the releases promoted
   * together with it — as what the ring's hosts install, and records the suite as it is then.
   * Once per rollout (a kill before the record only repeats an idempotent admit). A rollout to
   * named hosts and a converge change no ring's release, so not its suite. Resolves why the
   * rollout must stop, or undefined.
   */
  private async putInSuite(
    session: RingSession,
    rollout: RolloutState,
    release: ReleaseState,
  ): Promise<SuiteFailure | undefined> {
    const { pipeline } = session;
    if (!pipeline.repository.admit || rollout.suiteAt || rollout.limit || rollout.kind === 'converge') return;
    const companions = (rollout.together ?? []).flatMap((t) => {
      const r = this.rt.state(t.pipeline).releases.get(t.release);
      return r ? [r] : [];
    });
    return this.admit(session, rollout.id, [release, ...companions]);
  }

  /** After a deploy its failure rolled back: the suite lists what the ring runs again. */
  private async restoreSuite(session: RingSession, rollout: string): Promise<string | undefined> {
    const p = this.rt.state(session.pipeline.name);
    const r = p.rollouts.get(rollout);
    if (!r?.suiteAt) return undefined;
    // What each pipeline it put in runs in the ring (a ring's first release has nothing to go back to).
    const back = [
      { pipeline: session.pipeline.name },
      ...(r.together ?? []).map((t) => ({ pipeline: t.pipeline })),
    ].flatMap(({ pipeline }) => {
      const q = this.rt.state(pipeline);
      const current = ringState(q, session.ring.name).current;
      const release = current ? q.releases.get(current) : undefined;
      return release ? [release] : [];
    });
    return back.length ? (await this.admit(session, rollout, back))?.why : undefined;
  }

  /** Admits `releases` to the ring's suite and records the suite; resolves why it failed, or undefined. */
  private async admit(
    session: RingSession,
    rollout: string,
    releases: readonly ReleaseState[],
  ): Promise<SuiteFailure | undefined> {
    const { pipeline, ring } = session;
    let listing: SuiteListing;
    try {
      listing = await pipeline.repository.admit!(
        ring.name,
        releases.map((r) => r.artifact),
      );
    } catch (error) {
      const what = releases.map((r) => `${r.artifact.name} ${r.version}`).join(' and ');
      const e = error as RingmasterError;
      return {
        why: `cannot put ${what} into ${ring.name}'s suite: ${plainMessage(e.message ?? String(error))}`,
        // Another publisher holding the repository's lock, or a store briefly away: try again later.
        transient: e.code === 'LOCKED' || e.details?.retryable === true,
      };
    }
    await session.write(
      entry('suite.updated', {
        pipeline: pipeline.name,
        ring: ring.name,
        rollout,
        suite: listing.suite,
        packages: listing.packages,
        indexes: listing.indexes,
      }),
    );
    return undefined;
  }

  /** The log of the last once-step of `phase` that failed in rollout `id`. */
  private onceLog(pipeline: string, id: string, phase: OncePhase): string {
    const once = this.rt.state(pipeline).rollouts.get(id)?.once;
    let log = '';
    for (const [key, step] of once ?? [])
      if (key.startsWith(`${phase}/`) && step.finished && !step.finished.ok) log = step.finished.log;
    return log;
  }

  /** Parks the rollout (a stop between its steps): the next start takes it up from the ledger. */
  private async park(session: RingSession, base: { pipeline: string; rollout: string }, reason: string) {
    if (!lostLease(session, [])) await session.write(entry('rollout.parked', { ...base, reason }));
  }

  /**
   * Records how a rollout ended (with its notice), then — a deploy of the ring that succeeded —
   * runs its gates. `hostsOk`: every host ran its step although the rollout failed (a down step
   * did not): what the ring runs moves. `afterFailed`: an after-step failed, which fails the
   * release in the ring as a gate would — in the same append, so no crash can leave it verifying.
   */
  private async finishRollout(
    session: RingSession,
    rollout: RolloutState,
    release: ReleaseState,
    outcome: RolloutOutcome,
    reason: string,
    more: { hostsOk?: boolean; afterFailed?: { reason: string; log: string } } = {},
  ): Promise<void> {
    const { pipeline, ring } = session;
    const ok = outcome === 'succeeded';
    const deployed = ok && rollout.kind === 'deploy' && !rollout.limit;
    // The ring keeps what it ran: so does its suite, or apt's candidate would stay the new release
    // (a host provisioned meanwhile, or unattended-upgrades, would install it).
    if (rollout.kind === 'deploy' && !ok && !rollout.limit) {
      const why = await this.restoreSuite(session, rollout.id);
      if (why) reason = `${reason}; ${why}`;
    }
    const failing =
      deployed && more.afterFailed ? this.ringFailure(session, release, more.afterFailed) : undefined;
    await session.write(
      entry('rollout.finished', {
        pipeline: pipeline.name,
        rollout: rollout.id,
        outcome,
        reason: more.afterFailed ? `${reason}; ${more.afterFailed.reason}` : reason,
        ...(more.hostsOk ? { hostsOk: true } : {}),
      }),
      notice(
        pipeline,
        {
          kind: rollout.kind === 'rollback' ? 'rollback' : 'rollout',
          pipeline: pipeline.name,
          ok,
          summary: `${rollout.kind} of ${release.version} to ${ring.name} ${outcome}: ${reason}`,
          author: release.author,
          revision: release.revision,
          release: release.id,
          ring: ring.name,
        },
        release.email,
      ),
      ...(failing?.entries ?? []),
    );
    if (failing) {
      if (failing.rollsBack) await this.resumeRollout(session);
      return;
    }
    // A rollout to named hosts only changes no ring's release: there is nothing for gates to verify.
    if (deployed) await this.runGates(session, release);
  }

  /**
   * Runs the once-steps of `phase` for rollout `id` that have not finished (see `model/once.ts`),
   * in order. Each start and end is recorded; a step that finished is never run again, and one a
   * crash cut off (started, never finished) runs again only when `idempotent` — otherwise the
   * rollout stops and says why. A stop never cuts a step off: like an install, it is let finish.
   * Resolves undefined when all are done, `stopped` when the engine stopped between two, or why
   * the rollout must stop.
   */
  private async runOnce(
    session: RingSession,
    id: string,
    release: ReleaseState,
    phase: OncePhase,
    steps: readonly OnceStep[],
  ): Promise<string | 'stopped' | undefined> {
    const { pipeline } = session;
    const what = (step: OnceStep) =>
      `${phase === 'down' ? 'the down step of' : `${phase}-step`} ${step.name}`;
    for (const step of steps) {
      const recorded = this.rt.state(pipeline.name).rollouts.get(id)?.once.get(onceKey(phase, step.name));
      if (recorded?.finished?.ok) continue;
      if (recorded?.finished) return `${what(step)} failed: ${gateFailureLine(recorded.finished.log)}`;
      if (session.signal.aborted) return 'stopped';
      const base = { pipeline: pipeline.name, rollout: id, step: step.name, phase };
      // On a host it may still be running (nothing there is tracked): never run again blind.
      if (recorded && (!step.idempotent || step.on !== 'runner')) {
        const why = `${what(step)} was cut off (started ${recorded.startedAt}, no end recorded: the runner died); it may or may not have run, and it is not run twice${step.on === 'runner' ? ' (set idempotent: true if it may be)' : ` (on ${step.on.host} it may even be running still)`}`;
        await session.write(entry('once.finished', { ...base, ok: false, log: why, durationMs: 0 }));
        return `${why}; check what it did, then deploy again`;
      }
      await session.write(entry('once.started', base));
      const started = performance.now();
      const outcome = await this.runOnceStep(session, id, release, phase, step);
      await session.write(
        entry('once.finished', {
          ...base,
          ok: outcome.ok,
          // Masked before it is cut: a cut through a secret would leave part of it unmasked.
          log: this.rt.mask.mask(outcome.log).slice(-16_000),
          durationMs: Math.round(performance.now() - started),
        }),
      );
      if (!outcome.ok) return `${what(step)} failed: ${gateFailureLine(outcome.log)}`;
    }
    return undefined;
  }

  /** Runs one once-step: on the runner in a checkout of the release's revision, or on its host. */
  private async runOnceStep(
    session: RingSession,
    id: string,
    release: ReleaseState,
    phase: OncePhase,
    step: OnceStep,
  ): Promise<{ ok: boolean; log: string }> {
    const { pipeline, ring } = session;
    const vars = {
      RINGMASTER_PIPELINE: pipeline.name,
      RINGMASTER_RING: ring.name,
      RINGMASTER_RELEASE: release.id,
      RINGMASTER_VERSION: release.version,
      RINGMASTER_REVISION: release.revision,
      RINGMASTER_ROLLOUT: id,
      RINGMASTER_PHASE: phase,
    };
    try {
      const env = { ...(await session.env()), ...step.env, ...vars };
      if (step.on !== 'runner') {
        const host = step.on.host;
        if (ringState(this.rt.state(pipeline.name), ring.name).disabled.has(host))
          return {
            ok: false,
            log: `${host} is disabled (out of rotation): ${step.name} cannot run there; enable it, or run the step on another host`,
          };
        const needsEnv =
          Object.keys(ring.vars).length + Object.keys(ring.secrets).length + Object.keys(step.env).length > 0;
        if (needsEnv && !ring.target.capabilities?.env)
          return {
            ok: false,
            log: `the ring's target cannot pass environment variables to a command: ${step.name} would run on ${host} without the ring's vars and secrets`,
          };
        const r = await ring.target.run(host, step.run, {
          timeoutMs: step.timeout,
          ...(ring.target.capabilities?.env ? { env } : {}),
        });
        const out = `[${host}] $ ${step.run.join(' ')}\n${r.stdout}${r.stderr}`;
        return { ok: r.exitCode === 0, log: r.exitCode === 0 ? out : `${out}\nexit code ${r.exitCode}` };
      }
      const dir = join(
        this.rt.workDir,
        pipeline.name,
        'once',
        `${id.replace('#', '-')}.${phase}.${step.name}`,
      );
      const source = (release.feed ? ring.line : undefined) ?? pipeline.source;
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      try {
        await source.checkout(release.revision, dir);
        const record = processRecorder((e) => session.write(e), pipeline.name, {
          kind: 'once',
          ring: ring.name,
          rollout: id,
          step: step.name,
          phase,
        });
        // No signal: a stop lets a migration finish, as it lets an install finish.
        const r = await runCommand(step.run, {
          cwd: dir,
          env,
          timeoutMs: step.timeout,
          beforeStart: (pid) => record(pid, step.run.join(' ')),
        });
        const out = `$ ${step.run.join(' ')}\n${r.stdout}${r.stderr}`;
        if (r.timedOut) return { ok: false, log: `${out}\ntimed out after ${step.timeout} ms` };
        return { ok: r.exitCode === 0, log: r.exitCode === 0 ? out : `${out}\nexit code ${r.exitCode}` };
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    } catch (error) {
      return { ok: false, log: error instanceof Error ? error.message : String(error) };
    }
  }

  /**
   * A pause or verify step of the rollout `rollout` (see `planRollout`), after the hosts `done`.
   * A pause is recorded when first reached (with a notice when it waits for a person) and ends
   * when a person resumes it or, for a timed one, when the engine's clock passes its end (then
   * recorded as resumed by `engine`). A verify runs the ring's gates on the hosts done so far;
   * each gate's result is recorded with the step, so after a crash only the gates that did not
   * finish run again.
   */
  private async checkpoint(
    session: RingSession,
    id: string,
    release: ReleaseState,
    step: PlannedStep & Checkpoint,
    done: readonly string[],
  ): Promise<CheckpointResult> {
    const { pipeline, ring } = session;
    const rollout = this.rt.state(pipeline.name).rollouts.get(id)!;
    const total = rollout.steps?.length ?? step.step;
    const at = `step ${step.step} of ${total}`;
    const base = { pipeline: pipeline.name, rollout: id, step: step.step };
    if ('verify' in step) {
      const result = await this.runGateList(session, release, id, done, step.step);
      if (result === 'stopped') return { wait: `stopped at ${at} (verify)` };
      return result.ok ? { go: true } : { failed: result.reason };
    }
    const now = this.rt.clock.now();
    let paused = rollout.pauses.get(step.step);
    if (paused?.resumed) return { go: true };
    if (!paused) {
      const until = step.pause === 'manual' ? undefined : new Date(now.getTime() + step.pause).toISOString();
      const waits = until
        ? `paused at ${at} until ${until} (${describeStep(step, rollout.batches)})`
        : `paused at ${at}: it waits for a person (ringmaster resume ${pipeline.name} ${ring.name})`;
      await session.write(
        entry('rollout.paused', { ...base, ...(until ? { until } : {}), reason: waits }),
        // A person is needed: tell them, once (this record is written once per pause step).
        ...(until
          ? []
          : [
              notice(pipeline, {
                kind: 'pause',
                pipeline: pipeline.name,
                ok: true,
                summary: `${rollout.kind} ${id} of ${release.version} to ${ring.name} is ${waits}; ${done.length} host${done.length === 1 ? '' : 's'} updated so far${this.rt.pageUrl ? ` — ${this.rt.pageUrl}` : ''}`,
                revision: release.revision,
                release: release.id,
                ring: ring.name,
                ...(this.rt.pageUrl ? { url: this.rt.pageUrl } : {}),
              }),
            ]),
      );
      paused = { at: now.toISOString(), ...(until ? { until } : {}) };
    }
    // Its time is up, but a lock or a freeze since holds it: only a person may take it on then.
    const rs = ringState(this.rt.state(pipeline.name), ring.name);
    const index = pipeline.rings.indexOf(ring);
    const frozen = frozenFor(pipeline, this.rt.state(pipeline.name), index, release, now);
    if (paused.until && Date.parse(paused.until) <= now.getTime() && (rs.locked || frozen))
      return {
        wait: `paused at ${at}: its time is up, but ${rs.locked ? `${ring.name} is locked by ${rs.locked.by}: ${rs.locked.reason}` : `${ring.name} is frozen (${frozen!.reason})`}`,
      };
    if (paused.until && Date.parse(paused.until) <= now.getTime()) {
      await session.write(
        entry('rollout.resumed', {
          ...base,
          by: 'engine',
          reason: `the pause of ${formatDuration(Date.parse(paused.until) - Date.parse(paused.at))} is over`,
        }),
      );
      return { go: true };
    }
    return {
      wait: paused.until
        ? `paused at ${at} until ${paused.until}`
        : `paused at ${at}: it waits for a person (ringmaster resume ${pipeline.name} ${ring.name})`,
    };
  }

  /**
   * Runs the ring's gates for `release` (those not passed already for this rollout and step),
   * stopping at the first that fails: later gates assume the earlier ones passed. `stopped` when
   * the engine stopped or a lease was lost in between (they run again later).
   */
  private async runGateList(
    session: RingSession,
    release: ReleaseState,
    rollout: string,
    hosts: readonly string[],
    step?: number,
  ): Promise<{ ok: true } | { ok: false; gate: string; reason: string; log: string } | 'stopped'> {
    const { pipeline, ring } = session;
    const done = new Map(
      this.rt
        .state(pipeline.name)
        .gates.filter(
          (g) => g.ring === ring.name && g.release === release.id && g.rollout === rollout && g.step === step,
        )
        .map((g) => [g.gate, g]),
    );
    for (const gate of ring.gates) {
      if (session.signal.aborted) return 'stopped';
      const ok =
        done.get(gate.name)?.ok ?? (await this.runGate(session, release, rollout, gate, [...hosts], step));
      if (ok === 'stopped') return 'stopped';
      if (ok) continue;
      // The reason says what the gate said: the line a person needs, not just its name.
      const failed = this.rt
        .state(pipeline.name)
        .gates.findLast(
          (g) =>
            g.ring === ring.name &&
            g.release === release.id &&
            g.rollout === rollout &&
            g.step === step &&
            g.gate === gate.name,
        );
      const said = failed ? gateFailureLine(failed.log) : '';
      return {
        ok: false,
        gate: gate.name,
        reason: `gate ${gate.name} failed${said ? `: ${said}` : ''}`,
        log: failed?.log ?? '',
      };
    }
    return { ok: true };
  }

  async runGates(session: RingSession, release: ReleaseState): Promise<void> {
    const { pipeline, ring } = session;
    const p = this.rt.state(pipeline.name);
    const rollout = p.releaseRings.get(release.id)?.get(ring.name)?.rollout ?? '';
    // Gates check the hosts in rotation: a disabled host is out of service.
    const hosts = enabledHosts(ring, ringState(p, ring.name));
    const result = await this.runGateList(session, release, rollout, hosts);
    if (result === 'stopped') return; // a stop or a lost lease: the gates run again later
    if (result.ok) {
      await session.write(
        entry('ring.verified', { pipeline: pipeline.name, ring: ring.name, release: release.id }),
        notice(
          pipeline,
          {
            kind: 'gate',
            pipeline: pipeline.name,
            ok: true,
            summary: `${release.version} verified in ${ring.name}${ring.gates.length ? ` (${ring.gates.map((g) => g.name).join(', ')} passed)` : ''}`,
            author: release.author,
            revision: release.revision,
            release: release.id,
            ring: ring.name,
          },
          release.email,
        ),
      );
      return;
    }
    const failing = this.ringFailure(session, release, result);
    // One append: a crash can never leave the release failed but not rolled back.
    await session.write(...failing.entries);
    if (failing.rollsBack) await this.resumeRollout(session);
  }

  /**
   * What a release failing in the ring writes (a gate or an after-step said so): the failure
   * and its notice, and — when the ring rolls back on failure — the rejection and the rollback's
   * start, to be appended at once.
   */
  private ringFailure(
    session: RingSession,
    release: ReleaseState,
    { reason, log }: { reason: string; log: string },
  ): { entries: Entry[]; rollsBack: boolean } {
    const { pipeline, ring } = session;
    const previous =
      ring.onGateFailure === 'rollback' ? this.previousRelease(pipeline, ring, release.id) : undefined;
    const entries: Entry[] = [
      entry('ring.failed', { pipeline: pipeline.name, ring: ring.name, release: release.id, reason }),
      notice(
        pipeline,
        {
          kind: 'gate',
          pipeline: pipeline.name,
          ok: false,
          summary: `${release.version} failed in ${ring.name}: ${reason}`,
          author: release.author,
          revision: release.revision,
          release: release.id,
          ring: ring.name,
          log: this.rt.mask.mask(log).slice(-4000),
        },
        release.email,
      ),
      ...(previous
        ? [
            entry('ring.rejected', {
              pipeline: pipeline.name,
              ring: ring.name,
              release: release.id,
              reason,
              by: 'engine',
            }),
            this.rolloutEntry(pipeline, ring, previous, 'rollback', `automatic rollback: ${reason}`),
          ]
        : []),
    ];
    return { entries, rollsBack: previous !== undefined };
  }

  async runGate(
    session: RingSession,
    release: ReleaseState,
    rollout: string,
    gate: Gate,
    hosts: string[],
    step?: number,
  ): Promise<boolean | 'stopped'> {
    const { pipeline, ring } = session;
    const started = performance.now();
    const record = processRecorder((e) => session.write(e), pipeline.name, {
      kind: 'gate',
      ring: ring.name,
      release: release.id,
      rollout,
      gate: gate.name,
      ...(step !== undefined ? { step } : {}),
    });
    // A gate that runs on the runner works in a fresh checkout of the release's revision, made
    // only when it asks for one and removed afterwards.
    const dir = join(
      this.rt.workDir,
      pipeline.name,
      'gates',
      `${rollout.replace('#', '-')}${step !== undefined ? `.step${step}` : ''}.${gate.name}`,
    );
    let checkedOut = false;
    const checkout = async (): Promise<string> => {
      if (!checkedOut) {
        const source = (release.feed ? ring.line : undefined) ?? pipeline.source;
        await rm(dir, { recursive: true, force: true });
        await mkdir(dir, { recursive: true });
        await source.checkout(release.revision, dir);
        checkedOut = true;
      }
      return dir;
    };
    let outcome: GateOutcome;
    try {
      outcome = await gate.run({
        pipeline: pipeline.name,
        ring: ring.name,
        release: { id: release.id, version: release.version, revision: release.revision },
        hosts,
        target: ring.target,
        signal: session.signal,
        log: () => {},
        beforeStart: (pid) => record(pid, gate.describe()),
        checkout,
        env: session.env,
      });
    } finally {
      if (checkedOut) await rm(dir, { recursive: true, force: true });
    }
    // Stopped by us (the engine stopping, a lost lease) is not the gate's verdict: it runs again.
    if (!outcome.ok && session.signal.aborted) return 'stopped';
    await session.write(
      entry('gate.finished', {
        pipeline: pipeline.name,
        ring: ring.name,
        release: release.id,
        rollout,
        gate: gate.name,
        ...(step !== undefined ? { step } : {}),
        ok: outcome.ok,
        log: this.rt.mask.mask(outcome.log).slice(-16_000),
        durationMs: Math.round(performance.now() - started),
      }),
    );
    return outcome.ok;
  }

  /**
   * Where a rollback of `current` goes: the newest release the ring ran before it that was
   * verified there — never one rejected there or whose rollout or gates failed there.
   */
  previousRelease(pipeline: Pipeline, ring: Ring, current: string): ReleaseState | undefined {
    const p = this.rt.state(pipeline.name);
    const rs = ringState(p, ring.name);
    // What it runs counts too: asked before a failing rollout's end is recorded, it is the one before.
    for (const id of [...rs.history, ...(rs.current ? [rs.current] : [])].reverse()) {
      if (id === current) continue;
      if (p.releaseRings.get(id)?.get(ring.name)?.status !== 'verified') continue;
      const release = p.releases.get(id);
      if (release) return release;
    }
    return undefined;
  }

  /**
   * The record that starts a rollout of `release` to `ring` (numbered after the ring's last),
   * over `hosts` (default: every host of the ring in rotation; a ring whose every host is
   * disabled is refused). `limit`: the hosts were named by a person (`--limit`), so the rollout
   * is a host operation that leaves what the ring runs as it is.
   */
  rolloutEntry(
    pipeline: Pipeline,
    ring: Ring,
    release: ReleaseState,
    kind: RolloutKind,
    reason: string,
    hosts?: readonly string[],
    options: { limit?: boolean; together?: { pipeline: string; release: string }[] } = {},
  ) {
    const rs = ringState(this.rt.state(pipeline.name), ring.name);
    const chosen = hosts ?? rolloutHosts(ring, rs);
    // A rollback or a converge never undoes itself: putting back what it replaces is no remedy.
    const plan = rolloutPlanFor(ring, kind, chosen, options.limit === true);
    return entry('rollout.started', {
      pipeline: pipeline.name,
      ring: ring.name,
      rollout: `${ring.name}#${rs.rollouts.length + 1}`,
      release: release.id,
      kind,
      reason,
      strategy: plan.strategy,
      batches: plan.batches,
      ...(plan.steps ? { steps: plan.steps } : {}),
      ...(options.limit ? { limit: [...chosen] } : {}),
      ...(options.together?.length ? { together: options.together } : {}),
    });
  }
}
