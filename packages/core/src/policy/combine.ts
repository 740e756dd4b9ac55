/** Compositions of policies: all must agree, or any one suffices. */
import { ConfigError } from '../errors.js';
import { type Decision, isPolicy, type Policy, type PolicyContext } from './types.js';

function check(kind: string, policies: readonly Policy[]): void {
  if (policies.length === 0) throw new ConfigError(kind, 'expected at least one policy', { scope: 'policy' });
  policies.forEach((p, i) => {
    if (!isPolicy(p))
      throw new ConfigError(`${kind}[${i}]`, 'expected a policy such as auto() or soak("1h")', {
        scope: 'policy',
      });
  });
}

/**
 * Approvers of a combination: the union, or anyone when any part lets anyone count; and a
 * release's author counts when some part that takes approvals would count them.
 */
const unionApprovers = (
  policies: readonly Policy[],
): { approvers?: readonly string[]; selfApproval?: boolean } => {
  const taking = policies.filter((p) => p.approvers === undefined || p.approvers.length > 0);
  const self =
    taking.length > 0 && taking.every((p) => p.selfApproval === false) ? { selfApproval: false } : {};
  return policies.some((p) => p.approvers === undefined)
    ? self
    : { approvers: [...new Set(policies.flatMap((p) => p.approvers ?? []))], ...self };
};

type Wait = Extract<Decision, { verdict: 'wait' }>;

/**
 * The approvals a combination that waits still needs, from its parts that wait for some:
 * `count` makes one number of theirs, and `from` is everyone who could give them (anyone, when
 * some part takes anyone). None when no part waits for approvals.
 */
const awaitingOf = (waits: readonly Wait[], count: (missing: number[]) => number): Pick<Wait, 'awaiting'> => {
  const parts = waits.flatMap((w) => (w.awaiting ? [w.awaiting] : []));
  if (parts.length === 0) return {};
  const from = parts.every((a) => a.from) ? [...new Set(parts.flatMap((a) => a.from ?? []))] : undefined;
  return { awaiting: { approvals: count(parts.map((a) => a.approvals)), ...(from ? { from } : {}) } };
};
const sum = (ns: number[]) => ns.reduce((a, b) => a + b, 0);

// ISO 8601 UTC times sort as strings.
const latest = (times: (string | undefined)[]) =>
  times.some((t) => t === undefined) ? undefined : (times as string[]).sort().at(-1);
const earliest = (times: (string | undefined)[]) =>
  times.filter((t): t is string => t !== undefined).sort()[0];

/**
 * Promote only when every policy promotes. Blocked if any is blocked; otherwise waits for the
 * latest of the waits. `all(freeze(), auto())` is allowed: it is simply always blocked.
 *
 * @example
 * ```ts
 * all(manual(), soak('24h'), window({ days: ['mon-thu'], hours: '10:00-16:00', timeZone: 'UTC' }))
 * ```
 */
export function all(...policies: Policy[]): Policy {
  check('all', policies);
  /**
   * Each wait is a lower bound; at the latest of them another policy may still wait (a soak that
   * ends at night, before the window opens). Look ahead, a bounded number of times, for the
   * first moment all of them would agree.
   */
  const settle = (until: string | undefined, context: PolicyContext): string | undefined => {
    let at = until;
    for (let i = 0; at && i < 16; i++) {
      const later = policies.map((p) => p.evaluate({ ...context, now: new Date(at!) }));
      if (later.some((d) => d.verdict === 'blocked')) return at;
      const next = latest(
        later.filter((d) => d.verdict === 'wait').map((d) => (d as { until?: string }).until),
      );
      if (!later.some((d) => d.verdict === 'wait')) return at;
      if (!next || next <= at) return at;
      at = next;
    }
    return at;
  };
  return {
    kind: 'all',
    ...unionApprovers(policies),
    describe: () => `all(${policies.map((p) => p.describe()).join(', ')})`,
    frozen: (context) => {
      for (const p of policies) {
        const f = p.frozen?.(context);
        if (f) return f;
      }
      return undefined;
    },
    evaluate(context: PolicyContext): Decision {
      const decisions = policies.map((p) => p.evaluate(context));
      const blocked = decisions.filter((d) => d.verdict === 'blocked');
      if (blocked.length) return { verdict: 'blocked', reason: blocked.map((d) => d.reason).join('; ') };
      const waits = decisions.filter((d): d is Wait => d.verdict === 'wait');
      if (waits.length) {
        const until = settle(latest(waits.map((w) => w.until)), context);
        return {
          verdict: 'wait',
          reason: waits.map((d) => d.reason).join('; '),
          ...(until ? { until } : {}),
          // Every part's approvals are needed: at most their sum, as one person may count for several.
          ...awaitingOf(waits, sum),
        };
      }
      return { verdict: 'promote', reason: decisions.map((d) => d.reason).join('; ') };
    },
  };
}

/**
 * Promote when any policy promotes. Waits for the earliest wait; blocked only if all are.
 *
 * @example
 * ```ts
 * any(manual({ group: ['oncall'] }), all(soak('48h'), window({ days: ['tue'], hours: '10:00-12:00', timeZone: 'UTC' })))
 * ```
 */
export function any(...policies: Policy[]): Policy {
  check('any', policies);
  return {
    kind: 'any',
    ...unionApprovers(policies),
    describe: () => `any(${policies.map((p) => p.describe()).join(', ')})`,
    // Any one part lets a release through: frozen only when every part is.
    frozen: (context) => {
      const all = policies.map((p) => p.frozen?.(context));
      if (all.some((f) => f === undefined)) return undefined;
      return { reason: all.map((f) => f!.reason).join('; or ') };
    },
    evaluate(context: PolicyContext): Decision {
      const decisions = policies.map((p) => p.evaluate(context));
      const promote = decisions.find((d) => d.verdict === 'promote');
      if (promote) return promote;
      const waits = decisions.filter((d): d is Wait => d.verdict === 'wait');
      if (waits.length) {
        const until = earliest(waits.map((w) => w.until));
        return {
          verdict: 'wait',
          reason: waits.map((d) => d.reason).join('; or '),
          ...(until ? { until } : {}),
          // One part suffices: approvals could end the wait with the fewest any part needs.
          ...awaitingOf(waits, (missing) => Math.min(...missing)),
        };
      }
      return { verdict: 'blocked', reason: decisions.map((d) => d.reason).join('; ') };
    },
  };
}
