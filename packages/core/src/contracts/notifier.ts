/** The Notifier contract: how a committer hears about their change. */

export type NotificationKind = 'build' | 'rollout' | 'gate' | 'rollback';

export interface Notification {
  kind: NotificationKind;
  pipeline: string;
  /** True for good news (build passed, ring reached). */
  ok: boolean;
  /** One line a person reads. */
  summary: string;
  /** The committer of the revision concerned. */
  author?: string;
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
