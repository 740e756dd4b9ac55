/** The Notifier contract: how a committer hears about their change, and approvers about a wait. */

/**
 * What a notification is about. `approval`: a release waits for approvals in a ring; it goes to
 * the approvers (`approvers`), not the committer, once per pipeline, ring and release.
 * `pause`: a rollout waits at a pause step for a person to resume it. `break-glass`: someone
 * deployed through a freeze, with their reason.
 */
export type NotificationKind =
  | 'build'
  | 'rollout'
  | 'gate'
  | 'rollback'
  | 'approval'
  | 'pause'
  | 'break-glass';

export interface Notification {
  kind: NotificationKind;
  pipeline: string;
  /** True for good news (build passed, ring reached). */
  ok: boolean;
  /** One line a person reads. */
  summary: string;
  /** The committer of the revision concerned (their name, as the VCS records it). */
  author?: string;
  /**
   * Where the committer is told: the pipeline's `authors` entry for them, else the address the
   * VCS recorded (git does; svn does not).
   */
  to?: string;
  revision?: string;
  release?: string;
  ring?: string;
  /** Build or gate log tail, where there is one. */
  log?: string;
  /** A link to the team's page (the engine's `pageUrl`), where a person can act on it. */
  url?: string;
  /** Who may approve, for an `approval` notice whose policy names a group; anyone when absent. */
  approvers?: string[];
}

export interface Notifier {
  readonly name: string;
  /**
   * Names the notifier was known by in ledgers written before: a notification recorded as sent
   * under one of them is not sent again.
   */
  readonly formerNames?: readonly string[];
  notify(notification: Notification): Promise<void>;
}
