/**
 * When a project has identities (the config's `access`), an approval counts only when the
 * approver proved who they are: one written with a typed-in name (`--by oncall`), or before
 * identities were configured, is shown as not counted and why.
 */
import type { Decision, Policy, PolicyContext } from './types.js';

/**
 * `policy`, counting only authenticated approvals — and deploy requests in the repository only
 * when its server authenticates authors (`vcs: true`: svn over a server; never a git tag, whose
 * tagger is whatever the client says). The engine wraps every ring's policy in it when created
 * with `authenticatedApprovals: true`, with `vcs` from the source's `authenticatedAuthors`.
 *
 * @example
 * ```ts
 * const prod = authenticatedOnly(manual({ group: ['oncall'] }), { vcs: false });
 * ```
 */
export function authenticatedOnly(policy: Policy, options: { vcs: boolean }): Policy {
  return {
    kind: policy.kind,
    describe: () => policy.describe(),
    ...(policy.approvers !== undefined ? { approvers: policy.approvers } : {}),
    ...(policy.selfApproval !== undefined ? { selfApproval: policy.selfApproval } : {}),
    // A freeze is about time, not approvals: it binds as the wrapped policy says.
    ...(policy.frozen ? { frozen: (context: PolicyContext) => policy.frozen!(context) } : {}),
    evaluate(context): Decision {
      const counts = (a: { authenticated?: string; via: string }) =>
        a.authenticated !== undefined || (a.via === 'vcs' && options.vcs);
      const unproven = context.approvals.filter((a) => !counts(a));
      if (unproven.length === 0) return policy.evaluate(context);
      const decision = policy.evaluate({ ...context, approvals: context.approvals.filter(counts) });
      if (decision.verdict === 'promote') return decision;
      const why = (a: { by: string; via: string }) =>
        a.via === 'vcs'
          ? `${a.by} (a deploy request: this repository does not authenticate authors)`
          : `${a.by} (not signed in)`;
      const names = [...new Set(unproven.map(why))].join(', ');
      return { ...decision, reason: `${decision.reason}; not counted: ${names}` };
    },
  };
}
