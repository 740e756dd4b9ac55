/** The Notifier contract: how a committer hears about their change. */

export type NotificationKind = 'build' | 'rollout' | 'gate' | 'rollback';

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
}

export interface Notifier {
  readonly name: string;
  notify(notification: Notification): Promise<void>;
}
