/** Read-only views for people and tools: `explain` for one ring, `status` for everything. */
import type { PipelineState } from '../ledger/state.js';
import { ringState } from '../ledger/state.js';
import { formatDuration } from '../model/duration.js';
import type { Pipeline } from '../model/pipeline.js';
import type { Decision } from '../policy/types.js';
import {
  describeState,
  type HostState,
  observe,
  runs,
  sameState,
  shortReason,
} from '../rollout/host-state.js';
import { describeRollout } from '../rollout/strategy.js';
import { decideRing } from './decide.js';

export interface Explanation {
  pipeline: string;
  ring: string;
  /** What the ring runs now. */
  current?: { release: string; version: string };
  /** The newest release that could enter the ring, and what the policy says of it. */
  candidate?: { release: string; version: string; readyAt: string; decision: Decision };
  /** `promote`, `wait`, `blocked`, `locked`, `rolling-out` or `idle`. */
  state: 'promote' | 'wait' | 'blocked' | 'locked' | 'rolling-out' | 'verifying' | 'idle';
  /** One sentence a person reads. */
  summary: string;
  policy: string;
  rollout: string;
}

/** Explains ring `index` of a pipeline from the ledger state alone. */
export function explainRing(pipeline: Pipeline, p: PipelineState, index: number, now: Date): Explanation {
  const ring = pipeline.rings[index]!;
  const rs = ringState(p, ring.name);
  const currentRelease = rs.current ? p.releases.get(rs.current) : undefined;
  const base = {
    pipeline: pipeline.name,
    ring: ring.name,
    ...(currentRelease ? { current: { release: currentRelease.id, version: currentRelease.version } } : {}),
    policy: ring.policy.describe(),
    rollout: describeRollout(ring.rollout),
  };
  if (rs.inFlight) {
    const r = p.rollouts.get(rs.inFlight)!;
    const done = [...r.hosts.values()].filter((h) => h.finished).length;
    return {
      ...base,
      state: 'rolling-out',
      summary: r.parked
        ? `${r.kind} of ${r.release} to ${ring.name} is parked (${r.parked.reason}; ${done}/${r.batches.flat().length} hosts done); it resumes at the next start`
        : `${r.kind} of ${r.release} to ${ring.name} is under way (${done}/${r.batches.flat().length} hosts done)`,
    };
  }
  if (rs.locked) {
    return {
      ...base,
      state: 'locked',
      summary: `${ring.name} is locked by ${rs.locked.by} since ${rs.locked.at}: ${rs.locked.reason}`,
    };
  }
  if (currentRelease && p.releaseRings.get(currentRelease.id)?.get(ring.name)?.status === 'verifying') {
    return {
      ...base,
      state: 'verifying',
      summary: `${currentRelease.version} is deployed to ${ring.name}; its gates have not all passed yet`,
    };
  }
  const decision = decideRing(pipeline, p, index, now);
  const chosen = decision.promote ?? decision.newest;
  if (!chosen) return { ...base, state: 'idle', summary: decision.idle ?? 'nothing to do' };
  const { release, readyAt } = chosen;
  const d = chosen.decision;
  const when =
    d.verdict === 'wait' && d.until
      ? ` (until ${d.until}, in ${formatDuration(Date.parse(d.until) - now.getTime())})`
      : '';
  const verb = d.verdict === 'promote' ? 'is being promoted' : d.verdict === 'wait' ? 'waits' : 'is blocked';
  const skipped =
    decision.promote && decision.newest && decision.newest !== decision.promote
      ? `; newer ${decision.newest.release.version} ${decision.newest.decision.verdict}s: ${decision.newest.decision.reason}`
      : '';
  return {
    ...base,
    candidate: { release: release.id, version: release.version, readyAt: readyAt.toISOString(), decision: d },
    state: d.verdict,
    summary: `${release.version} ${verb} for ${ring.name}: ${d.reason}${when}${skipped}`,
  };
}

export interface HostStatus {
  name: string;
  /** What the ledger last recorded for the host; absent when no rollout has touched it. */
  recorded?: HostState;
  /** When `recorded` is unknown: the last reading before it. */
  lastKnown?: HostState;
  /** What the host reports now (with `live`). */
  live?: HostState;
  /** The host was read but does not run the ring's release (or not what the ledger says). */
  drift: boolean;
  /** The host could not be read (now with `live`, else when last tried): why. Not drift. */
  unreachable?: string;
}

