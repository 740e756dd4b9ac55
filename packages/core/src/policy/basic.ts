/** The simple policies: auto, manual approval, soak time. Freezes are in `freeze.ts`. */
import { z } from 'zod';
import { parseOptions } from '../errors.js';
import { durationSchema, formatDuration } from '../model/duration.js';
import type { Decision, Policy, PolicyApproval, PolicyContext } from './types.js';

/**
 * Promote as soon as the release is ready ("changes trickle down environments automatically").
 *
 * @example
 * ```ts
 * ring({ name: 'sandbox', target, policy: auto() })
 * ```
 */
export function auto(): Policy {
  return {
    kind: 'auto',
    approvers: [],
    describe: () => 'automatic',
    evaluate: () => ({ verdict: 'promote', reason: 'automatic promotion' }),
  };
}

export const manualOptionsSchema = z
  .object({
    /** How many distinct people must approve. */
    quorum: z.number().int().min(1).default(1),
    /**
     * Who may approve: people by name, or groups of the config's `access` (which count only
     * approvers who signed in). Anyone when omitted.
     */
    group: z.array(z.string().min(1)).min(1).optional(),
    /** May the release's own committer approve it? */
    allowSelfApproval: z.boolean().default(false),
    /** Approvals older than this no longer count. */
    expiresAfter: durationSchema.optional(),
  })
  .strict();
export type ManualOptions = z.input<typeof manualOptionsSchema>;

/**
 * Whether someone is in an approvers group: named in it, or — for an authenticated approver —
 * in one of the groups it names (`manual({ group: ['oncall'] })` with `oncall` in `access`).
 */
export function inGroup(group: readonly string[], by: string, groups: readonly string[] = []): boolean {
  return group.includes(by) || groups.some((g) => group.includes(g));
}

/**
 * Whether an approver is the release's committer: by name, or by a name or address they
 * commit as (`access.users.<name>.commits`, recorded with a signed-in approval).
 */
export function isAuthor(
  approver: { by: string; commitsAs?: readonly string[] },
  release: { author: string; email?: string },
): boolean {
  if (approver.by === release.author) return true;
  const as = approver.commitsAs ?? [];
  return as.includes(release.author) || (release.email !== undefined && as.includes(release.email));
}

/** The approvals that count under a manual policy, one per person. */
export function countedApprovals(
  options: z.output<typeof manualOptionsSchema>,
  context: PolicyContext,
): { counted: PolicyApproval[]; ignored: { approval: PolicyApproval; why: string }[] } {
  const counted: PolicyApproval[] = [];
  const ignored: { approval: PolicyApproval; why: string }[] = [];
  const seen = new Set<string>();
  for (const approval of context.approvals) {
    let why: string | undefined;
    if (options.group && !inGroup(options.group, approval.by, approval.groups))
      why = `${approval.by} is not in the approvers group`;
    else if (!options.allowSelfApproval && isAuthor(approval, context.release))
      why = `${approval.by} committed the release and may not approve it`;
    else if (
      options.expiresAfter !== undefined &&
      Date.parse(approval.at) + options.expiresAfter <= context.now.getTime()
    )
      why = `approval by ${approval.by} expired`;
    else if (seen.has(approval.by)) why = `${approval.by} already approved`;
    if (why) ignored.push({ approval, why });
    else {
      seen.add(approval.by);
      counted.push(approval);
    }
  }
  return { counted, ignored };
}

/**
 * Promote once `quorum` distinct people (from `group`, if given) approved the release for this
 * ring, through the API, the CLI or a deploy request in the repository.
 *
 * @example
 * ```ts
 * manual({ quorum: 2, group: ['alice', 'bob', 'carol'], expiresAfter: '24h' })
 * ```
 */
export function manual(options: ManualOptions = {}): Policy {
  const opts = parseOptions(manualOptionsSchema, options, 'policy', 'manual');
  const who = opts.group ? ` from ${opts.group.join(', ')}` : '';
  return {
    kind: 'manual',
    ...(opts.group ? { approvers: opts.group } : {}),
    selfApproval: opts.allowSelfApproval,
    describe: () => `manual approval (${opts.quorum}${who})`,
    evaluate(context): Decision {
      const { counted, ignored } = countedApprovals(opts, context);
      if (counted.length >= opts.quorum) {
        return {
          verdict: 'promote',
          reason: `approved by ${counted.map((a) => `${a.by} (${a.via})`).join(', ')}`,
        };
      }
      const missing = opts.quorum - counted.length;
      const notes = ignored.length ? `; not counted: ${ignored.map((i) => i.why).join('; ')}` : '';
      return {
        verdict: 'wait',
        reason: `waiting for ${missing} more approval${missing === 1 ? '' : 's'}${who}${notes}`,
        awaiting: { approvals: missing, ...(opts.group ? { from: opts.group } : {}) },
      };
    },
  };
}

/**
 * Promote once the release has been ready (verified in the previous ring) for `duration`.
 *
 * @example
 * ```ts
 * soak('24h')
 * ```
 */
export function soak(duration: string | number): Policy {
  const ms = parseOptions(durationSchema, duration, 'policy', 'soak');
  return {
    kind: 'soak',
    approvers: [],
    describe: () => `soak ${formatDuration(ms)}`,
    evaluate(context): Decision {
      const until = context.readyAt.getTime() + ms;
      if (context.now.getTime() >= until)
        return { verdict: 'promote', reason: `soaked ${formatDuration(ms)}` };
      return {
        verdict: 'wait',
        until: new Date(until).toISOString(),
        reason: `soaking: ${formatDuration(until - context.now.getTime())} left of ${formatDuration(ms)}`,
      };
    },
  };
}
