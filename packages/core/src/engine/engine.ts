import { AsyncLocalStorage } from 'node:async_hooks';
import { EventEmitter } from 'eventemitter3';
import { z } from 'zod';
import type { Clock } from '../contracts/clock.js';
import type { Notifier } from '../contracts/notifier.js';
import type { Lease, Store } from '../contracts/store.js';
import { parseOptions, plainMessage, RingmasterError } from '../errors.js';
import { entry, Ledger } from '../ledger/ledger.js';
import type { RecordType, TypedRecord } from '../ledger/records.js';
import type { PipelineState, SuiteChange } from '../ledger/state.js';
import { pipelineState } from '../ledger/state.js';
import { systemClock } from '../model/clock.js';
import type { Pipeline } from '../model/pipeline.js';
import { SecretMask } from '../model/secrets.js';
import { authenticatedOnly } from '../policy/authenticated.js';
import { fileStore } from '../store/file.js';
import { describeHolder } from '../store/lockfile.js';
import type { ConvergeReport } from './converge.js';
import { frozenFor } from './eligibility.js';
import type { EngineEvents, ErrorEvent } from './events.js';
import { matchHosts } from './hosts.js';
import { Intake } from './intake.js';
import { LeaseKeeper } from './lease.js';
import { deliverNotifications } from './notify.js';
import {
  Operations,
  type PromoteInput,
  type ResumeInput,
  type RollbackInput,
  type RolloutSummary,
} from './operations.js';
import { type Plan, planPipeline } from './plan.js';
import { defaultPreviewRelease, previewRefusal, previewRollout, type RolloutPreview } from './preview.js';
import { reapOrphans } from './processes.js';
import { type Project, promoteRefusal, rollbackRefusal } from './relations.js';
import { type Explanation, explainRing, type StatusReport, statusReport } from './report.js';
import { RingRunner } from './rings.js';
import { LEASE_MS, type Runtime } from './runtime.js';

const isFn = (v: unknown) => typeof v === 'function';

/** A ring's suite as the ledger recorded it last before a time (`engine.suite`). */
export interface SuiteAt extends SuiteChange {
  /** The pipeline whose rollout changed it. */
  pipeline: string;
  /** The time asked about. */
  asOf: string;
}

export const engineOptionsSchema = z
  .object({
    /** The pipelines this engine runs (the seed's fk-ops-build holds one per package). */
    pipelines: z.array(
      z.custom<Pipeline>(
        (v) => typeof v === 'object' && v !== null && 'rings' in v,
        'expected a pipeline(…)',
      ),
    ),
    /** Where the ledger lives. @default fileStore({ dir: '.ringmaster/ledger' }) */
    store: z
      .custom<Store>(
        (v) => typeof v === 'object' && v !== null && isFn((v as Store).append),
        'expected a Store',
      )
      .optional(),
    /** @default the system clock */
    clock: z
      .custom<Clock>((v) => typeof v === 'object' && v !== null && isFn((v as Clock).now), 'expected a Clock')
      .optional(),
    /** Notifiers for every pipeline, in addition to each pipeline's own. */
    notifiers: z
      .array(z.custom<Notifier>((v) => isFn((v as Notifier | null)?.notify), 'expected a Notifier'))
      .default([]),
    /** Scratch space for checkouts and package files. @default '.ringmaster/work' */
    workDir: z.string().default('.ringmaster/work'),
    /** Names this engine in locks and messages. @default 'engine' */
    owner: z.string().default('engine'),
    /**
     * How long the engine's lease on the ledger, and each ring's, lasts without renewal. Holders
     * renew at a third of it and retry a failed renewal until it runs out. @default 30000
     */
    leaseMs: z.number().int().min(50).default(LEASE_MS),
    /**
     * How many hosts of a batch this engine works on at once, whatever the batch size (as
     * Ansible's `forks`): a bound on its connections and memory. A batch larger than this takes
     * several rounds. @default every host of the batch at once
     */
    forks: z.number().int().min(1).optional(),
    /**
     * The team's web page: the link notifications carry (as `url`) where a person can act on
     * them, such as a release that waits for an approval. Used as it is. @default no link
     *
     * @example 'https://deploys.example.com/foostat'
     */
    pageUrl: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).optional(),
    /**
     * Approvals count only when the approver signed in (a token, a page session, the trusted
     * proxy) or asked through the repository: what the CLI sets when the config has `access`.
     * Others are shown as not counted. @default false
     */
    authenticatedApprovals: z.boolean().default(false),
    /**
     * Who may deploy through a freeze (`promote({ breakGlass })`, `ringmaster deploy
     * --break-glass --reason`): people in one of `groups`. Recorded and notified. @default nobody
     */
    breakGlass: z
      .object({ groups: z.array(z.string().min(1)).min(1) })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((o, ctx) => {
    const names = new Set<string>();
    const packages = new Map<string, string>();
    o.pipelines.forEach((p, i) => {
      if (names.has(p.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['pipelines', i, 'name'],
          message: `duplicate pipeline "${p.name}"`,
        });
      }
      names.add(p.name);
      // Two pipelines publishing one package would overwrite each other's versions and releases.
      const owner = packages.get(p.packager.packageName);
      if (owner !== undefined && owner !== p.name) {
        ctx.addIssue({
          code: 'custom',
          path: ['pipelines', i, 'packager'],
          message: `package "${p.packager.packageName}" is already built by pipeline "${owner}"; give each pipeline its own package name`,
        });
      }
      packages.set(p.packager.packageName, p.name);
    });
  });
