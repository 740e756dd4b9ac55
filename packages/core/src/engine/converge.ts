/**
 * Converge: bring drifted hosts back to their ring's release. Every host is asked what it
 * really runs (as `status({ live: true })` does); the hosts that do not run the ring's current
 * release — and those that could not be read, which are tried again — get it through a rollout
 * of kind `converge`, recorded in the ledger like any other, under the ring's lock and with the
 * ring's strategy, on those hosts only.
 */
import type { RolloutOutcome } from '../ledger/records.js';
import { ringState } from '../ledger/state.js';
import type { Pipeline, Ring } from '../model/pipeline.js';
import { describeState, type HostState, observe, runs } from '../rollout/host-state.js';
import { enabledHosts, rolloutHosts } from './hosts.js';
import { ringAction } from './ring-action.js';
import type { RingRunner } from './rings.js';
import type { Runtime } from './runtime.js';

/** A host found not running its ring's release, or that could not be read. */
export interface DriftedHost {
  host: string;
  /** What the host reported, or `unknown` with why it could not be read. */
  live: HostState;
}

/** What converge found and did in one ring. */
export interface ConvergeRingResult {
  pipeline: string;
  ring: string;
  /** The ring's current release, when it has one. */
  release?: string;
  version?: string;
  drifted: DriftedHost[];
  /** The converge rollout, when one ran. */
  rollout?: string;
  /** `succeeded`, `halted`, … for a rollout that ran; `skipped` when the ring could not be touched. */
  outcome?: RolloutOutcome | 'skipped';
  /** True when every host of the ring runs its release afterwards (or already did). */
  converged: boolean;
  /** One sentence a person reads. */
  reason: string;
}

/** The result of `engine.converge()`. */
export interface ConvergeReport {
  at: string;
  rings: ConvergeRingResult[];
  /** True when no ring is left with drift. */
  ok: boolean;
}

/** What each of `hosts` runs, asked of the host. */
async function readLive(ring: Ring, hosts: readonly string[], pkg: string): Promise<DriftedHost[]> {
  return Promise.all(hosts.map(async (host) => ({ host, live: await observe(ring.target, host, pkg) })));
}

/**
 * Converges one ring: reads every host in rotation (or the ones in `limit`), and reinstalls the
 * ring's release on the drifted ones. A disabled host is never read or touched.
 */
export async function convergeRing(
  rt: Runtime,
  runner: RingRunner,
  pipeline: Pipeline,
  ring: Ring,
  by: string,
  limit?: readonly string[],
): Promise<ConvergeRingResult> {
  const base = { pipeline: pipeline.name, ring: ring.name };
  const p = rt.state(pipeline.name);
  const rs = ringState(p, ring.name);
  const current = rs.current ? p.releases.get(rs.current) : undefined;
  if (!current) {
    return {
      ...base,
      drifted: [],
      converged: true,
      reason: `${ring.name} runs no release yet: nothing to converge to`,
    };
  }
  const where = { ...base, release: current.id, version: current.version };
  const hosts = limit ? rolloutHosts(ring, rs, limit) : enabledHosts(ring, rs);
  const live = await readLive(ring, hosts, pipeline.packager.packageName);
  const drifted: DriftedHost[] = live.filter((h) => !runs(h.live, current.version));
  if (drifted.length === 0) {
    return {
      ...where,
      drifted,
      converged: true,
      reason: limit
        ? `${limit.join(', ')} ${limit.length === 1 ? 'runs' : 'run'} ${current.version}`
        : `every host of ${ring.name}${rs.disabled.size ? ' in rotation' : ''} runs ${current.version}`,
    };
  }
  const list = drifted.map((d) => `${d.host} (${describeState(d.live)})`);
  // The ring's own state machine says whether it may be touched now.
  const action = ringAction(pipeline, p, pipeline.rings.indexOf(ring), rt.clock.now(), rt);
  if (action.action === 'locked' || action.action === 'resume') {
    return {
      ...where,
      drifted,
      converged: false,
      outcome: 'skipped',
      reason:
        action.action === 'locked'
          ? `${action.reason}; unlock it to converge ${list.join(', ')}`
          : `${action.reason}; converge again when it ends`,
    };
  }
  let rollout: string | undefined;
  let skipped: string | undefined;
  await runner.withRingLock(pipeline, ring, async (session) => {
    const [started] = await session.decide(() => {
      // Another process may have moved the ring while we read the hosts.
      const now = ringState(rt.state(pipeline.name), ring.name);
      if (now.inFlight || now.locked || now.current !== current.id) {
        skipped = `${ring.name} changed while its hosts were read; converge again`;
        return [];
      }
      const reason = `converge by ${by}: ${list.join(', ')} did not run ${current.version} or could not be read`;
      return [
        runner.rolloutEntry(
          pipeline,
          ring,
          current,
          'converge',
          reason,
          drifted.map((d) => d.host),
        ),
      ];
    });
    if (started?.type !== 'rollout.started') return;
    rollout = started.data.rollout;
    await runner.resumeRollout(session);
  });
  if (!rollout) {
    return {
      ...where,
      drifted,
      converged: false,
      outcome: 'skipped',
      reason:
        skipped ?? `a rollout of ${pipeline.name}/${ring.name} holds its lock; converge again when it ends`,
    };
  }
  const done = rt.state(pipeline.name).rollouts.get(rollout);
  return {
    ...where,
    drifted,
    rollout,
    // Every host must have succeeded: one still unreadable is not converged, whatever the budget allowed.
    converged:
      done?.outcome === 'succeeded' && [...done.hosts.values()].every((h) => h.finished?.ok === true),
    outcome: done?.outcome ?? 'interrupted',
    reason: done?.outcomeReason ?? 'stopped before it finished; it resumes at the next start',
  };
}

/** Converges every ring (or the one named) of the given pipelines, in ring order. */
export async function convergePipelines(
  rt: Runtime,
  runner: RingRunner,
  pipelines: readonly Pipeline[],
  ringName: string | undefined,
  by: string,
  /** With `ringName`: only these hosts of it. */
  limit?: readonly string[],
): Promise<ConvergeReport> {
  const rings: ConvergeRingResult[] = [];
  for (const pipeline of pipelines) {
    for (const ring of pipeline.rings) {
      if (ringName !== undefined && ring.name !== ringName) continue;
      if (rt.signal.aborted) break;
      rings.push(
        await convergeRing(rt, runner, pipeline, ring, by, ringName !== undefined ? limit : undefined),
      );
    }
  }
  return { at: rt.clock.now().toISOString(), rings, ok: rings.every((r) => r.converged) };
}
