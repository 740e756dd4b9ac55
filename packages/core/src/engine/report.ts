/** Read-only views for people and tools: `explain` for one ring, `status` for everything. */
import type { HostInfo } from '../contracts/target.js';
import type { PipelineState } from '../ledger/state.js';
import { ringState } from '../ledger/state.js';
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
import type { Project } from './relations.js';
import {
  type RingAction,
  type RingActionKind,
  type RingFailure,
  type RingNeeds,
  type RolloutPosition,
  ringAction,
} from './ring-action.js';

export interface Explanation {
  pipeline: string;
  ring: string;
  /** What the ring runs now. */
  current?: { release: string; version: string };
  /** What the ring does next: the ring state machine's answer. */
  action: RingActionKind;
  /**
   * The release the ring would take, what its policy says of it (promote, wait, blocked), and —
   * when its package relations keep it out — what it needs or breaks in the ring.
   */
  candidate?: { release: string; version: string; readyAt: string; decision: Decision; needs?: RingNeeds };
  /** The newest failure that still matters in the ring, with its reason. */
  lastFailure?: RingFailure;
  /** A rollout with steps in flight: the step it is at, and what it waits for. */
  step?: RolloutPosition;
  /** One sentence a person reads. */
  summary: string;
  policy: string;
  rollout: string;
}

/** A ring's action as an explanation (the same answer `plan` and `status` give). */
export function explanationOf(pipeline: Pipeline, action: RingAction): Explanation {
  const ring = pipeline.rings.find((r) => r.name === action.ring)!;
  const candidate =
    action.action === 'promote' || action.action === 'wait' || action.action === 'blocked'
      ? {
          release: action.release,
          version: action.version,
          readyAt: action.readyAt,
          decision: action.decision,
          ...(action.needs ? { needs: action.needs } : {}),
        }
      : undefined;
  return {
    pipeline: pipeline.name,
    ring: action.ring,
    ...(action.current ? { current: action.current } : {}),
    action: action.action,
    ...(candidate ? { candidate } : {}),
    ...(action.lastFailure ? { lastFailure: action.lastFailure } : {}),
    ...(action.action === 'resume' && action.step ? { step: action.step } : {}),
    summary: action.reason,
    policy: ring.policy.describe(),
    rollout: describeRollout(ring.rollout),
  };
}

/** Explains ring `index` of a pipeline from the ledger state alone. */
export function explainRing(
  pipeline: Pipeline,
  p: PipelineState,
  index: number,
  now: Date,
  project: Project,
): Explanation {
  return explanationOf(pipeline, ringAction(pipeline, p, index, now, project));
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
  /** Out of rotation, by whom and why: not read, and neither drift nor a failure. */
  disabled?: { reason: string; by: string; at: string };
}

export interface RingStatus {
  name: string;
  release?: string;
  version?: string;
  /** What the ring does next (the ring state machine's answer). */
  action: RingActionKind;
  summary: string;
  /** The newest failure that still matters in the ring, with its reason. */
  lastFailure?: RingFailure;
  /** A rollout with steps in flight: the step it is at, and what it waits for. */
  step?: RolloutPosition;
  /**
   * Who runs the ring's rollout or gates now (the holder of its lease), when one is under way:
   * `runner-2 (pid 4242 on build-1, since …)`. With many runners, which one is at it.
   */
  holder?: string;
  hosts: HostStatus[];
}

export interface StatusReport {
  at: string;
  pipelines: { name: string; rings: RingStatus[] }[];
}

