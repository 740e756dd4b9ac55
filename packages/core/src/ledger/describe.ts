/**
 * Every ledger record as a person reads it: who did what, to which release and ring, and — for
 * what failed — why, with the tail of the command's output on the lines under it. `history`
 * shows the first line of each; the progress of a running command shows them all; the web page
 * shows them in its history.
 */
import { describeState, shortReason } from '../rollout/host-state.js';
import type { StepRef, TypedRecord } from './records.js';

/** Lines of detail under a failure at most (the end of the output, where errors are). */
const TAIL = 8;

const short = (id: string) => id.slice(0, 10);
const first = (text: string) => (text.replace(/^(\[[^\]]+\] )+/, '').split('\n')[0] ?? '').trim();

/** The last `TAIL` non-empty lines of `text` except its first, indented under a failure. */
function tailOf(text: string | undefined, skipFirst = true): string[] {
  if (!text) return [];
  const lines = text
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l.trim() !== '');
  return (skipFirst ? lines.slice(1) : lines).slice(-TAIL).map((l) => `      │ ${l}`);
}

/** The record's line, then (for a failure) the lines that say why. */
export function describeRecord(r: TypedRecord): string[] {
  const pipeline = (r.data as { pipeline?: string }).pipeline;
  const p = `[${pipeline ?? '-'}]`;
  switch (r.type) {
    case 'revision.seen': {
      const { revision, feed, known } = r.data;
      if (known)
        return [
          `${p} ${feed ? `${feed}'s line` : 'the mainline'} is at ${short(revision.id)}, a commit already seen: only its cursor moves`,
        ];
      return [
        `${p} commit ${short(revision.id)} by ${revision.author}${feed ? ` on ${feed}'s line` : ''}: ${first(revision.message)}`,
      ];
    }
    case 'source.reset':
      return [
        `${p} history was rewritten${r.data.feed ? ` on ${r.data.feed}'s line` : ''}: the cursor moves from ${short(r.data.from)} to ${short(r.data.to)} (${first(r.data.reason)})`,
      ];
    case 'build.started':
      return [
        `${p} build ${short(r.data.revision)} started${r.data.attempt && r.data.attempt > 1 ? ` (attempt ${r.data.attempt})` : ''}`,
      ];
    case 'build.retried':
      return [`${p} ${r.data.by} asked for ${short(r.data.revision)} to be built again`];
    case 'build.finished':
      return r.data.ok
        ? [`${p} build ${short(r.data.revision)} passed`]
        : [
            `${p} build ${short(r.data.revision)} FAILED: ${first(r.data.error ?? 'see its log')}`,
            ...tailOf(r.data.log, false),
          ];
    case 'release.created':
      return [`${p} release ${r.data.version} from ${short(r.data.revision)} by ${r.data.author}`];
    case 'rollout.started':
      return [
        `${p} ${r.data.kind} ${r.data.release} → ${r.data.ring}${r.data.limit ? ` on ${r.data.limit.join(', ')} only` : ''} (${r.data.reason})`,
      ];
    case 'host.started':
      return [
        `${p}   ${r.data.host}: ${r.data.phase === 'rollback' ? 'rolling back' : 'starting'}, has ${describeState(r.data.from)}`,
      ];
    case 'host.finished': {
      const d = r.data;
      const verb = d.phase === 'rollback' ? 'rolled back to' : 'runs';
      // A host that could not be read says so, not "runs unknown"; and says why, when the
      // error (an install that failed) is about something else.
      const unknown = d.state.status === 'unknown' ? d.state : undefined;
      const what = unknown ? '' : ` ${verb} ${describeState(d.state)}`;
      const now =
        unknown && !(d.error ?? '').includes(shortReason(unknown.reason))
          ? `; now ${describeState(unknown)}`
          : '';
      const line = `${p}   ${d.ok ? '✔' : '✘'} ${d.host}${what}${d.error ? `: ${first(d.error)}` : ''}${now}`;
      return d.ok ? [line] : [line, ...tailOf(d.error)];
    }
    case 'batch.started':
      return [`${p} ${r.data.rollout} batch ${r.data.batch + 1} open to every runner`];
    case 'rollout.parked':
      return [`${p} ${r.data.rollout} parked (${r.data.reason}); it resumes at the next pass`];
    case 'rollout.paused':
      return [
        `${p} ${r.data.rollout} paused at step ${r.data.step}: ${r.data.until ? `until ${r.data.until}` : `until a person resumes it (ringmaster resume ${pipeline ?? ''} ${r.data.rollout.split('#')[0]})`}`,
      ];
    case 'rollout.aborted':
      return [`${p} ${r.data.by} aborted ${r.data.rollout}: ${first(r.data.reason)}`];
    case 'rollout.resumed':
      return [
        `${p} ${r.data.rollout} step ${r.data.step} resumed by ${r.data.by}${r.data.reason ? `: ${first(r.data.reason)}` : ''}`,
      ];
    case 'rollout.finished':
      return [
        `${p} ${r.data.rollout} ${r.data.outcome === 'succeeded' ? 'succeeded' : r.data.outcome.toUpperCase()}: ${r.data.reason}`,
      ];
    case 'gate.finished': {
      const d = r.data;
      const line = `${p}   gate ${d.gate} on ${d.ring}${d.step !== undefined ? ` (${d.rollout} step ${d.step})` : ''}: ${d.ok ? 'passed' : 'FAILED'} (${(d.durationMs / 1000).toFixed(1)}s)`;
      return d.ok ? [line] : [line, ...tailOf(d.log, false)];
    }
    case 'ring.verified':
      return [`${p} ${r.data.release} verified in ${r.data.ring}`];
    case 'ring.failed':
      return [`${p} ${r.data.release} FAILED in ${r.data.ring}: ${r.data.reason}`];
    case 'ring.rejected':
      return [`${p} ${r.data.release} rejected in ${r.data.ring} by ${r.data.by}: ${r.data.reason}`];
    case 'ring.unrejected':
      return [
        `${p} ${r.data.by} allowed ${r.data.release} in ${r.data.ring} again: its policy may promote it again`,
      ];
    case 'ring.pinned':
      return [`${p} ${r.data.by} pinned ${r.data.ring} to ${r.data.release}: ${first(r.data.reason)}`];
    case 'once.started':
      return [
        `${p}   ${r.data.rollout} ${r.data.phase === 'down' ? 'undoing' : `${r.data.phase}-step`} ${r.data.step}: started`,
      ];
    case 'once.finished': {
      const d = r.data;
      const line = `${p}   ${d.ok ? '✔' : '✘'} ${d.rollout} ${d.phase === 'down' ? 'undo of' : `${d.phase}-step`} ${d.step}: ${d.ok ? 'done' : 'FAILED'} (${(d.durationMs / 1000).toFixed(1)}s)`;
      return d.ok ? [line] : [line, ...tailOf(d.log, false)];
    }
    case 'ring.break-glass':
      return [
        `${p} ${r.data.by} BROKE GLASS in ${r.data.ring} for ${r.data.release}: ${first(r.data.reason)} (${first(r.data.frozen)})`,
      ];
    case 'suite.updated': {
      const d = r.data;
      const listed = Object.entries(d.packages)
        .map(([name, versions]) => `${name} ${versions.join(', ')}`)
        .join('; ');
      return [`${p}   ${d.rollout} suite ${d.suite} of ${d.ring} lists ${listed || 'nothing'}`];
    }
    case 'ring.together':
      return [
        `${p} ${r.data.by} promoted ${r.data.members.map((m) => `${m.pipeline} ${m.release}`).join(' and ')} to ${r.data.ring} together${r.data.reason ? `: ${first(r.data.reason)}` : ''}`,
      ];
    case 'host.disabled':
      return [`${p} ${r.data.by} disabled ${r.data.host} in ${r.data.ring}: ${first(r.data.reason)}`];
    case 'host.enabled':
      return [`${p} ${r.data.by} enabled ${r.data.host} in ${r.data.ring} again`];
    case 'ring.unpinned':
      return [`${p} ${r.data.by} unpinned ${r.data.ring}: its policy may promote again`];
    case 'ring.locked':
      return [`${p} ${r.data.by} locked ${r.data.ring}: ${r.data.reason}`];
    case 'ring.unlocked':
      return [`${p} ${r.data.by} unlocked ${r.data.ring}${r.data.reason ? `: ${first(r.data.reason)}` : ''}`];
    case 'approval.recorded':
      return [
        `${p} ${r.data.by} approved ${short(r.data.revision)} for ${r.data.ring} (${r.data.via}${
          r.data.identity
            ? `, signed in by ${r.data.identity.method}${r.data.identity.groups.length ? ` as ${r.data.identity.groups.join(', ')}` : ''}`
            : r.data.via === 'vcs'
              ? ''
              : ', not signed in'
        })${r.data.comment ? `: ${first(r.data.comment)}` : ''}`,
      ];
    case 'deploy-request.seen':
      return [
        `${p} deploy request ${r.data.request.name} by ${r.data.request.author} for ${r.data.request.ring}: ${short(r.data.request.revision)}`,
      ];
    case 'deploy-requests.reset':
      return [
        `${p} the deploy request ${r.data.from} is gone from the source: requests were read from the start again, those already taken left out${r.data.to ? `; the cursor is now ${r.data.to}` : ''} (${first(r.data.reason)})`,
      ];
    case 'notification.queued':
      return [
        `${p} notice${r.data.notification.author ? ` to ${r.data.notification.author}` : ''}: ${r.data.notification.summary}`,
      ];
    case 'notification.sent':
      return [
        `${p} notifier ${r.data.notifier} ${r.data.ok ? 'delivered' : `FAILED: ${first(r.data.error ?? '')}`}`,
      ];
    case 'process.started':
      return [`${p} pid ${r.data.process.pid} started for ${describeStep(r.data.step)}: ${r.data.command}`];
    case 'process.reaped':
      return [
        `${p} pid ${r.data.process.pid}, left by a dead engine for ${describeStep(r.data.step)}: ${r.data.outcome}`,
      ];
    case 'lease.lost':
      return [`${p} ${r.data.owner} lost the lease ${r.data.lease}: ${r.data.reason}`];
    case 'engine.fault':
      return [
        `${p} ${r.data.owner} caught a fault nothing else did, and parked the work under way: ${r.data.error}`,
      ];
  }
}

function describeStep(step: StepRef): string {
  if (step.kind === 'build') return `the build of ${short(step.revision)}`;
  if (step.kind === 'gate') return `gate ${step.gate} in ${step.ring}`;
  return `${step.phase}-step ${step.step} of ${step.rollout}`;
}

/** True when the record says something failed (what makes a command exit 1). */
export function isFailure(r: TypedRecord): boolean {
  switch (r.type) {
    case 'build.finished':
      return !r.data.ok;
    case 'host.finished':
      return !r.data.ok;
    case 'gate.finished':
    case 'once.finished':
      return !r.data.ok;
    case 'rollout.finished':
      return r.data.outcome !== 'succeeded';
    case 'ring.failed':
    case 'lease.lost':
    case 'engine.fault':
      return true;
    default:
      return false;
  }
}
