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
      const to = n.to || n.author ? ` → ${n.to ?? n.author}` : '';
      write(`${n.ok ? '✔' : '✘'} [${n.pipeline}${n.ring ? `/${n.ring}` : ''}] ${n.summary}${to}`);
    },
  };
}