export type EngineOptions = z.input<typeof engineOptionsSchema>;

/** Runs pipelines durably. Create with `createEngine()`. */
export class Engine extends EventEmitter<EngineEvents> {
  readonly pipelines: ReadonlyMap<string, Pipeline>;
  readonly ledger: Ledger;
  readonly clock: Clock;
  private readonly opts: z.output<typeof engineOptionsSchema>;
  private loaded = false;
  /** The engine's lease on the ledger, while started. */
  private keeper: LeaseKeeper | undefined;
  private readonly stopping = new AbortController();
  /** Aborted by a fault (see `fault()`): the work under way stops at its next host boundary. */
  private pass = new AbortController();
  /** The reconcile pass under way, which `close()` waits for. */
  private ticking: Promise<void> | undefined;
  private readonly runtime: Runtime;
  private readonly intake: Intake;
  private readonly rings: RingRunner;
  private readonly operations: Operations;
  /** The store lets several runners share the ledger: leases per pipeline and ring, none on the whole. */
  private readonly manyRunners: boolean;
  /** The pipeline lease the work under way holds (with many runners): its writes are fenced by it. */
  private readonly pipelineLease = new AsyncLocalStorage<LeaseKeeper>();
  /** Passes so far: with many runners each pass starts at a different pipeline. */
  private passes = 0;
  private readonly offset = Math.floor(Math.random() * 1_000);
  /** The rings' secret values read so far: masked in every record written and every error emitted. */
  private readonly mask = new SecretMask();

  constructor(options: EngineOptions) {
    super();
    this.opts = parseOptions(engineOptionsSchema, options, 'engine', '');
    this.clock = this.opts.clock ?? systemClock;
    // With identities, every ring's policy counts only approvals whose approver signed in.
    const pipelines = this.opts.authenticatedApprovals
      ? this.opts.pipelines.map((p) => ({
          ...p,
          rings: p.rings.map((r) => ({
            ...r,
            policy: authenticatedOnly(r.policy, {
              vcs: p.source.capabilities?.authenticatedAuthors === true,
            }),
          })),
        }))
      : this.opts.pipelines;
    this.pipelines = new Map(pipelines.map((p) => [p.name, p]));
    const store = this.opts.store ?? fileStore({ dir: '.ringmaster/ledger' });
    this.manyRunners = store.capabilities?.manyRunners === true;
    // Once started, everything the engine writes is fenced by its lease (also after it was lost:
    // that is when the fence matters).
    this.ledger = new Ledger(store, this.clock, {
      onRecord: (record) => this.onRecord(record),
      redact: (data) => this.mask.maskData(data),
      fence: () => {
        const pipeline = this.pipelineLease.getStore();
        return [...(this.keeper ? [this.keeper.current] : []), ...(pipeline ? [pipeline.current] : [])];
      },
      // A refused append is the surest sign the engine's lease is gone: stop now, not at the next renewal.
      onFenceRefused: (error) => {
        if (error.details.lock === 'engine') this.keeper?.markLost(error);
        const pipeline = this.pipelineLease.getStore();
        if (pipeline && error.details.lock === pipeline.current.name) pipeline.markLost(error);
      },
    });
    const signal = () => {
      const pipeline = this.pipelineLease.getStore();
      return AbortSignal.any([
        this.stopping.signal,
        this.pass.signal,
        ...(this.keeper ? [this.keeper.signal] : []),
        ...(pipeline ? [pipeline.signal] : []),
      ]);
    };
    this.runtime = {
      pipelines: this.pipelines,
      ledger: this.ledger,
      clock: this.clock,
      owner: this.opts.owner,
      workDir: this.opts.workDir,
      notifiers: this.opts.notifiers,
      leaseMs: this.opts.leaseMs,
      manyRunners: this.manyRunners,
      forks: this.opts.forks,
      pageUrl: this.opts.pageUrl,
      breakGlass: this.opts.breakGlass?.groups,
      get signal() {
        return signal();
      },
      mask: this.mask,
      emit: (event: 'error' | 'decision', payload: never) => {
        // An error may quote what a command printed: masked as the ledger masks what it writes.
        if (event === 'error') this.mask.maskError((payload as ErrorEvent).error);
        return this.emit(event, payload);
      },
      state: (name) => this.state(name),
    };
    this.intake = new Intake(this.runtime);
    this.rings = new RingRunner(this.runtime);
    this.operations = new Operations(this.runtime, this.rings, this.pipelines);
  }

