/**
 * Promotion policies decide whether a release verified in the previous ring may enter a ring.
 * A policy never answers just "no": it says promote, wait (until when, for what) or blocked (why).
 */

export type Decision =
  | { verdict: 'promote'; reason: string }
  | {
      verdict: 'wait';
      reason: string;
      /** ISO time when waiting may end, when known. */
      until?: string;
      /**
       * Set when the wait is (also) for approvals: how many more, and from whom when the policy
       * names a group (anyone when `from` is undefined). The engine asks the approvers, once.
       */
      awaiting?: { approvals: number; from?: readonly string[] };
    }
  | { verdict: 'blocked'; reason: string };

export interface PolicyApproval {
  by: string;
  /** ISO time of the approval. */
  at: string;
  /** `api`, `cli`, `vcs` (a deploy request in the repository). */
  via: string;
  comment?: string;
  /** How the approver proved who they are (`token`, `session`, `proxy`); absent when nobody checked. */
  authenticated?: string;
  /** The approver's groups when they approved, for `manual({ group })` naming a group. */
  groups?: readonly string[];
  /** The names and addresses the approver commits as: approving one's own release is known. */
  commitsAs?: readonly string[];
}

export interface PolicyRelease {
  id: string;
  version: string;
  revision: string;
  /** The committer of the revision the release was built from. */
  author: string;
  /** The committer's address, where the VCS records one. */
  email?: string;
}

export interface PolicyContext {
  now: Date;
  pipeline: string;
  ring: string;
  release: PolicyRelease;
  /** When the release became a candidate: verified by the previous ring, or built (first ring). */
  readyAt: Date;
  /** Approvals recorded for this release and ring. */
  approvals: readonly PolicyApproval[];
}

/** A composable promotion predicate. */
export interface Policy {
  readonly kind: string;
  /** One line a person reads: `soak 24h`, `window Mon–Thu 10:00–16:00 Europe/Berlin`. */
  describe(): string;
  evaluate(context: PolicyContext): Decision;
  /**
   * Who can ever count as an approver under this policy: a list (`manual({ group })`), `[]` when
   * the policy takes no approvals (`auto()`, `soak()`…), or undefined when anyone may count
   * (`manual()` without a group, or a policy that does not say). `all()`/`any()` union them.
   */
  readonly approvers?: readonly string[];
  /**
   * Whether an approval by the release's own author can count: false when it never does
   * (`manual()` without `allowSelfApproval`), undefined when the policy does not say.
   */
  readonly selfApproval?: boolean;
  /**
   * A freeze in force at `context.now`, which binds people too: a promote or deploy by hand is
   * refused during it unless someone allowed to breaks glass. Undefined when not frozen (and for
   * policies that are no freeze). `all()` is frozen when a part is; `any()` when every part is.
   */
  frozen?(context: PolicyContext): { reason: string; until?: string } | undefined;
}

export function isPolicy(value: unknown): value is Policy {
  const v = value as Policy | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.evaluate === 'function' &&
    typeof v.describe === 'function'
  );
}