/** Builds the status of every ring; with `live`, asks each target what its hosts run. */
export async function statusReport(
  pipelines: Pipeline[],
  /** Every pipeline of the engine and the ledger's view of each (relations span pipelines). */
  project: Project,
  now: Date,
  live: boolean,
  /** Who holds a ring's lease, asked only for rings with work under way. */
  holderOf: (pipeline: string, ring: string) => Promise<string | undefined> = async () => undefined,
  /** Which rings and hosts to show (and ask, with `live`): all when absent. */
  only: {
    ring?: (pipeline: string, ring: string) => boolean;
    host?: (pipeline: string, ring: string, host: string) => boolean;
  } = {},
): Promise<StatusReport> {
  const out: StatusReport = { at: now.toISOString(), pipelines: [] };
  for (const pipeline of pipelines) {
    const p = project.state(pipeline.name);
    const rings: RingStatus[] = [];
    for (const [index, ring] of pipeline.rings.entries()) {
      if (only.ring && !only.ring(pipeline.name, ring.name)) continue;
      const rs = ringState(p, ring.name);
      const current = rs.current ? p.releases.get(rs.current) : undefined;
      const explanation = explainRing(pipeline, p, index, now, project);
      const pkg = pipeline.packager.packageName;
      const expected = current?.version;
      // A host the rollout in flight updated runs what it should: it is not drift.
      const rolling = rs.inFlight ? p.rollouts.get(rs.inFlight) : undefined;
      const rollingVersion = rolling ? p.releases.get(rolling.release)?.version : undefined;
      const updated = (host: string, state: HostState | undefined) =>
        rolling !== undefined &&
        rolling.hosts.get(host)?.finished?.ok === true &&
        runs(state, rollingVersion);
      const shown = only.host
        ? ring.target.hosts.filter((h) => only.host!(pipeline.name, ring.name, h.name))
        : ring.target.hosts;
      /** A host's line, from what it was seen to run (asked now with `live`, else as recorded). */
      const statusOf = (h: HostInfo, seen: HostState | undefined): HostStatus => {
        const entry = rs.hosts.get(h.name);
        const recorded = entry?.state;
        // Built field by field (in the order the report has always had): this runs for every host.
        const status = { name: h.name } as HostStatus;
        if (recorded) status.recorded = recorded;
        if (entry?.lastKnown) status.lastKnown = entry.lastKnown.state;
        // Out of rotation: not asked (it may well be down), and neither drift nor a failure.
        const off = rs.disabled.get(h.name);
        if (off) {
          status.drift = false;
          status.disabled = off;
          return status;
        }
        if (live) status.live = seen;
        if (seen?.status === 'unknown') {
          status.drift = false;
          status.unreachable = shortReason(seen.reason);
          return status;
        }
        // The ledger's own word disagreeing with the host is drift too (unless it said unknown).
        const disagrees = live && recorded && recorded.status !== 'unknown' && !sameState(recorded, seen!);
        status.drift = (!matches(seen, expected) && !updated(h.name, seen)) || Boolean(disagrees);
        return status;
      };
      // Without `live` nothing is asked: no promise per host.
      const hosts = live
        ? await Promise.all(
            shown.map(async (h) =>
              statusOf(h, rs.disabled.has(h.name) ? undefined : await observe(ring.target, h.name, pkg)),
            ),
          )
        : shown.map((h) => statusOf(h, rs.hosts.get(h.name)?.state));
      const busy = explanation.action === 'resume' || explanation.action === 'verifying';
      const holder = busy ? await holderOf(pipeline.name, ring.name) : undefined;
      rings.push({
        name: ring.name,
        ...(current ? { release: current.id, version: current.version } : {}),
        action: explanation.action,
        summary: explanation.summary,
        ...(explanation.lastFailure ? { lastFailure: explanation.lastFailure } : {}),
        ...(explanation.step ? { step: explanation.step } : {}),
        ...(holder ? { holder } : {}),
        hosts,
      });
    }
    out.pipelines.push({ name: pipeline.name, rings });
  }
  return out;
}

/** `2026-12-01 12:04Z`: a moment as the status table shows it. */
function shortTime(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)}Z`;
}

/** True when `state` is what a ring running `expected` (or nothing) should see. */
function matches(state: HostState | undefined, expected: string | undefined): boolean {
  if (expected === undefined) return state === undefined || state.status === 'absent';
  return runs(state, expected);
}

/**
 * Renders a status report as a plain table (ring, release, hosts, what the ring does next), then
 * one line per ring with a failure that still matters (what failed and why), and per host that
 * drifted or could not be read (what it has, or why it could not be asked).
 */
export function formatStatus(report: StatusReport): string {
  const rows: string[][] = [['PIPELINE', 'RING', 'RELEASE', 'HOSTS', 'STATE']];
  const notes: string[] = [];
  for (const p of report.pipelines) {
    for (const r of p.rings) {
      const inRotation = r.hosts.filter((h) => !h.disabled);
      const onIt = inRotation.filter((h) => !h.drift && !h.unreachable && r.version).length;
      const drift = r.hosts.filter((h) => h.drift).map((h) => h.name);
      const unreachable = r.hosts.filter((h) => h.unreachable).map((h) => h.name);
      const disabled = r.hosts.filter((h) => h.disabled).map((h) => h.name);
      const trouble = [
        ...(drift.length ? [`drift: ${drift.join(', ')}`] : []),
        ...(unreachable.length ? [`unreachable: ${unreachable.join(', ')}`] : []),
        ...(disabled.length ? [`disabled: ${disabled.join(', ')}`] : []),
      ];
      rows.push([
        p.name,
        r.name,
        r.version ?? '-',
        `${onIt}/${inRotation.length}${trouble.length ? ` (${trouble.join('; ')})` : ''}`,
        r.step ? `${r.step.waiting ? 'paused' : r.action} ${r.step.step}/${r.step.total}` : r.action,
      ]);
      if (r.step?.waiting)
        notes.push(
          `  ${p.name}/${r.name}: paused at step ${r.step.step} of ${r.step.total} (${r.step.what}): ${
            r.step.waiting.for === 'person'
              ? `waits for a person: ringmaster resume ${p.name} ${r.name}`
              : `until ${r.step.waiting.until}`
          }`,
        );
      if (r.holder)
        notes.push(
          `  ${p.name}/${r.name}: ${r.action === 'verifying' ? 'gates' : 'rollout'} under way by ${r.holder}`,
        );
      if (r.lastFailure) {
        const f = r.lastFailure;
        notes.push(`  ${p.name}/${r.name}: ${f.version} ${f.status} ${shortTime(f.at)}: ${f.reason}`);
      }
      for (const h of r.hosts) {
        if (h.disabled) {
          notes.push(
            `  ${p.name}/${r.name} ${h.name}: disabled by ${h.disabled.by} ${shortTime(h.disabled.at)}: ${h.disabled.reason}${h.recorded ? `; last recorded with ${describeState(h.recorded)}` : ''}`,
          );
        } else if (h.unreachable) {
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
