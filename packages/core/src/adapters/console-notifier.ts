/** A Notifier that prints one line per notification: the default for scripts and the demo. */
import type { Notification, Notifier } from '../contracts/notifier.js';

/**
 * @example
 * ```ts
 * pipeline({ …, notifiers: [consoleNotifier()] })
 * ```
 */
export function consoleNotifier(write: (line: string) => void = (line) => console.log(line)): Notifier {
  return {
    name: 'console',
    async notify(n: Notification) {
      const to =
        n.to || n.author
          ? ` → ${n.to ?? n.author}`
          : n.approvers?.length
            ? ` → ${n.approvers.join(', ')}`
            : '';
      // A request for approval is neither good nor bad news: it asks.
      const mark =
        n.kind === 'approval' || n.kind === 'pause' ? '?' : n.kind === 'break-glass' ? '!' : n.ok ? '✔' : '✘';
      // The link, unless the summary carries it already.
      const link = n.url && !n.summary.includes(n.url) ? ` — ${n.url}` : '';
      write(`${mark} [${n.pipeline}${n.ring ? `/${n.ring}` : ''}] ${n.summary}${link}${to}`);
    },
  };
}
