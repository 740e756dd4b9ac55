import { RingmasterError } from '../errors.js';
import { entry } from '../ledger/ledger.js';
import type { RolloutKind } from '../ledger/records.js';
import type { ReleaseState } from '../ledger/state.js';
import { ringState } from '../ledger/state.js';
import type { Gate } from '../model/gate.js';
import type { Pipeline, Ring } from '../model/pipeline.js';
import { executeRollout, type RolloutResult } from '../rollout/execute.js';
import { planBatches } from '../rollout/strategy.js';
import { describeHolder } from '../store/lockfile.js';
import { decideRing } from './decide.js';
import { notice } from './notify.js';
import { LEASE_MS, type Runtime } from './runtime.js';

export class RingRunner {
  constructor(private readonly rt: Runtime) {}

  async reconcileRing(pipeline: Pipeline, index: number): Promise<void> {
    const ring = pipeline.rings[index]!;
    const p = this.rt.state(pipeline.name);
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
    const decision = decideRing(pipeline, p, index, this.rt.clock.now());
    if (decision.newest) {
      this.rt.emit('decision', {
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

  /**
   * Runs `work` holding the ring's rollout lock, renewed in the background for as long as the
   * work takes (a slow gate included); skips quietly when another process holds it, unless the
   * lock is `required`.
   */
  async withRingLock(
    pipeline: Pipeline,
    ring: Ring,
    work: () => Promise<void>,
    required = false,
  ): Promise<void> {
    const name = `rollout:${pipeline.name}:${ring.name}`;
    let lease = await this.rt.ledger.store.acquire(name, { owner: this.rt.owner, ttlMs: LEASE_MS });
    if (!lease) {
      if (!required) return;
      const holder = await this.rt.ledger.store.inspect(name);
      throw new RingmasterError(
        'LOCKED',
        `a rollout of ${pipeline.name}/${ring.name} is under way: ${holder ? describeHolder(holder) : 'another process'}; try again when it ends`,
        { scope: 'engine', details: { holder } },
      );
    }
    let renewing: Promise<void> = Promise.resolve();
    const renewal = setInterval(() => {
      renewing = renewing.then(async () => {
        if (lease) lease = await this.rt.ledger.store.renew(lease, LEASE_MS);
      });
      renewing.catch((error: unknown) =>
        this.rt.emit('error', { pipeline: pipeline.name, operation: `lock ${name}`, error: error as Error }),
      );
    }, LEASE_MS / 3);
    renewal.unref();
    try {
      await this.rt.ledger.refresh(); // another process may have moved the ring while we waited
      await work();
    } finally {
      clearInterval(renewal);
      await renewing.catch(() => {});
      await this.rt.ledger.store.release(lease);
    }
  }

  async deploy(
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
      async () => {
        const rs = ringState(this.rt.state(pipeline.name), ring.name);
        if (rs.inFlight) {
          await this.resumeRollout(pipeline, ring);
          return;
        }
        await this.rt.ledger.write(this.rolloutEntry(pipeline, ring, release, kind, reason));
        await this.resumeRollout(pipeline, ring);
      },
      required,
    );
  }

  /**
   * Drives the in-flight rollout of the ring to its end (fresh or after a crash), then its gates.
   * The caller holds the ring lock.
   */
  async resumeRollout(pipeline: Pipeline, ring: Ring): Promise<void> {
    const p = this.rt.state(pipeline.name);
    const rs = ringState(p, ring.name);
    const rollout = rs.inFlight ? p.rollouts.get(rs.inFlight) : undefined;
    if (!rollout) return;
    const release = p.releases.get(rollout.release)!;
    const base = { pipeline: pipeline.name, rollout: rollout.id };
    const result: RolloutResult = await executeRollout({
      spec: rollout.strategy,
      batches: rollout.batches,
      target: ring.target,
      artifact: release.artifact,
      prior: { hosts: rollout.hosts, rollbacks: rollout.rollbacks },
      resolve: async (version) =>
        p.releases.get(version)?.artifact ?? (await pipeline.repository.find(release.artifact.name, version)),
      signal: this.rt.signal,
      recorder: {
        hostStarted: async (host, from, phase) => {
          await this.rt.ledger.write(entry('host.started', { ...base, host, from, phase }));
        },
        hostFinished: async (host, outcome, phase) => {
          await this.rt.ledger.write(
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
      },
    });
    if (result.outcome === 'interrupted') {
      // Stays in flight, and says so: the next start resumes it from the ledger.
      await this.rt.ledger.write(entry('rollout.parked', { ...base, reason: result.reason }));
      return;
    }
    const ok = result.outcome === 'succeeded';
    await this.rt.ledger.write(
      entry('rollout.finished', { ...base, outcome: result.outcome, reason: result.reason }),
      notice(pipeline, {
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

  async runGates(pipeline: Pipeline, ring: Ring, release: ReleaseState): Promise<void> {
    const p = this.rt.state(pipeline.name);
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
      await this.rt.ledger.write(
        entry('ring.verified', { pipeline: pipeline.name, ring: ring.name, release: release.id }),
        notice(pipeline, {
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
    await this.rt.ledger.write(
      entry('ring.failed', { pipeline: pipeline.name, ring: ring.name, release: release.id, reason }),
      notice(pipeline, {
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

  async runGate(
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
      signal: this.rt.signal,
      log: () => {},
    });
    await this.rt.ledger.write(
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
  previousRelease(pipeline: Pipeline, ring: Ring, current: string): ReleaseState | undefined {
    const p = this.rt.state(pipeline.name);
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
  rolloutEntry(pipeline: Pipeline, ring: Ring, release: ReleaseState, kind: RolloutKind, reason: string) {
    const rs = ringState(this.rt.state(pipeline.name), ring.name);
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
}
