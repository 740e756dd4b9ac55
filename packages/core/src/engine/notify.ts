/**
 * Notifications: queued as ledger records in the same append as the fact they report (so a
 * crash cannot lose one), then delivered to every notifier once; a failing notifier is
 * recorded, never fatal.
 */
import { randomUUID } from 'node:crypto';
import type { Notification } from '../contracts/notifier.js';
import { entry } from '../ledger/ledger.js';
import type { Pipeline } from '../model/pipeline.js';
import type { Runtime } from './runtime.js';

/**
 * The record that queues a notification. It is addressed to the committer: the pipeline's
 * `authors` entry for them, else `email`, the address their commit carries.
 */
export function notice(pipeline: Pipeline, notification: Notification, email?: string) {
  const to = (notification.author ? pipeline.authors[notification.author] : undefined) ?? email;
  return entry('notification.queued', {
    pipeline: pipeline.name,
    id: randomUUID(),
    notification: to ? { ...notification, to } : notification,
  });
}

/** Delivers queued notifications to every notifier once; a failing notifier is recorded, never fatal. */
export async function deliverNotifications(rt: Runtime, pipeline: Pipeline): Promise<void> {
  const notifiers = [...rt.notifiers, ...pipeline.notifiers];
  if (notifiers.length === 0) return;
  const p = rt.state(pipeline.name);
  for (const [id, { notification, sent }] of p.notifications) {
    for (const notifier of notifiers) {
      if (sent.has(notifier.name) || notifier.formerNames?.some((n) => sent.has(n))) continue;
      let error: string | undefined;
      try {
        await notifier.notify(notification);
      } catch (e) {
        error = e instanceof Error ? e.message : String(e);
      }
      await rt.ledger.write(
        entry('notification.sent', {
          pipeline: pipeline.name,
          id,
          notifier: notifier.name,
          ok: !error,
          ...(error ? { error } : {}),
        }),
      );
    }
  }
}
