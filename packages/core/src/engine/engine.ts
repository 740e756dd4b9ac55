/**
 * The engine: a reconciler over the ledger. Each `tick()` polls every pipeline's source,
 * builds new revisions, and moves releases ring by ring as the policies allow. All state lives
 * in the ledger, so a restarted engine (even after `kill -9`) resumes where it stopped.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { EventEmitter } from 'eventemitter3';
import { z } from 'zod';
import type { Artifact } from '../contracts/artifact.js';
import type { Clock } from '../contracts/clock.js';
import type { Notification, Notifier } from '../contracts/notifier.js';
import type { Revision } from '../contracts/source.js';
import type { Lease, Store } from '../contracts/store.js';
import { isRingmasterError, parseOptions, RingmasterError } from '../errors.js';
import { entry, Ledger } from '../ledger/ledger.js';
import type { RecordType, RolloutKind, TypedRecord } from '../ledger/records.js';
import type { PipelineState, ReleaseState } from '../ledger/state.js';
import { pipelineState, ringState } from '../ledger/state.js';
import { runBuild } from '../model/build.js';
import { systemClock } from '../model/clock.js';
import type { Gate } from '../model/gate.js';
import type { Pipeline, Ring } from '../model/pipeline.js';
import { executeRollout, type RolloutResult } from '../rollout/execute.js';
import { planBatches } from '../rollout/strategy.js';
import { fileStore } from '../store/file.js';
import { describeHolder } from '../store/lockfile.js';
import { decideRing } from './decide.js';
import type { EngineEvents } from './events.js';
import { type Explanation, explainRing, type StatusReport, statusReport } from './report.js';

const isFn = (v: unknown) => typeof v === 'function';

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
  })
  .strict()
  .superRefine((o, ctx) => {
    const seen = new Set<string>();
    o.pipelines.forEach((p, i) => {
      if (seen.has(p.name))
        ctx.addIssue({
          code: 'custom',
          path: ['pipelines', i, 'name'],
          message: `duplicate pipeline "${p.name}"`,
        });
      seen.add(p.name);
    });
  });
export type EngineOptions = z.input<typeof engineOptionsSchema>;

const LEASE_MS = 30_000;

export interface ActionOptions {
  /** Who asks (recorded in the ledger). @default 'api' */
  by?: string;
  reason?: string;
}

/** Runs pipelines durably. Create with `createEngine()`. */
export class Engine extends EventEmitter<EngineEvents> {
  readonly pipelines: ReadonlyMap<string, Pipeline>;
  readonly ledger: Ledger;
  readonly clock: Clock;
  private readonly opts: z.output<typeof engineOptionsSchema>;
  private loaded = false;
  private lease: Lease | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private readonly stopping = new AbortController();

  constructor(options: EngineOptions) {
    super();
    this.opts = parseOptions(engineOptionsSchema, options, 'engine', '');
    this.clock = this.opts.clock ?? systemClock;
    this.pipelines = new Map(this.opts.pipelines.map((p) => [p.name, p]));
    const store = this.opts.store ?? fileStore({ dir: '.ringmaster/ledger' });
    this.ledger = new Ledger(store, this.clock, (record) => this.onRecord(record));
  }

  private onRecord(record: TypedRecord): void {
    if (!this.loaded) return; // replay at start-up is history, not news
    this.emit('record', record);
    (this.emit as (type: RecordType, ...args: unknown[]) => boolean)(record.type, record.data, record);
  }

  /** Reads the ledger (replaying the journal on first use). */
  async load(): Promise<void> {
    await this.ledger.refresh();
    this.loaded = true;
  }

