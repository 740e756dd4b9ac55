/**
 * When a project has identities (the config's `access`), an approval counts only when the
 * approver proved who they are: one written with a typed-in name (`--by oncall`), or before
 * identities were configured, is shown as not counted and why.
 */
import type { Decision, Policy } from './types.js';

/**
 * `policy`, counting only authenticated approvals (and deploy requests in the repository, which
 * the repository's server authenticated). The engine wraps every ring's policy in it when
 * created with `authenticatedApprovals: true`.
 *
 * @example
 * ```ts
 * const prod = authenticatedOnly(manual({ group: ['oncall'] }));
 * ```
 */
export function authenticatedOnly(policy: Policy): Policy {
  return {
    kind: policy.kind,
    describe: () => policy.describe(),
    ...(policy.approvers !== undefined ? { approvers: policy.approvers } : {}),
    ...(policy.selfApproval !== undefined ? { selfApproval: policy.selfApproval } : {}),
    evaluate(context): Decision {
      const counts = (a: { authenticated?: string; via: string }) =>
        a.authenticated !== undefined || a.via === 'vcs';
      const unproven = context.approvals.filter((a) => !counts(a));
      if (unproven.length === 0) return policy.evaluate(context);
      const decision = policy.evaluate({ ...context, approvals: context.approvals.filter(counts) });
      if (decision.verdict === 'promote') return decision;
      const names = [...new Set(unproven.map((a) => a.by))].join(', ');
      return { ...decision, reason: `${decision.reason}; not counted: ${names} (not signed in)` };
    },
  };
}