  private onRecord(record: TypedRecord): void {
    if (!this.loaded) return; // replay at start-up is history, not news
    this.emit('record', record);
    (this.emit as (type: RecordType, ...args: unknown[]) => boolean)(record.type, record.data, record);
  }

  /** Whether approvals count only from people who signed in (the `authenticatedApprovals` option). */
  get authenticatedApprovals(): boolean {
    return this.opts.authenticatedApprovals;
  }

  /** Reads the ledger (replaying the journal on first use). */
  async load(): Promise<void> {
    // Replay at start-up is history, not news: folded without telling anyone, chunk by chunk.
    if (this.loaded) await this.ledger.refresh();
    else await this.ledger.replay();
    this.loaded = true;
  }

  /**
   * Takes the engine lease on the ledger (one running engine per ledger) and loads it. A second
   * engine gets a `LOCKED` error naming the holder, or waits up to `waitMs`.
   *
   * On a store that supports many runners (`capabilities.manyRunners`, such as
   * `postgresStore`), no lease on the whole ledger is taken: any number of engines start, and
   * each pass takes a lease per pipeline (its sources, builds and notifications) and per ring
   * (its rollouts and gates), skipping what another runner holds.
   */
  async start(options: { waitMs?: number } = {}): Promise<void> {
    if (this.manyRunners) {
      await this.loadPatiently(options.waitMs ?? 0);
      return;
    }
    const deadline = Date.now() + (options.waitMs ?? 0);
    let lease: Lease | undefined;
    for (;;) {
      lease = await this.ledger.store.acquire('engine', { owner: this.opts.owner, ttlMs: this.opts.leaseMs });
      if (lease) break;
      if (Date.now() >= deadline) {
        const holder = await this.ledger.store.inspect('engine');
        throw new RingmasterError(
          'LOCKED',
          `another engine runs on this ledger: ${holder ? describeHolder(holder) : 'unknown holder'}. Stop it, or start with { waitMs } to wait for it`,
          { scope: 'engine', details: { holder } },
        );
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    const keeper = new LeaseKeeper(this.ledger.store, lease, this.opts.leaseMs, (error) =>
      this.emit('error', { operation: 'renew the engine lease', error }),
    );
    this.keeper = keeper;
    keeper.signal.addEventListener('abort', () => void this.leaseLost(keeper.signal.reason as Error), {
      once: true,
    });
    await this.loadPatiently(options.waitMs ?? 0);
    // Holding the lease, this engine is the only one: what a dead one left running is ours to end.
    await reapOrphans(this.runtime, [...this.pipelines.values()]);
  }

  /**
   * Loads the ledger at start. A store that is briefly unavailable — an error it marks
   * `details.retryable` (a database restarting: PostgreSQL's "the database system is starting
   * up") — is asked again with backoff for up to `waitMs` or the lease's length, whichever is
   * longer, each failure emitted as an `error` event: a runner started during a restart waits
   * for it instead of dying. Any other error, or one past the deadline, is thrown.
   */
  private async loadPatiently(waitMs: number): Promise<void> {
    const deadline = Date.now() + Math.max(waitMs, this.opts.leaseMs);
    // Bounded by the deadline: each failed attempt waits at least 100 ms.
    for (let attempt = 0; ; attempt++) {
      try {
        await this.load();
        return;
      } catch (error) {
        const retryable = (error as RingmasterError).details?.retryable === true;
        // Waiting must not outlive the engine's lease: past it, another engine may hold the ledger.
        if (this.keeper?.signal.aborted) throw this.lostLease ?? error;
        if (!retryable || Date.now() >= deadline) throw error;
        this.emit('error', {
          operation: 'load the ledger (the store is unavailable: trying again)',
          error: error as Error,
        });
        await new Promise((r) => setTimeout(r, Math.min(2_000, 100 * 2 ** attempt)));
      }
    }
  }

  /**
   * The engine's lease is gone (another engine took the ledger, or it expired unrenewed): work
   * stops at the next host boundary, `run()` ends with the `LOCKED` error, and the loss is
   * recorded outside the fence, as the engine's own account of why it stopped.
   */
  private async leaseLost(error: Error): Promise<void> {
    this.emit('error', { operation: 'engine lease', error });
    await this.ledger
      .writeUnder(
        [],
        entry('lease.lost', {
          lease: 'engine',
          owner: this.opts.owner,
          reason: `${error.message}; this engine stopped`,
        }),
      )
      .catch(() => {});
  }

  /** The `LOCKED` error, once the engine's lease is lost. */
  private get lostLease(): Error | undefined {
    const reason: unknown = this.keeper?.signal.reason;
    return this.keeper?.signal.aborted ? (reason as Error) : undefined;
  }

  /** Stops `run()` after the current host/batch, releases the lease, and closes the adapters. */
  async close(): Promise<void> {
    this.stopping.abort();
    // Let the pass under way finish its current host or batch before the adapters are closed.
    await this.ticking?.catch(() => {});
    await this.ledger.flush();
    const keeper = this.keeper;
    if (keeper) {
      await keeper.stop();
      await this.ledger.store.release(keeper.current).catch(() => {});
      this.keeper = undefined;
    }
    for (const p of this.pipelines.values()) {
      await p.source.close?.();
      await p.repository.close?.();
      for (const r of p.rings) await r.target.close?.();
    }
    await this.ledger.store.close?.();
  }

  /**
   * Every pipeline of the engine with the ledger's view of each: what the ring state machine
   * (`ringAction`) is asked with, since package relations span pipelines.
   */
  get project(): Project {
    return this.runtime;
  }

  private state(name: string): PipelineState {
    return pipelineState(this.ledger.state, name);
  }

  private async ensureLoaded(): Promise<void> {
    if (!this.loaded) await this.load();
    else await this.ledger.refresh();
  }

  // ─── the reconcile loop ──────────────────────────────────────────────────────────────

  /** One reconcile pass over every pipeline. Errors are emitted as `error` events, not thrown. */
  tick(): Promise<void> {
    const pass = this.tickOnce();
    this.ticking = pass;
    return pass;
  }

  private async tickOnce(): Promise<void> {
    if (this.lostLease) return; // said once, when it was lost; run() ends on it
    try {
      await this.ensureLoaded();
    } catch (error) {
      // The store is unreachable (a database restarting): say so, decide nothing on a stale
      // ledger, and try again next pass.
      this.emit('error', {
        operation: 'read the ledger',
        error: error instanceof Error ? error : new Error(String(error)),
      });
      return;
    }
    const all = [...this.pipelines.values()];
    for (const pipeline of this.passOrder()) {
      if (this.runtime.signal.aborted) return;
      // A batch another runner opened to everyone holds up its ring: help with it first.
      if (this.manyRunners)
        await this.guard(undefined, 'help with shared batches', () => this.rings.helpOpenBatches(all));
      await this.guard(pipeline.name, 'pipeline lease', async () => {
        await this.underPipelineLease(pipeline, async () => {
          await this.guard(pipeline.name, 'poll', () => this.intake.poll(pipeline));
          await this.guard(pipeline.name, 'deploy requests', () => this.intake.pollDeployRequests(pipeline));
          await this.guard(pipeline.name, 'build', () => this.intake.buildPending(pipeline));
        });
      });
      for (let i = 0; i < pipeline.rings.length; i++) {
        if (this.runtime.signal.aborted) return;
        await this.guard(pipeline.name, `ring ${pipeline.rings[i]!.name}`, () =>
          this.rings.reconcileRing(pipeline, i),
        );
      }
      await this.guard(pipeline.name, 'notify', async () => {
        await this.underPipelineLease(pipeline, () => deliverNotifications(this.runtime, pipeline));
      });
    }
  }

  /**
   * The pipelines in the order this pass visits them. One runner visits them in config order;
   * with many, each runner starts each pass at a different one, so the runners spread out over
   * the pipelines instead of queueing behind each other's leases.
   */
  private passOrder(): Pipeline[] {
    const all = [...this.pipelines.values()];
    if (!this.manyRunners || all.length < 2) return all;
    const start = (this.offset + this.passes++) % all.length;
    return [...all.slice(start), ...all.slice(0, start)];
  }

  /**
   * Runs `work` on one pipeline's sources, builds or notifications. With many runners it holds
   * the pipeline's lease (renewed while the work runs; its writes are fenced by it) after
   * reading what other runners wrote, and ends the builds a dead holder left running; when
   * another runner holds it, the work is skipped this pass. With one runner, the engine's lease
   * already covers it.
   */
  private async underPipelineLease(pipeline: Pipeline, work: () => Promise<void>): Promise<boolean> {
    if (!this.manyRunners) {
      await work();
      return true;
    }
    const name = `pipeline:${pipeline.name}`;
    const store = this.ledger.store;
    const lease = await store.acquire(name, { owner: this.opts.owner, ttlMs: this.opts.leaseMs });
    if (!lease) return false;
    const keeper = new LeaseKeeper(store, lease, this.opts.leaseMs, (error) =>
      this.emit('error', { pipeline: pipeline.name, operation: `renew ${name}`, error }),
    );
    try {
      await this.pipelineLease.run(keeper, async () => {
        await this.ledger.refresh();
        await reapOrphans(this.runtime, [pipeline], (step) => step.kind === 'build');
        await work();
      });
    } finally {
      await keeper.stop();
      await store.release(keeper.current).catch(() => {}); // a lost lease is not ours to release
    }
    if (keeper.signal.aborted) {
      const reason = keeper.signal.reason as Error;
      await this.ledger
        .writeUnder(
          [],
          entry('lease.lost', {
            pipeline: pipeline.name,
            lease: name,
            owner: this.opts.owner,
            reason: `${reason.message}; stopped, the next holder goes on from the ledger`,
          }),
        )
        .catch(() => {}); // best effort: the store may be what failed
      throw reason;
    }
    return true;
  }

  /**
   * Polls the sources and builds every new revision into a release, without deploying anything
   * (`ringmaster build`). Errors are thrown, not emitted.
   */
  async build(options: { pipeline?: string } = {}): Promise<void> {
    await this.ensureLoaded();
    const pipelines = options.pipeline
      ? [this.operations.pipeline(options.pipeline)]
      : [...this.pipelines.values()];
    for (const pipeline of pipelines) {
      const ran = await this.underPipelineLease(pipeline, async () => {
        await this.intake.poll(pipeline);
        await this.intake.buildPending(pipeline);
        await deliverNotifications(this.runtime, pipeline);
      });
      if (!ran) {
        const holder = await this.ledger.store.inspect(`pipeline:${pipeline.name}`);
        throw new RingmasterError(
          'LOCKED',
          `another runner is polling and building ${pipeline.name}: ${holder ? describeHolder(holder) : 'unknown holder'}; its builds land in the ledger, or try again when it is done`,
          { scope: 'engine', details: { holder } },
        );
      }
    }
  }

  /**
   * Ticks until `signal` aborts or `close()` is called, sleeping `intervalMs` between passes.
   * While it runs, a last-resort guard catches what no adapter contained (an uncaught exception,
   * an unhandled rejection): the fault is recorded and the rollout under way parks at its next
   * host boundary, to resume at the next pass — the process does not die. `guard: false` leaves
   * the process's own handlers alone.
   */
  async run(options: { intervalMs?: number; signal?: AbortSignal; guard?: boolean } = {}): Promise<void> {
    const signal = options.signal
      ? AbortSignal.any([options.signal, this.stopping.signal])
      : this.stopping.signal;
    const onFault = (error: unknown) => void this.fault(error);
    if (options.guard !== false) {
      process.on('uncaughtException', onFault);
      process.on('unhandledRejection', onFault);
    }
    // A store that can tell when someone appended (LISTEN/NOTIFY) cuts the sleep short; one that
    // arrives during a pass makes the next sleep end at once. Lost ones only cost the interval.
    let woken = new AbortController();
    const unsubscribe = this.ledger.store.subscribe?.(() => woken.abort());
    try {
      while (!signal.aborted) {
        await this.tick();
        const lost = this.lostLease;
        if (lost) throw lost;
        await this.clock.sleep(options.intervalMs ?? 30_000, AbortSignal.any([signal, woken.signal]));
        woken = new AbortController();
      }
    } finally {
      unsubscribe?.();
      process.off('uncaughtException', onFault);
      process.off('unhandledRejection', onFault);
    }
  }

  /**
   * Records a fault nothing else contained (`engine.fault`) and stops the work under way at its
   * next host boundary: a rollout is parked, and resumes at the next pass. `run()` calls it for
   * uncaught exceptions; a process embedding the engine may call it from its own handler.
   */
  async fault(error: unknown): Promise<void> {
    const reason = this.mask.maskError(error instanceof Error ? error : new Error(String(error)));
    const previous = this.pass;
    this.pass = new AbortController();
    previous.abort(
      new RingmasterError('STATE', `a fault stopped the work under way: ${reason.message}`, {
        scope: 'engine',
        cause: reason,
      }),
    );
    this.emit('error', { operation: 'uncaught fault', error: reason });
    await this.ledger
      .write(
        entry('engine.fault', {
          owner: this.opts.owner,
          error: reason.message,
          ...(reason.stack ? { stack: reason.stack.split('\n').slice(0, 12).join('\n') } : {}),
        }),
      )
      .catch(() => {}); // the store may be what is failing: the error event has said it
  }

  private async guard(
    pipeline: string | undefined,
    operation: string,
    work: () => Promise<void>,
  ): Promise<void> {
    try {
      await work();
    } catch (error) {
      this.emit('error', {
        ...(pipeline ? { pipeline } : {}),
        operation,
        error: this.mask.maskError(error instanceof Error ? error : new Error(String(error))),
      });
    }
  }

  // ─── the API for people and tools: operations.ts, reports in report.ts and plan.ts ───

  /**
   * Records an approval of a release for a ring (checked by `manual()` policies). Refused
   * (`POLICY`, `STATE`) when it could never count: someone outside the policy's group, the
   * release's own author where self-approval does not count, a second approval by one person.
   *
   * @example
   * ```ts
   * await engine.approve({ pipeline: 'foostat', ring: 'prod', release: '1.0.42', by: 'alice' });
   * ```
   */
  async approve(input: Parameters<Operations['approve']>[0]): Promise<void> {
    await this.ensureLoaded();
    await this.operations.approve(input);
  }

  /**
   * Rolls a release (default: the newest one ready for the ring) out to a ring now, bypassing
   * its policy but not its lock, then runs the ring's gates. Says which rollout, and how it ended.
   * A freeze in the ring's policy binds it too: during one it is refused unless `breakGlass`
   * gives a reason and the caller's groups include one of the engine's `breakGlass.groups`
   * (recorded as `ring.break-glass`, and notified).
   *
   * Package relations bind it as they bind automatic promotion: a release whose Depends the
   * ring does not meet (or that breaks what it runs) is refused, saying what is missing, unless
   * `force`. Releases of other pipelines that need each other go in together with `with`.
   */
  async promote(input: PromoteInput): Promise<RolloutSummary> {
    await this.ensureLoaded();
    return this.operations.promote(input);
  }

  /**
   * Rolls a ring back to `to`, or to the newest release verified there (never onto one rejected
   * or failed there unless named), and rejects the release it ran there, so automatic promotion
   * never ships it again. Says which release it chose, and how the rollback ended. A rollback
   * that would break what the ring runs (a foo there needs the bar it has now) is refused,
   * saying why, unless `force`.
   */
  async rollback(input: RollbackInput): Promise<RolloutSummary> {
    await this.ensureLoaded();
    return this.operations.rollback(input);
  }

  /**
   * Ends the pause step a ring's rollout waits at — for a person, or early for a timed pause —
   * recording who did; then, unless `drive: false`, carries the rollout on in this process to its
   * end or its next pause (undefined `summary` when another process holds the ring: it does).
   *
   * @example
   * ```ts
   * const { summary } = await engine.resume({ pipeline: 'foostat', ring: 'prod', by: 'alice' });
   * ```
   */
  async resume(
    input: ResumeInput & { drive?: boolean },
  ): Promise<{ rollout: string; step: number; summary?: RolloutSummary }> {
    await this.ensureLoaded();
    const resumed = await this.operations.resume(input);
    if (input.drive === false) return resumed;
    const summary = await this.operations.drive(input);
    return { ...resumed, ...(summary ? { summary } : {}) };
  }

  /**
   * Aborts the ring's rollout in flight (Argo Rollouts' `abort`): recorded as who and why; at its
   * next step boundary — at once for a paused or parked one — it applies `onFailure` to the hosts
   * done so far (rolls them back, or halts). Unless `drive: false`, carries that out in this
   * process (undefined `summary` when another process holds the ring: it does).
   *
   * @example
   * ```ts
   * await engine.abort({ pipeline: 'foostat', ring: 'prod', reason: 'canary error rate up', by: 'alice' });
   * ```
   */
  async abort(input: {
    pipeline: string;
    ring: string;
    reason: string;
    by?: string;
    drive?: boolean;
  }): Promise<{ rollout: string; summary?: RolloutSummary }> {
    await this.ensureLoaded();
    const aborted = await this.operations.abort(input);
    if (input.drive === false) return aborted;
    const summary = await this.operations.drive({ ...input, chosen: `aborted by ${input.by ?? 'api'}` });
    return { ...aborted, ...(summary ? { summary } : {}) };
  }

  /** Stops every deployment to a ring (automatic ones included) until `unlock`. */
  async lock(input: { pipeline: string; ring: string; reason: string; by?: string }): Promise<void> {
    await this.ensureLoaded();
    await this.operations.lock(input);
  }

  /** Lifts a lock; `reason` (why it is safe again) is recorded with it. */
  async unlock(input: { pipeline: string; ring: string; by?: string; reason?: string }): Promise<void> {
    await this.ensureLoaded();
    await this.operations.unlock(input);
  }

  /**
   * Lifts the rejection of a release in a ring (set by a rollback, a failed gate or `reject`), so
   * the ring's policy may promote it again: `ringmaster allow`.
   */
  async allow(input: { pipeline: string; ring: string; release: string; by?: string }): Promise<void> {
    await this.ensureLoaded();
    await this.operations.allow(input);
  }

  /**
   * Holds a ring on the release it runs, with a reason: automatic promotion waits ("pinned by
   * alice: incident 42"), and promote or rollback to another release is refused, until `unpin`.
   *
   * @example
   * ```ts
   * await engine.pin({ pipeline: 'foostat', ring: 'prod', reason: 'incident 42', by: 'alice' });
   * ```
   */
  async pin(input: {
    pipeline: string;
    ring: string;
    release?: string;
    reason: string;
    by?: string;
  }): Promise<void> {
    await this.ensureLoaded();
    await this.operations.pin(input);
  }

  /**
   * Lifts a ring's pin. Given a `release`, it lifts that release's rejection instead, as it did
   * before pins existed: that is `allow()` now, and this spelling goes away in a later version.
   */
  async unpin(input: { pipeline: string; ring: string; release?: string; by?: string }): Promise<void> {
    await this.ensureLoaded();
    if (input.release !== undefined) await this.operations.allow({ ...input, release: input.release });
    else await this.operations.unpinRing(input);
  }

  /**
   * Marks a release bad in every ring: no policy promotes it again, and rings running it say so
   * and offer a rollback. Returns the rings it was rejected in now.
   */
  async reject(input: { pipeline: string; release: string; reason: string; by?: string }): Promise<string[]> {
    await this.ensureLoaded();
    return this.operations.reject(input);
  }

  /**
   * Asks for a failed build (by revision, or a prefix of 7+ characters) to be run again: it is
   * recorded, and the next `build()` or pass builds it as a new attempt of the same revision.
   *
   * @example
   * ```ts
   * await engine.rebuild({ pipeline: 'foostat', revision: 'a1b2c3d', by: 'alice' });
   * await engine.build({ pipeline: 'foostat' });
   * ```
   */
  async rebuild(input: { pipeline: string; revision: string; by?: string }): Promise<{ revision: string }> {
    await this.ensureLoaded();
    return this.operations.rebuild(input);
  }

  /**
   * What ring `ring`'s suite listed at `at` (default: now) — what its hosts could install then —
   * from the ledger alone: the last `suite.updated` of any pipeline for that ring at or before
   * that time. Undefined when the ring's suite had not been changed yet by then (or the
   * repositories keep no suite per ring).
   *
   * @example
   * ```ts
   * const then = await engine.suite({ ring: 'prod', at: '2026-11-20T12:00:00Z' });
   * // then?.packages → { foostat: ['1.0.3', '1.0.4'], barstat: ['2.0'] }
   * ```
   */
  async suite(input: { ring: string; at?: string | Date }): Promise<SuiteAt | undefined> {
    await this.ensureLoaded();
    const at = input.at === undefined ? this.clock.now() : new Date(input.at);
    if (Number.isNaN(at.getTime()))
      throw new RingmasterError('CONFIG', `at: "${String(input.at)}" is not a time (use ISO 8601)`, {
        scope: 'engine',
      });
    if (![...this.pipelines.values()].some((p) => p.rings.some((r) => r.name === input.ring)))
      throw new RingmasterError('NOT_FOUND', `no pipeline has a ring "${input.ring}"`, { scope: 'engine' });
    let last: (SuiteChange & { pipeline: string }) | undefined;
    for (const name of this.pipelines.keys())
      for (const change of this.state(name).suites)
        if (
          change.ring === input.ring &&
          Date.parse(change.at) <= at.getTime() &&
          (!last || change.seq > last.seq)
        )
          last = { ...change, pipeline: name };
    return last && { ...last, asOf: at.toISOString() };
  }

  /** Why the newest release is or is not moving into a ring, from the ledger alone. */
  async explain(input: { pipeline: string; ring: string }): Promise<Explanation> {
    await this.ensureLoaded();
    const pipeline = this.operations.pipeline(input.pipeline);
    return explainRing(
      pipeline,
      this.state(pipeline.name),
      this.operations.ringIndex(pipeline, input.ring),
      this.clock.now(),
      this.runtime,
    );
  }

  /**
   * What every ring runs, per the ledger; with `live`, also what each host really runs (asked
   * through the targets), and where the two differ (drift). `pipeline`, `ring` and `limit` (host
   * names or globs, with a ring) narrow it; disabled hosts are shown as such and never asked.
   */
  async status(
    options: { live?: boolean; pipeline?: string; ring?: string; limit?: string | readonly string[] } = {},
  ): Promise<StatusReport> {
    await this.ensureLoaded();
    const only = this.operations.statusFilter(options);
    return statusReport(
      only.pipelines,
      this.runtime,
      this.clock.now(),
      options.live ?? false,
      async (pipeline, ring) => {
        const holder = await this.ledger.store.inspect(`rollout:${pipeline}:${ring}`).catch(() => undefined);
        return holder ? describeHolder(holder) : undefined;
      },
      only,
    );
  }

  /**
   * Brings drifted hosts back to their ring's release: asks every host what it runs, and rolls
   * the ring's current release out (a rollout of kind `converge`, in the ledger) to the hosts
   * that do not run it or could not be read (a host still unreachable fails its step and the
   * report says so). A locked ring or one with a rollout under way is skipped and reported.
   * Disabled hosts are left alone; `limit` (with a ring) converges only the hosts it names.
   *
   * @example
   * ```ts
   * const report = await engine.converge({ pipeline: 'foostat', ring: 'prod' });
   * if (!report.ok) console.error(report.rings.map((r) => r.reason).join('\n'));
   * ```
   */
  async converge(
    input: { pipeline?: string; ring?: string; by?: string; limit?: string | readonly string[] } = {},
  ): Promise<ConvergeReport> {
    await this.ensureLoaded();
    return this.operations.converge(input);
  }

  /**
   * Takes a host out of rotation, with a reason: rollouts and gates skip it, and `status` shows it
   * as disabled (who, why) — neither drift nor a failure. A ring whose every host is disabled
   * takes no rollout, and says so.
   *
   * @example
   * ```ts
   * await engine.disableHost({ pipeline: 'foostat', ring: 'prod', host: 'prod-2', reason: 'disk failing', by: 'alice' });
   * ```
   */
  async disableHost(input: {
    pipeline: string;
    ring: string;
    host: string;
    reason: string;
    by?: string;
  }): Promise<void> {
    await this.ensureLoaded();
    await this.operations.disableHost(input);
  }

  /** Puts a disabled host back in rotation, then converges it to its ring's release. */
  async enableHost(input: {
    pipeline: string;
    ring: string;
    host: string;
    by?: string;
  }): Promise<ConvergeReport> {
    await this.ensureLoaded();
    return this.operations.enableHost(input);
  }

  /**
   * What the next tick would do and why, without doing it: revisions it would build, and per
   * ring its action (resume, locked, verifying, promote, wait, blocked, idle) and why. Reads the
   * ledger and the policies, and (unless `poll: false`) asks each source for new revisions;
   * writes nothing.
   *
   * @example
   * ```ts
   * for (const p of (await engine.plan()).pipelines)
   *   for (const r of p.rings) console.log(p.pipeline, r.ring, r.action, r.reason);
   * ```
   */
  async plan(options: { poll?: boolean } = {}): Promise<Plan> {
    await this.ensureLoaded();
    const now = this.clock.now();
    const pipelines = [];
    for (const pipeline of this.pipelines.values())
      pipelines.push(
        await planPipeline(pipeline, this.state(pipeline.name), now, options.poll ?? true, this.runtime),
      );
    return { at: now.toISOString(), pipelines };
  }

  /**
   * A rollout drawn without doing it (`deploy --dry-run`, `plan --hosts`): each host step by step
   * from what the ledger last recorded on it to the release, the pauses and gates, and the
   * commits between what the ring runs and the release. `release` defaults to what `plan` would
   * promote next there (for a rollback, what `rollback` would choose); refused as the action
   * itself would be (`STATE`, `LOCKED`). Reads only: no ledger write, no lease.
   *
   * @example
   * ```ts
   * const preview = await engine.previewRollout({ pipeline: 'foostat', ring: 'prod' });
   * console.log(preview.steps.length, preview.commits.added.length);
   * ```
   */
  async previewRollout(input: {
    pipeline: string;
    ring: string;
    release?: string;
    kind?: 'deploy' | 'rollback';
    hosts?: readonly string[];
    /** Only these hosts (names or globs), as `promote({ limit })` would. */
    limit?: string | readonly string[];
    /** A deploy's releases of other pipelines going in with it, as `promote({ with })`. */
    with?: readonly { pipeline: string; release: string }[];
    /** As `promote({ force })`: package relations do not refuse it. */
    force?: boolean;
  }): Promise<RolloutPreview> {
    await this.ensureLoaded();
    const pipeline = this.operations.pipeline(input.pipeline);
    const index = this.operations.ringIndex(pipeline, input.ring);
    const ring = pipeline.rings[index]!;
    const p = this.state(pipeline.name);
    const kind = input.kind ?? 'deploy';
    const named = input.release ? this.operations.findRelease(pipeline, input.release) : undefined;
    const refused = previewRefusal(pipeline, p, ring.name, named?.id, kind);
    if (refused) throw refused;
    const release =
      named ??
      defaultPreviewRelease(
        pipeline,
        p,
        index,
        this.clock.now(),
        kind,
        (current) => this.rings.previousRelease(pipeline, ring, current),
        this.runtime,
      );
    const limit =
      input.limit !== undefined
        ? matchHosts(ring, typeof input.limit === 'string' ? input.limit : input.limit.join(','))
        : undefined;
    const preview = await previewRollout({
      pipeline,
      state: p,
      ring: ring.name,
      release,
      kind,
      ...(input.hosts ? { hosts: input.hosts } : {}),
      ...(limit ? { limit } : {}),
    });
    // A deploy by hand during a freeze would be refused without breaking glass: say so.
    const frozen = kind === 'deploy' ? frozenFor(pipeline, p, index, release, this.clock.now()) : undefined;
    // And so would one (or a rollback) whose package relations the ring does not meet.
    const companions = (input.with ?? []).map((w) => ({
      pipeline: w.pipeline,
      release: this.operations.findRelease(this.operations.pipeline(w.pipeline), w.release),
    }));
    let unmet: Error | undefined;
    try {
      unmet = input.force
        ? undefined
        : kind === 'deploy'
          ? promoteRefusal(this.runtime, pipeline, ring.name, release, companions)
          : rollbackRefusal(this.runtime, pipeline, ring.name, release);
    } catch (error) {
      unmet = error as Error; // a relation that does not parse: the command would be refused too
    }
    return {
      ...preview,
      ...(frozen ? { frozen: frozen.reason } : {}),
      ...(unmet ? { refused: plainMessage(unmet.message) } : {}),
    };
  }
}

/**
 * Creates an engine.
 *
 * @example
 * ```ts
 * const engine = createEngine({ pipelines: [app], store: fileStore({ dir: '.ringmaster/ledger' }) });
 * await engine.start();
 * await engine.run({ intervalMs: 30_000 });
 * ```
 */
export function createEngine(options: EngineOptions): Engine {
  return new Engine(options);
}
