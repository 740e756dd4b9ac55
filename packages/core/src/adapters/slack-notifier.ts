/**
 * A Slack-compatible notifier: one line of `text` per notification, POSTed to an incoming
 * webhook (Slack's, or any endpoint that takes its payload), with a severity filter so a channel
 * can hear only what matters.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Notification, Notifier } from '../contracts/notifier.js';
import { parseOptions, RingmasterError } from '../errors.js';
import { durationSchema } from '../model/duration.js';

/**
 * How much a notification asks of the people reading it, from least to most: `info` (good news:
 * a build passed, a ring was reached), `action` (an approval is needed: nothing failed, but a
 * rollout waits on a person) and `failure` (`ok === false`). Three levels, not two, so that
 * muting good news never mutes a request for approval that blocks a release.
 */
export const NOTIFICATION_SEVERITIES = ['info', 'action', 'failure'] as const;
export type NotificationSeverity = (typeof NOTIFICATION_SEVERITIES)[number];

/** A notification's severity: a failure whatever its kind, else `action` for an approval notice. */
export function notificationSeverity(n: Notification): NotificationSeverity {
  if (!n.ok) return 'failure';
  return n.kind === 'approval' || n.kind === 'pause' || n.kind === 'break-glass' ? 'action' : 'info';
}

/** Slack's text limit is far higher (40k); past a few thousand characters nobody reads a line. */
const MAX_TEXT = 3000;
/** Bytes of an error answer kept: Slack says what is wrong in a word (`invalid_payload`). */
const MAX_ANSWER = 200;

export const slackNotifierOptionsSchema = z
  .object({
    /** The incoming webhook's URL. Its path is the secret: it appears in no name and no error. */
    url: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }),
    /**
     * The least severe notification sent: `info` sends all, `action` approvals and failures,
     * `failure` failures only. Muted ones count as delivered. @default 'info'
     */
    minSeverity: z.enum(NOTIFICATION_SEVERITIES).default('info'),
    /** The whole request, answer included. @default '10s' */
    timeout: durationSchema.default(10_000),
    /** Names the notifier in the ledger and on the page. @default `slack <scheme>://<host> #<hash>` */
    name: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((o, ctx) => {
    // The name is shown to everyone who can read the page: never the webhook's secret.
    const path = URL.canParse(o.url) ? new URL(o.url).pathname : '';
    if (o.name && path.length > 1 && o.name.includes(path)) {
      ctx.addIssue({ code: 'custom', path: ['name'], message: "must not contain the webhook URL's path" });
    }
  });
export type SlackNotifierOptions = z.input<typeof slackNotifierOptionsSchema>;

const LABEL: Record<NotificationSeverity, string> = { info: 'OK', action: 'APPROVAL', failure: 'FAILED' };

/**
 * The one line sent for a notification: `[FAILED] shop: deploy of 1.0.5 to prod rolled-back: …`.
 * A failure carries its reason (the summary's) and, when the log says something the summary does
 * not, the log's last line. Whitespace runs become one space; `&`, `<` and `>` are escaped as
 * Slack asks, so text from a commit cannot become a link or a `<!here>`; a page link is appended
 * as `<url|open>` (http(s) only) unless the summary carries the address already.
 */
export function slackText(n: Notification): string {
  const severity = notificationSeverity(n);
  let plain = `[${LABEL[severity]}] ${n.pipeline}: ${n.summary}`;
  if (severity === 'failure' && n.log) {
    const last = n.log
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .at(-1);
    if (last && !n.summary.includes(last)) plain += ` | log: ${last}`;
  }
  const link = n.url && !n.summary.includes(n.url) ? slackLink(n.url) : '';
  return truncateEscaped(oneLine(plain), MAX_TEXT - link.length) + link;
}

/** ` <url|open>`, or nothing for an address that is not http(s) or would crowd out the message. */
function slackLink(url: string): string {
  if (!URL.canParse(url)) return '';
  const u = new URL(url);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return '';
  // `|` would end the address early; `&`, `<`, `>` are escaped like any text.
  const href = escapeSlack(u.href.replaceAll('|', '%7C'));
  return href.length > 1000 ? '' : ` <${href}|open>`;
}

/** Whitespace and control characters (a log's newlines, a summary's tabs) become single spaces. */
function oneLine(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point
  return text.replace(/[\s\u0000-\u001f\u007f]+/g, ' ').trim();
}

function escapeSlack(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

/** Escapes `text` and cuts it to `max` characters, never inside an entity or a surrogate pair. */
function truncateEscaped(text: string, max: number): string {
  const escaped = escapeSlack(text);
  if (escaped.length <= max) return escaped;
  let out = '';
  for (const ch of text) {
    const e = escapeSlack(ch);
    if (out.length + e.length > max - 3) break;
    out += e;
  }
  return `${out}...`;
}

/**
 * POSTs `{ "text": "<one line>" }` to a Slack incoming webhook for each notification at or above
 * `minSeverity`. One attempt per notification: a refusal (non-2xx) or a timeout throws a
 * `NOTIFY` error with the status and the first line of the answer, which the engine records in
 * the ledger; a failing notifier never stops a deployment.
 *
 * @example
 * ```ts
 * slackNotifier({ url: process.env.SLACK_WEBHOOK_URL!, minSeverity: 'action' }) // approvals and failures
 * ```
 */
export function slackNotifier(options: SlackNotifierOptions): Notifier {
  const opts = parseOptions(slackNotifierOptionsSchema, options, 'notify', 'slackNotifier');
  const where = new URL(opts.url);
  // As webhookNotifier: the name (in the ledger and on the page) shows the host and a short hash
  // of the whole URL, never the path or the query, where Slack keeps the webhook's secret.
  const shown = `${where.protocol}//${where.host}`;
  const id = createHash('sha256').update(opts.url).digest('hex').slice(0, 8);
  const threshold = NOTIFICATION_SEVERITIES.indexOf(opts.minSeverity);
  // No error message may carry the secret, whatever a lower layer put in it.
  const redact = (text: string) =>
    where.pathname.length > 1 ? text.replaceAll(opts.url, shown).replaceAll(where.pathname, '/…') : text;
  const fail = (why: string) =>
    new RingmasterError('NOTIFY', redact(`slack ${shown} failed: ${why}`), { scope: 'notify' });
  return {
    name: opts.name ?? `slack ${shown} #${id}`,
    async notify(notification: Notification) {
      if (NOTIFICATION_SEVERITIES.indexOf(notificationSeverity(notification)) < threshold) return;
      const signal = AbortSignal.timeout(opts.timeout);
      let answer: string;
      let status: number;
      try {
        const response = await fetch(opts.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ text: slackText(notification) }),
          signal,
        });
        status = response.status;
        if (response.ok) {
          await response.body?.cancel();
          return;
        }
        answer = await response.text();
      } catch (error) {
        if (signal.aborted) throw fail(`no answer within ${opts.timeout}ms`);
        const cause = (error as { cause?: { code?: string; message?: string } }).cause;
        throw fail(cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error)));
      }
      const first = answer.trim().split('\n')[0]?.trim().slice(0, MAX_ANSWER) ?? '';
      throw fail(`HTTP ${status}${first ? `: ${first}` : ''}`);
    },
  };
}