  /**
   * Takes the engine lease on the ledger (one running engine per ledger) and loads it. A second
   * engine gets a `LOCKED` error naming the holder, or waits up to `waitMs`.
   */
  async start(options: { waitMs?: number } = {}): Promise<void> {
    const deadline = Date.now() + (options.waitMs ?? 0);
    for (;;) {
      this.lease = await this.ledger.store.acquire('engine', { owner: this.opts.owner, ttlMs: LEASE_MS });
      if (this.lease) break;
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
    this.renewTimer = setInterval(() => {
      if (this.lease) {
        this.ledger.store.renew(this.lease, LEASE_MS).then(
          (l) => {
            this.lease = l;
          },
          (error: unknown) => this.emit('error', { operation: 'lease', error: error as Error }),
        );
      }
    }, LEASE_MS / 3);
    this.renewTimer.unref();
    await this.load();
  }

  /** Stops `run()` after the current host/batch, releases the lease, and closes the adapters. */
  async close(): Promise<void> {
    this.stopping.abort();
    clearInterval(this.renewTimer);
    await this.ledger.flush();
    if (this.lease) await this.ledger.store.release(this.lease);
    this.lease = undefined;
    for (const p of this.pipelines.values()) {
      await p.source.close?.();
      await p.repository.close?.();
      for (const r of p.rings) await r.target.close?.();
    }
    await this.ledger.store.close?.();
  }

  private pipeline(name: string): Pipeline {
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

  private ringIndex(pipeline: Pipeline, name: string): number {
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

  private state(name: string): PipelineState {
    return pipelineState(this.ledger.state, name);
  }

  private async ensureLoaded(): Promise<void> {
    if (!this.loaded) await this.load();
    else await this.ledger.refresh();
  }

  // ─── the reconcile loop ──────────────────────────────────────────────────────────────

  /** One reconcile pass over every pipeline. Errors are emitted as `error` events, not thrown. */
  async tick(): Promise<void> {
    await this.ensureLoaded();
    for (const pipeline of this.pipelines.values()) {
      if (this.stopping.signal.aborted) return;
      await this.guard(pipeline.name, 'poll', () => this.poll(pipeline));
      await this.guard(pipeline.name, 'deploy requests', () => this.pollDeployRequests(pipeline));
      await this.guard(pipeline.name, 'build', () => this.buildPending(pipeline));
      for (let i = 0; i < pipeline.rings.length; i++) {
        if (this.stopping.signal.aborted) return;
        await this.guard(pipeline.name, `ring ${pipeline.rings[i]!.name}`, () =>
          this.reconcileRing(pipeline, i),
        );
      }
      await this.guard(pipeline.name, 'notify', () => this.deliverNotifications(pipeline));
    }
  }

  /** Ticks until `signal` aborts or `close()` is called, sleeping `intervalMs` between passes. */
  async run(options: { intervalMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    const signal = options.signal
      ? AbortSignal.any([options.signal, this.stopping.signal])
      : this.stopping.signal;
    while (!signal.aborted) {
      await this.tick();
      await this.clock.sleep(options.intervalMs ?? 30_000, signal);
    }
  }

  private async guard(pipeline: string, operation: string, work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (error) {
      this.emit('error', {
        pipeline,
        operation,
        error: error instanceof Error ? error : new Error(String(error)),
      });
    }
  }

  private async poll(pipeline: Pipeline): Promise<void> {
    const p = this.state(pipeline.name);
    let revisions: Revision[];
    try {
      revisions = await pipeline.source.log(p.cursor);
    } catch (error) {
      if (!isRingmasterError(error, 'CURSOR_LOST') || p.cursor === undefined) throw error;
      // History was rewritten under the cursor: start again from the head, without rebuilding the past.
      const head = await pipeline.source.head();
      await this.ledger.write(
        entry('source.reset', {
          pipeline: pipeline.name,
          from: p.cursor,
          to: head.id,
          reason: error.message,
        }),
        ...(p.revisions.has(head.id)
          ? []
          : [entry('revision.seen', { pipeline: pipeline.name, revision: head })]),
      );
      return;
    }
    const fresh = revisions.filter((r) => !p.revisions.has(r.id));
    if (fresh.length)
      await this.ledger.write(
        ...fresh.map((revision) => entry('revision.seen', { pipeline: pipeline.name, revision })),
      );
  }

  private async pollDeployRequests(pipeline: Pipeline): Promise<void> {
    if (!pipeline.source.deployRequests) return;
    const p = this.state(pipeline.name);
    const requests = await pipeline.source.deployRequests(p.requestCursor);
    for (const request of requests) {
      const known = pipeline.rings.some((r) => r.name === request.ring);
      await this.ledger.write(
        entry('deploy-request.seen', { pipeline: pipeline.name, request }),
        ...(known
          ? [
              entry('approval.recorded', {
                pipeline: pipeline.name,
                ring: request.ring,
                revision: request.revision,
                by: request.author,
                via: 'vcs' as const,
                comment: request.message,
              }),
            ]
          : []),
      );
      if (!known) {
        this.emit('error', {
          pipeline: pipeline.name,
          operation: 'deploy requests',
          error: new RingmasterError(
            'NOT_FOUND',
            `deploy request ${request.name} names unknown ring "${request.ring}"; ignored`,
            {
              scope: 'engine',
            },
          ),
        });
      }
    }
  }

  // ─── builds ──────────────────────────────────────────────────────────────────────────

  private async buildPending(pipeline: Pipeline): Promise<void> {
    const p = this.state(pipeline.name);
    for (const id of [...p.pending]) {
      if (this.stopping.signal.aborted) return;
      await this.buildRevision(pipeline, p.revisions.get(id)!.revision);
    }
  }

  private async buildRevision(pipeline: Pipeline, revision: Revision): Promise<void> {
    const name = pipeline.name;
    await this.ledger.write(entry('build.started', { pipeline: name, revision: revision.id }));
    const dir = join(this.opts.workDir, name, 'builds', revision.id.slice(0, 40));
    const outDir = join(this.opts.workDir, name, 'artifacts');
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    let ok = false;
    let log = '';
    let error: string | undefined;
    let artifact: Artifact | undefined;
    const started = performance.now();
    try {
      await pipeline.source.checkout(revision.id, dir);
      const result = await runBuild(pipeline.build, dir, revision, name, this.stopping.signal);
      log = result.log;
      error = result.error;
      if (result.ok) {
        artifact = await this.packageAndPublish(pipeline, revision, result.outputDir, outDir);
        ok = true;
      }
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
      log += `\n${error}`;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const p = this.state(name);
    const version = artifact?.version;
    await this.ledger.write(
      entry('build.finished', {
        pipeline: name,
        revision: revision.id,
        ok,
        log,
        durationMs: Math.round(performance.now() - started),
        ...(error ? { error } : {}),
      }),
      ...(artifact && !p.releases.has(artifact.version)
        ? [
            entry('release.created', {
              pipeline: name,
              release: artifact.version,
              version: artifact.version,
              revision: revision.id,
              author: revision.author,
              message: revision.message,
              artifact,
            }),
          ]
        : []),
      this.notice(pipeline, {
        kind: 'build',
        pipeline: name,
        ok,
        summary: ok
          ? `build of ${revision.id.slice(0, 12)} passed: release ${version}`
          : `build of ${revision.id.slice(0, 12)} failed: ${error}`,
        author: revision.author,
        revision: revision.id,
        ...(version ? { release: version } : {}),
        ...(ok ? {} : { log: log.slice(-4000) }),
      }),
    );
  }

  private async packageAndPublish(
    pipeline: Pipeline,
    revision: Revision,
    tree: string,
    outDir: string,
  ): Promise<Artifact> {
    const artifact = await pipeline.packager.package({ dir: tree, revision, outDir });
    try {
      return await pipeline.repository.publish(artifact);
    } catch (error) {
      // Rebuilt after a crash with different bytes: the copy already published is the release.
      const stored = isRingmasterError(error, 'REPOSITORY')
        ? await pipeline.repository.find(artifact.name, artifact.version)
        : undefined;
      if (stored) return stored;
      throw error;
    }
  }

  // ─── rings ───────────────────────────────────────────────────────────────────────────

  private async reconcileRing(pipeline: Pipeline, index: number): Promise<void> {
    const ring = pipeline.rings[index]!;
    const p = this.state(pipeline.name);
    const rs = ringState(p, ring.name);
    if (rs.inFlight) {
      await this.withRingLock(pipeline, ring, () => this.resumeRollout(pipeline, ring));
      return;
    }
    if (rs.locked) return;
    if (rs.current && p.releaseRings.get(rs.current)?.get(ring.name)?.status === 'verifying') {
      await this.withRingLock(pipeline, ring, () =>
        this.runGates(pipeline, ring, p.releases.get(rs.current!)!),
      );
      return;
    }
    const decision = decideRing(pipeline, p, index, this.clock.now());
    if (decision.newest) {
      this.emit('decision', {
        pipeline: pipeline.name,
        ring: ring.name,
        release: decision.newest.release.id,
        version: decision.newest.release.version,
        decision: decision.newest.decision,
      });
    }
    if (decision.promote) {
      await this.deploy(pipeline, ring, decision.promote.release, 'deploy', decision.promote.decision.reason);
    }
  }

  /** Runs `work` holding the ring's rollout lock; skips quietly when another process holds it. */
  private async withRingLock(
    pipeline: Pipeline,
    ring: Ring,
    work: (lease: Lease) => Promise<void>,
    required = false,
  ): Promise<void> {
    const name = `rollout:${pipeline.name}:${ring.name}`;
    const lease = await this.ledger.store.acquire(name, { owner: this.opts.owner, ttlMs: LEASE_MS });
    if (!lease) {
      if (!required) return;
      const holder = await this.ledger.store.inspect(name);
      throw new RingmasterError(
        'LOCKED',
        `a rollout of ${pipeline.name}/${ring.name} is under way: ${holder ? describeHolder(holder) : 'another process'}; try again when it ends`,
        { scope: 'engine', details: { holder } },
      );
    }
    try {
      await this.ledger.refresh(); // another process may have moved the ring while we waited
      await work(lease);
    } finally {
      await this.ledger.store.release(lease);
    }
  }

  private async deploy(
    pipeline: Pipeline,
    ring: Ring,
    release: ReleaseState,
    kind: RolloutKind,
    reason: string,
    required = false,
  ): Promise<void> {
    await this.withRingLock(
      pipeline,
      ring,
      async (lease) => {
        const rs = ringState(this.state(pipeline.name), ring.name);
        if (rs.inFlight) {
          await this.resumeRollout(pipeline, ring, lease);
          return;
        }
        await this.ledger.write(this.rolloutEntry(pipeline, ring, release, kind, reason));
        await this.resumeRollout(pipeline, ring, lease);
      },
      required,
    );
  }

  /** Drives the in-flight rollout of the ring to its end (fresh or after a crash), then its gates. */
  private async resumeRollout(pipeline: Pipeline, ring: Ring, lease?: Lease): Promise<void> {
    const p = this.state(pipeline.name);
    const rs = ringState(p, ring.name);
    const rollout = rs.inFlight ? p.rollouts.get(rs.inFlight) : undefined;
    if (!rollout) return;
    const release = p.releases.get(rollout.release)!;
    let held = lease;
    let renewing: Promise<void> = Promise.resolve();
    const base = { pipeline: pipeline.name, rollout: rollout.id };
    const result: RolloutResult = await executeRollout({
      spec: rollout.strategy,
      batches: rollout.batches,
      target: ring.target,
      artifact: release.artifact,
      prior: { hosts: rollout.hosts, rollbacks: rollout.rollbacks },
      resolve: async (version) =>
        p.releases.get(version)?.artifact ?? (await pipeline.repository.find(release.artifact.name, version)),
      signal: this.stopping.signal,
      recorder: {
        hostStarted: async (host, from, phase) => {
          await this.ledger.write(entry('host.started', { ...base, host, from, phase }));
        },
        hostFinished: async (host, outcome, phase) => {
          await this.ledger.write(
            entry('host.finished', {
              ...base,
              host,
              phase,
              ok: outcome.ok,
              version: outcome.version,
              ...(outcome.error ? { error: outcome.error } : {}),
              ...(outcome.alreadyThere ? { alreadyThere: true } : {}),
            }),
          );
          // Renew the ring lock when half of it is used up; hosts of a batch finish concurrently,
          // so renewals are chained rather than raced.
          if (held && held.expiresAt - Date.now() < LEASE_MS / 2) {
            renewing = renewing.then(async () => {
              if (held && held.expiresAt - Date.now() < LEASE_MS / 2)
                held = await this.ledger.store.renew(held, LEASE_MS);
            });
            await renewing;
          }
        },
      },
    });
    if (result.outcome === 'interrupted') return; // stays in flight; the next start resumes it
    const ok = result.outcome === 'succeeded';
    await this.ledger.write(
      entry('rollout.finished', { ...base, outcome: result.outcome, reason: result.reason }),
      this.notice(pipeline, {
        kind: rollout.kind === 'rollback' ? 'rollback' : 'rollout',
        pipeline: pipeline.name,
        ok,
        summary: `${rollout.kind} of ${release.version} to ${ring.name} ${result.outcome}: ${result.reason}`,
        author: release.author,
        revision: release.revision,
        release: release.id,
        ring: ring.name,
      }),
    );
    if (ok && rollout.kind === 'deploy') await this.runGates(pipeline, ring, release);
  }

  private async runGates(pipeline: Pipeline, ring: Ring, release: ReleaseState): Promise<void> {
    const p = this.state(pipeline.name);
    const rollout = p.releaseRings.get(release.id)?.get(ring.name)?.rollout ?? '';
    const done = new Map(
      p.gates
        .filter((g) => g.ring === ring.name && g.release === release.id && g.rollout === rollout)
        .map((g) => [g.gate, g]),
    );
    const hosts = ring.target.hosts.map((h) => h.name);
    const failures: string[] = [];
    for (const gate of ring.gates) {
      const ok =
        done.get(gate.name)?.ok ?? (await this.runGate(pipeline, ring, release, rollout, gate, hosts));
      if (!ok) {
        failures.push(gate.name);
        break; // later gates assume the earlier ones passed
      }
    }
    if (failures.length === 0) {
      await this.ledger.write(
        entry('ring.verified', { pipeline: pipeline.name, ring: ring.name, release: release.id }),
        this.notice(pipeline, {
          kind: 'gate',
          pipeline: pipeline.name,
          ok: true,
          summary: `${release.version} verified in ${ring.name}${ring.gates.length ? ` (${ring.gates.map((g) => g.name).join(', ')} passed)` : ''}`,
          author: release.author,
          revision: release.revision,
          release: release.id,
          ring: ring.name,
        }),
      );
      return;
    }
    const reason = `gate ${failures.join(', ')} failed`;
    const previous =
      ring.onGateFailure === 'rollback' ? this.previousRelease(pipeline, ring, release.id) : undefined;
    // One append: a crash can never leave the release failed but not rolled back.
    await this.ledger.write(
      entry('ring.failed', { pipeline: pipeline.name, ring: ring.name, release: release.id, reason }),
      this.notice(pipeline, {
        kind: 'gate',
        pipeline: pipeline.name,
        ok: false,
        summary: `${release.version} failed in ${ring.name}: ${reason}`,
        author: release.author,
        revision: release.revision,
        release: release.id,
        ring: ring.name,
        log: p.gates.at(-1)?.log.slice(-4000) ?? '',
      }),
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
    );
    if (previous) await this.resumeRollout(pipeline, ring);
  }

  private async runGate(
    pipeline: Pipeline,
    ring: Ring,
    release: ReleaseState,
    rollout: string,
    gate: Gate,
    hosts: string[],
  ): Promise<boolean> {
    const started = performance.now();
    const outcome = await gate.run({
      pipeline: pipeline.name,
      ring: ring.name,
      release: { id: release.id, version: release.version, revision: release.revision },
      hosts,
      target: ring.target,
      signal: this.stopping.signal,
      log: () => {},
    });
    await this.ledger.write(
      entry('gate.finished', {
        pipeline: pipeline.name,
        ring: ring.name,
        release: release.id,
        rollout,
        gate: gate.name,
        ok: outcome.ok,
        log: outcome.log.slice(-16_000),
        durationMs: Math.round(performance.now() - started),
      }),
    );
    return outcome.ok;
  }

  /** The release the ring ran before `current`, skipping releases rejected there. */
  private previousRelease(pipeline: Pipeline, ring: Ring, current: string): ReleaseState | undefined {
    const p = this.state(pipeline.name);
    const rs = ringState(p, ring.name);
    for (const id of [...rs.history].reverse()) {
      if (id === current) continue;
      if (p.releaseRings.get(id)?.get(ring.name)?.status === 'rejected') continue;
      const release = p.releases.get(id);
      if (release) return release;
    }
    return undefined;
  }

  /** The record that starts a rollout of `release` to `ring` (numbered after the ring's last). */
  private rolloutEntry(
    pipeline: Pipeline,
    ring: Ring,
    release: ReleaseState,
    kind: RolloutKind,
    reason: string,
  ) {
    const rs = ringState(this.state(pipeline.name), ring.name);
    // A rollback never rolls itself back: it halts where it fails.
    const strategy = kind === 'deploy' ? ring.rollout : { ...ring.rollout, onFailure: 'halt' as const };
    return entry('rollout.started', {
      pipeline: pipeline.name,
      ring: ring.name,
      rollout: `${ring.name}#${rs.rollouts.length + 1}`,
      release: release.id,
      kind,
      reason,
      strategy,
      batches: planBatches(
        strategy,
        ring.target.hosts.map((h) => h.name),
      ),
    });
  }

  // ─── notifications ───────────────────────────────────────────────────────────────────

  /** The record that queues a notification; written in the same append as the fact it reports. */
  private notice(pipeline: Pipeline, notification: Notification) {
    const address = notification.author ? pipeline.authors[notification.author] : undefined;
    return entry('notification.queued', {
      pipeline: pipeline.name,
      id: randomUUID(),
      notification: address ? { ...notification, author: address } : notification,
    });
  }

  /** Delivers queued notifications to every notifier once; a failing notifier is recorded, never fatal. */
  private async deliverNotifications(pipeline: Pipeline): Promise<void> {
    const notifiers = [...this.opts.notifiers, ...pipeline.notifiers];
    if (notifiers.length === 0) return;
    const p = this.state(pipeline.name);
    for (const [id, { notification, sent }] of p.notifications) {
      for (const notifier of notifiers) {
        if (sent.has(notifier.name)) continue;
        let error: string | undefined;
        try {
          await notifier.notify(notification);
        } catch (e) {
          error = e instanceof Error ? e.message : String(e);
        }
        await this.ledger.write(
          entry('notification.sent', {
            pipeline: pipeline.name,
            id,
            notifier: notifier.name,
            ok: !error,
            ...(error ? { error } : {}),
          }),
        );
      }
    }
  }

  // ─── the API for people and tools ────────────────────────────────────────────────────

  private findRelease(pipeline: Pipeline, ref: string): ReleaseState {
    const p = this.state(pipeline.name);
    const byId = p.releases.get(ref) ?? p.releases.get(p.releaseByRevision.get(ref) ?? '');
    const byPrefix =
      byId ?? [...p.releases.values()].find((r) => ref.length >= 7 && r.revision.startsWith(ref));
    if (!byPrefix) {
      const known = [...p.releases.keys()].slice(-5).join(', ') || 'none yet';
      throw new RingmasterError(
        'NOT_FOUND',
        `pipeline ${pipeline.name} has no release "${ref}" (newest: ${known})`,
        {
          scope: 'engine',
        },
      );
    }
    return byPrefix;
  }

  /**
   * Records an approval of a release for a ring (checked by `manual()` policies).
   *
   * @example
   * ```ts
   * await engine.approve({ pipeline: 'foostat', ring: 'prod', release: '1.0.42', by: 'alice' });
   * ```
   */
  async approve(input: {
    pipeline: string;
    ring: string;
    release: string;
    by: string;
    comment?: string;
    via?: 'api' | 'cli';
  }): Promise<void> {
    await this.ensureLoaded();
    const pipeline = this.pipeline(input.pipeline);
    this.ringIndex(pipeline, input.ring);
    const release = this.findRelease(pipeline, input.release);
    if (!input.by.trim())
      throw new RingmasterError('CONFIG', 'an approval needs a name in "by"', { scope: 'engine' });
    await this.ledger.write(
      entry('approval.recorded', {
        pipeline: pipeline.name,
        ring: input.ring,
        revision: release.revision,
        by: input.by,
        via: input.via ?? 'api',
        ...(input.comment ? { comment: input.comment } : {}),
      }),
    );
  }

  /**
   * Rolls a release (default: the newest the previous ring verified) out to a ring now,
   * bypassing its policy but not its lock. Runs the ring's gates afterwards.
   */
  async promote(input: { pipeline: string; ring: string; release?: string } & ActionOptions): Promise<void> {
    await this.ensureLoaded();
    const pipeline = this.pipeline(input.pipeline);
    const index = this.ringIndex(pipeline, input.ring);
    const ring = pipeline.rings[index]!;
    this.assertUnlocked(pipeline, ring);
    const release = input.release
      ? this.findRelease(pipeline, input.release)
      : decideRing(pipeline, this.state(pipeline.name), index, this.clock.now()).newest?.release;
    if (!release) {
      throw new RingmasterError(
        'STATE',
        `nothing to promote to ${ring.name}: ${decideRing(pipeline, this.state(pipeline.name), index, this.clock.now()).idle}`,
        {
          scope: 'engine',
        },
      );
    }
    await this.deploy(
      pipeline,
      ring,
      release,
      'deploy',
      `promoted by ${input.by ?? 'api'}${input.reason ? `: ${input.reason}` : ''}`,
      true,
    );
  }

  /**
   * Rolls a ring back to the release it ran before (or `to`), and marks the release it ran as
   * rejected there, so automatic promotion never ships it again.
   */
  async rollback(input: { pipeline: string; ring: string; to?: string } & ActionOptions): Promise<void> {
    await this.ensureLoaded();
    const pipeline = this.pipeline(input.pipeline);
    const ring = pipeline.rings[this.ringIndex(pipeline, input.ring)]!;
    const p = this.state(pipeline.name);
    const current = ringState(p, ring.name).current;
    const to = input.to
      ? this.findRelease(pipeline, input.to)
      : current
        ? this.previousRelease(pipeline, ring, current)
        : undefined;
    if (!to) {
      throw new RingmasterError(
        'STATE',
        `${pipeline.name}/${ring.name} has no previous release to roll back to; name one with "to"`,
        {
          scope: 'engine',
        },
      );
    }
    const by = input.by ?? 'api';
    const reason = input.reason ?? `rolled back by ${by}`;
    await this.withRingLock(
      pipeline,
      ring,
      async () => {
        if (ringState(p, ring.name).inFlight) {
          throw new RingmasterError(
            'LOCKED',
            `${pipeline.name}/${ring.name} has a rollout in flight; let it finish first`,
            {
              scope: 'engine',
            },
          );
        }
        await this.ledger.write(
          ...(current && current !== to.id
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
          this.rolloutEntry(pipeline, ring, to, 'rollback', reason),
        );
        await this.resumeRollout(pipeline, ring);
      },
      true,
    );
  }

  /** Stops every deployment to a ring (automatic ones included) until `unlock`. */
  async lock(input: { pipeline: string; ring: string; reason: string; by?: string }): Promise<void> {
    await this.ensureLoaded();
    const pipeline = this.pipeline(input.pipeline);
    this.ringIndex(pipeline, input.ring);
    await this.ledger.write(
      entry('ring.locked', {
        pipeline: pipeline.name,
        ring: input.ring,
        reason: input.reason,
        by: input.by ?? 'api',
      }),
    );
  }

  async unlock(input: { pipeline: string; ring: string; by?: string }): Promise<void> {
    await this.ensureLoaded();
    const pipeline = this.pipeline(input.pipeline);
    this.ringIndex(pipeline, input.ring);
    await this.ledger.write(
      entry('ring.unlocked', { pipeline: pipeline.name, ring: input.ring, by: input.by ?? 'api' }),
    );
  }

  private assertUnlocked(pipeline: Pipeline, ring: Ring): void {
    const locked = ringState(this.state(pipeline.name), ring.name).locked;
    if (locked) {
      throw new RingmasterError(
        'LOCKED',
        `${pipeline.name}/${ring.name} is locked by ${locked.by}: ${locked.reason}; unlock it first`,
        {
          scope: 'engine',
        },
      );
    }
  }

  /** Why the newest release is or is not moving into a ring, from the ledger alone. */
  async explain(input: { pipeline: string; ring: string }): Promise<Explanation> {
    await this.ensureLoaded();
    const pipeline = this.pipeline(input.pipeline);
    return explainRing(
      pipeline,
      this.state(pipeline.name),
      this.ringIndex(pipeline, input.ring),
      this.clock.now(),
    );
  }

  /**
   * What every ring runs, per the ledger; with `live`, also what each host really runs (asked
   * through the targets), and where the two differ (drift).
   */
  async status(options: { live?: boolean } = {}): Promise<StatusReport> {
    await this.ensureLoaded();
    return statusReport(
      [...this.pipelines.values()],
      (name) => this.state(name),
      this.clock.now(),
      options.live ?? false,
    );
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
