/**
 * Approval validation: an approval that could never count under a ring's policy (the approver
 * is in no `manual({ group })` of it, or the policy takes no approvals at all) is refused before
 * it is written, so a typo in a name is an error now rather than a silent wait later.
 */
import { RingmasterError } from '../errors.js';
import { inGroup, isAuthor } from './basic.js';
import type { Policy } from './types.js';

/**
 * Throws a `POLICY` error naming the approver and the group when `by` can never count as an
 * approver under `policy` — not in its group, or the release's own `author` where the policy
 * does not count self-approvals; returns quietly when they can (or when the policy does not say).
 *
 * @example
 * ```ts
 * assertCanApprove(manual({ group: ['alice', 'bob'] }), { pipeline: 'app', ring: 'prod', by: 'mallory' });
 * // → RingmasterError POLICY: mallory cannot approve for app/prod: … only alice, bob
 * ```
 */
export function assertCanApprove(
  policy: Policy,
  where: {
    pipeline: string;
    ring: string;
    by: string;
    /** The approver's groups, when they are authenticated. */
    groups?: readonly string[];
    /** The names and addresses the approver commits as, when known. */
    commitsAs?: readonly string[];
    author?: string;
    email?: string;
    version?: string;
  },
): void {
  const at = `${where.pipeline}/${where.ring}`;
  if (
    where.author !== undefined &&
    isAuthor(
      { by: where.by, ...(where.commitsAs ? { commitsAs: where.commitsAs } : {}) },
      {
        author: where.author,
        ...(where.email ? { email: where.email } : {}),
      },
    ) &&
    policy.selfApproval === false
  ) {
    throw new RingmasterError(
      'POLICY',
      `${where.by} committed ${where.version ?? 'the release'}: an approval by its own author does not count for ${at} (${policy.describe()}); ask someone else to approve, or set allowSelfApproval: true`,
      {
        scope: 'engine',
        details: { by: where.by, pipeline: where.pipeline, ring: where.ring, reason: 'self-approval' },
      },
    );
  }
  const approvers = policy.approvers;
  if (approvers === undefined || inGroup(approvers, where.by, where.groups)) return;
  const message =
    approvers.length === 0
      ? `${where.by} cannot approve for ${at}: its policy (${policy.describe()}) takes no approvals, so an approval would never count`
      : `${where.by} cannot approve for ${at}: its policy (${policy.describe()}) counts approvals only from the group ${approvers.join(', ')}; ask one of them, or add ${where.by} to the group in the config`;
  throw new RingmasterError('POLICY', message, {
    scope: 'engine',
    details: { by: where.by, pipeline: where.pipeline, ring: where.ring, group: [...approvers] },
  });
}
