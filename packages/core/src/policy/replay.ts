/**
 * Policy replay: "when would this policy have promoted each past release?" For every release
 * the ledger saw become ready for a ring (as the engine decides it: verified by the feeding
 * ring, built for the first, or built from the ring's own line), time is simulated forward on a manual clock from that moment, jumping from event to
 * event (each recorded approval) and to each decision's `until`, a bounded number of steps,
 * until the policy promotes, or the history ends, or nothing recorded could change its mind.
 */
import { approvalsFor, readyAt } from '../engine/eligibility.js';
import { RingmasterError } from '../errors.js';
import type { LedgerState } from '../ledger/state.js';
import { pipelineState } from '../ledger/state.js';
import { manualClock } from '../model/clock.js';
import type { Pipeline } from '../model/pipeline.js';
import type { Decision, Policy, PolicyApproval } from './types.js';

/** Where the history comes from: an engine (or anything with its ledger, pipelines and clock). */
export interface ReplayHistory {
  readonly ledger: { readonly state: LedgerState };
  readonly pipelines: ReadonlyMap<string, Pipeline>;
  readonly clock: { now(): Date };
}

export interface ReplayInput {
  /** The policy to try (it need not be the one in the config). */
  policy: Policy;
  /** The engine whose ledger holds the history. */
  history: ReplayHistory;
  pipeline: string;
  ring: string;
  /** Only releases ready at or after this time. */
  from?: Date | string;
  /** The end of the history: the simulation stops here. @default the engine's clock now */
  to?: Date | string;
}

/** One release under the replayed policy. */
export interface ReplayResult {
  release: string;
  version: string;
  /** When it became ready for the ring (ISO). */
  readyAt: string;
  /** When the policy would have promoted it (ISO), or null when it would not have by `to`. */
  promoteAt: string | null;
  /** The policy's last reason: why it promotes, or why it still would not. */
  reason: string;
  /** When the engine really started rolling it out to the ring, if it did. */
  actualAt?: string;
}

/** Simulation steps per release: far more than any policy needs, so a bug cannot spin forever. */
const MAX_STEPS = 10_000;

/**
 * Replays `policy` over the recorded history of `pipeline`'s `ring`, oldest release first.
 *
 * @example
 * ```ts
 * const results = replayPolicy({ policy: soak('24h'), history: engine, pipeline: 'app', ring: 'prod' });
 * for (const r of results) console.log(r.version, r.readyAt, '→', r.promoteAt ?? `never: ${r.reason}`);
 * ```
 */
export function replayPolicy(input: ReplayInput): ReplayResult[] {
  const pipeline = input.history.pipelines.get(input.pipeline);
  if (!pipeline) {
    throw new RingmasterError(
      'NOT_FOUND',
      `no pipeline "${input.pipeline}"; known: ${[...input.history.pipelines.keys()].join(', ')}`,
      { scope: 'policy' },
    );
  }
  const index = pipeline.rings.findIndex((r) => r.name === input.ring);
  if (index === -1) {
    throw new RingmasterError(
      'NOT_FOUND',
      `pipeline ${input.pipeline} has no ring "${input.ring}"; its rings are ${pipeline.rings.map((r) => r.name).join(', ')}`,
      { scope: 'policy' },
    );
  }
  const p = pipelineState(input.history.ledger.state, input.pipeline);
  const from = input.from === undefined ? -Infinity : new Date(input.from).getTime();
  const to = new Date(input.to ?? input.history.clock.now()).getTime();
  const clock = manualClock(0);
  const out: ReplayResult[] = [];
  for (const release of [...p.releases.values()].sort((a, b) => a.index - b.index)) {
    // Ready as the engine sees it: from the ring's own line, or verified by the feeding ring.
    const ready = readyAt(pipeline, p, index, release);
    if (!ready) continue;
    const readyMs = ready.getTime();
    if (readyMs < from || readyMs > to) continue;
    const approvals: PolicyApproval[] = approvalsFor(p, input.ring, release.revision).sort(
      (a, b) => Date.parse(a.at) - Date.parse(b.at),
    );
    const rolloutId = p.releaseRings.get(release.id)?.get(input.ring)?.rollout;
    const actual = rolloutId ? p.rollouts.get(rolloutId)?.startedAt : undefined;
    clock.set(new Date(readyMs));
    let decision: Decision = { verdict: 'wait', reason: 'not evaluated' };
    let promoteAt: string | null = null;
    for (let step = 0; step < MAX_STEPS; step++) {
      const now = clock.now();
      const t = now.getTime();
      decision = input.policy.evaluate({
        now,
        pipeline: input.pipeline,
        ring: input.ring,
        release: {
          id: release.id,
          version: release.version,
          revision: release.revision,
          author: release.author,
        },
        readyAt: ready,
        approvals: approvals.filter((a) => Date.parse(a.at) <= t),
      });
      if (decision.verdict === 'promote') {
        promoteAt = now.toISOString();
        break;
      }
      // The next moment anything could change: a recorded approval, or the policy's own `until`.
      const nextApproval = approvals.map((a) => Date.parse(a.at)).find((at) => at > t);
      const until = decision.verdict === 'wait' && decision.until ? Date.parse(decision.until) : undefined;
      const next = Math.min(nextApproval ?? Infinity, until !== undefined && until > t ? until : Infinity);
      if (next === Infinity) break;
      if (next > to) {
        decision = { ...decision, reason: `${decision.reason} (history ends ${new Date(to).toISOString()})` };
        break;
      }
      clock.set(new Date(next));
    }
    out.push({
      release: release.id,
      version: release.version,
      readyAt: ready.toISOString(),
      promoteAt,
      reason: decision.reason,
      ...(actual ? { actualAt: actual } : {}),
    });
  }
  return out;
}