export interface RingStatus {
  name: string;
  release?: string;
  version?: string;
  state: Explanation['state'];
  summary: string;
  hosts: HostStatus[];
}

export interface StatusReport {
  at: string;
  pipelines: { name: string; rings: RingStatus[] }[];
}

/** Builds the status of every ring; with `live`, asks each target what its hosts run. */
export async function statusReport(
  pipelines: Pipeline[],
  stateOf: (name: string) => PipelineState,
  now: Date,
  live: boolean,
): Promise<StatusReport> {
  const out: StatusReport = { at: now.toISOString(), pipelines: [] };
  for (const pipeline of pipelines) {
    const p = stateOf(pipeline.name);
    const rings: RingStatus[] = [];
    for (const [index, ring] of pipeline.rings.entries()) {
      const rs = ringState(p, ring.name);
      const current = rs.current ? p.releases.get(rs.current) : undefined;
      const explanation = explainRing(pipeline, p, index, now);
      const pkg = pipeline.packager.packageName;
      const expected = current?.version;
      const hosts = await Promise.all(
        ring.target.hosts.map(async (h): Promise<HostStatus> => {
          const entry = rs.hosts.get(h.name);
          const recorded = entry?.state;
          const known = {
            name: h.name,
            ...(recorded ? { recorded } : {}),
            ...(entry?.lastKnown ? { lastKnown: entry.lastKnown.state } : {}),
          };
          const seen = live ? await observe(ring.target, h.name, pkg) : recorded;
          if (seen?.status === 'unknown') {
            return {
              ...known,
              ...(live ? { live: seen } : {}),
              drift: false,
              unreachable: shortReason(seen.reason),
            };
          }
          // The ledger's own word disagreeing with the host is drift too (unless it said unknown).
          const disagrees = live && recorded && recorded.status !== 'unknown' && !sameState(recorded, seen!);
          return {
            ...known,
            ...(live ? { live: seen } : {}),
            drift: !matches(seen, expected) || Boolean(disagrees),
          };
        }),
      );
      rings.push({
        name: ring.name,
        ...(current ? { release: current.id, version: current.version } : {}),
        state: explanation.state,
        summary: explanation.summary,
        hosts,
      });
    }
    out.pipelines.push({ name: pipeline.name, rings });
  }
  return out;
}

/** True when `state` is what a ring running `expected` (or nothing) should see. */
function matches(state: HostState | undefined, expected: string | undefined): boolean {
  if (expected === undefined) return state === undefined || state.status === 'absent';
  return runs(state, expected);
}

/**
 * Renders a status report as a plain table (ring, release, hosts, state), then one line per host
 * that drifted or could not be read, saying what it has or why it could not be asked.
 */
export function formatStatus(report: StatusReport): string {
  const rows: string[][] = [['PIPELINE', 'RING', 'RELEASE', 'HOSTS', 'STATE']];
  const notes: string[] = [];
  for (const p of report.pipelines) {
    for (const r of p.rings) {
      const onIt = r.hosts.filter((h) => !h.drift && !h.unreachable && r.version).length;
      const drift = r.hosts.filter((h) => h.drift).map((h) => h.name);
      const unreachable = r.hosts.filter((h) => h.unreachable).map((h) => h.name);
      const trouble = [
        ...(drift.length ? [`drift: ${drift.join(', ')}`] : []),
        ...(unreachable.length ? [`unreachable: ${unreachable.join(', ')}`] : []),
      ];
      rows.push([
        p.name,
        r.name,
        r.version ?? '-',
        `${onIt}/${r.hosts.length}${trouble.length ? ` (${trouble.join('; ')})` : ''}`,
        r.state,
      ]);
      for (const h of r.hosts) {
        if (h.unreachable) {
          const last = h.lastKnown ?? (h.recorded?.status !== 'unknown' ? h.recorded : undefined);
          notes.push(
            `  ${p.name}/${r.name} ${h.name}: unreachable (${h.unreachable})${last ? `; last seen with ${describeState(last)}` : ''}`,
          );
        } else if (h.drift) {
          const has = h.live ?? h.recorded;
          notes.push(
            `  ${p.name}/${r.name} ${h.name}: has ${has ? describeState(has) : 'nothing recorded'}, ring runs ${r.version ?? 'nothing'}`,
          );
        }
      }
    }
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const table = rows.map((row) =>
    row
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd(),
  );
  return [...table, ...notes].join('\n');
}
