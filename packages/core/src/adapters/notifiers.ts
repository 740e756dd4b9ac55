/**
 * Notifiers beyond the console: a webhook (JSON POST with retries) and a command (the
 * notification as JSON on its stdin, e.g. a script around `sendmail`).
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Notification, Notifier } from '../contracts/notifier.js';
import { parseOptions, RingmasterError } from '../errors.js';
import { runCommand, tail } from '../exec/run.js';
import { durationSchema } from '../model/duration.js';

export const webhookNotifierOptionsSchema = z
  .object({
    url: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }),
    /** Extra headers (an Authorization token, say). Never logged. */
    headers: z.record(z.string(), z.string()).default({}),
    /** Attempts after the first. @default 3 */
    retries: z.number().int().min(0).max(10).default(3),
    /** Per attempt. @default '10s' */
    timeout: durationSchema.default(10_000),
    /** First delay between attempts, doubled each time. @default '500ms' */
    backoff: durationSchema.default(500),
  })
  .strict();
export type WebhookNotifierOptions = z.input<typeof webhookNotifierOptionsSchema>;

/**
 * POSTs each notification as JSON (all of its fields: an approval notice's `url` and
 * `approvers` too); retries on network errors and 5xx answers.
 *
 * @example
 * ```ts
 * webhookNotifier({ url: 'https://chat.example.com/hooks/deploys', headers: { authorization: `Bearer ${token}` } })
 * ```
 */
export function webhookNotifier(options: WebhookNotifierOptions): Notifier {
  const opts = parseOptions(webhookNotifierOptionsSchema, options, 'notify', 'webhookNotifier');
  const where = new URL(opts.url);
  // The name is in the ledger (notification.sent) and on the team page: never the path or the
  // query, where incoming webhooks (Slack's among them) keep their secret; a short hash of the
  // whole URL tells two webhooks on one host apart.
  const shown = `${where.protocol}//${where.host}`;
  const id = createHash('sha256').update(opts.url).digest('hex').slice(0, 8);
  return {
    name: `webhook ${shown} #${id}`,
    // What ledgers written before called it: a notification sent under it is not sent again.
    formerNames: [`webhook ${shown}${where.pathname}`],
    async notify(notification: Notification) {
      const body = JSON.stringify(notification);
      let last = '';
      for (let attempt = 0; attempt <= opts.retries; attempt++) {
        if (attempt > 0) await new Promise((r) => setTimeout(r, opts.backoff * 2 ** (attempt - 1)));
        try {
          const response = await fetch(opts.url, {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...opts.headers },
            body,
            signal: AbortSignal.timeout(opts.timeout),
          });
          if (response.ok) return;
          last = `HTTP ${response.status}`;
          if (response.status < 500 && response.status !== 429) break; // the receiver refused it: retrying will not help
        } catch (error) {
          last = error instanceof Error ? error.message : String(error);
        }
      }
      throw new RingmasterError('NOTIFY', `webhook ${shown} failed: ${last}`, { scope: 'notify' });
    },
  };
}

export const commandNotifierOptionsSchema = z
  .object({
    /**
     * argv; the notification arrives as JSON on stdin, and in the environment: RINGMASTER_KIND,
     * RINGMASTER_SUMMARY, RINGMASTER_OK, RINGMASTER_TO (the committer's address, else name),
     * RINGMASTER_URL (the page, or empty) and RINGMASTER_APPROVERS (comma-separated, for an
     * approval notice whose policy names a group; else empty).
     */
    run: z.array(z.string()).min(1),
    timeout: durationSchema.default(30_000),
    /** Names the notifier in the ledger. @default the command */
    name: z.string().optional(),
  })
  .strict();
export type CommandNotifierOptions = z.input<typeof commandNotifierOptionsSchema>;

/**
 * Runs a command per notification.
 *
 * @example
 * ```ts
 * commandNotifier({ run: ['./notify-by-mail.sh'] }) // reads the JSON on stdin, calls sendmail
 * ```
 */
export function commandNotifier(options: CommandNotifierOptions): Notifier {
  const opts = parseOptions(commandNotifierOptionsSchema, options, 'notify', 'commandNotifier');
  return {
    name: opts.name ?? `command ${opts.run[0]}`,
    async notify(notification: Notification) {
      const r = await runCommand(opts.run, {
        input: JSON.stringify(notification),
        timeoutMs: opts.timeout,
        env: {
          RINGMASTER_KIND: notification.kind,
          RINGMASTER_SUMMARY: notification.summary,
          RINGMASTER_OK: String(notification.ok),
          RINGMASTER_TO: notification.to ?? notification.author ?? '',
          RINGMASTER_URL: notification.url ?? '',
          RINGMASTER_APPROVERS: (notification.approvers ?? []).join(','),
        },
      });
      if (r.exitCode !== 0 || r.timedOut) {
        throw new RingmasterError(
          'NOTIFY',
          `${opts.run.join(' ')} ${r.timedOut ? 'timed out' : `exited ${r.exitCode}`}: ${tail(r.stderr, 3)}`,
          { scope: 'notify' },
        );
      }
    },
  };
}
