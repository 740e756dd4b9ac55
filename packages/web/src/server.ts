/**
 * Serves the page: `ringmaster serve` (a process that only reads the ledger and writes actions)
 * and `ringmaster watch --serve` (the engine's own process). Records written by other processes
 * (a runner, the CLI) are read in as the store announces them, and at least every `refreshMs`.
 */
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { createWebApp, type WebAppOptions } from './app.js';

export interface ServeOptions extends WebAppOptions {
  /** The address to listen on. @default '127.0.0.1' (this machine only) */
  host?: string;
  /** The port; 0 picks a free one. @default 8080 */
  port?: number;
  /** How often the ledger is read for records written elsewhere. @default 500 */
  refreshMs?: number;
}

export interface WebServer {
  /** `http://127.0.0.1:8080`. */
  readonly url: string;
  /** Open live connections (pages following the ledger). */
  readonly clients: number;
  close(): Promise<void>;
}

/**
 * Starts the page.
 *
 * @example
 * ```ts
 * const web = await serveWeb({ engine, access, port: 8080 });
 * console.log(`the page: ${web.url}`);
 * ```
 */
export async function serveWeb(options: ServeOptions): Promise<WebServer> {
  const { engine } = options;
  await engine.load();
  const web = createWebApp(options);
  // Records from other processes: at each store wake-up, and on a timer.
  let reading: Promise<void> | undefined;
  const refresh = () => {
    reading ??= engine
      .load()
      .catch((error) => options.onError?.(error))
      .finally(() => {
        reading = undefined;
      });
  };
  const timer = setInterval(refresh, options.refreshMs ?? 500);
  timer.unref();
  const unsubscribe = engine.ledger.store.subscribe?.(refresh);
  let server: ReturnType<typeof serve>;
  try {
    server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
      const s = serve(
        { fetch: web.app.fetch, hostname: options.host ?? '127.0.0.1', port: options.port ?? 8080 },
        () => resolve(s),
      );
      s.once('error', reject);
    });
  } catch (error) {
    // The address is taken (EADDRINUSE) or not ours: leave nothing running behind.
    clearInterval(timer);
    unsubscribe?.();
    web.close();
    throw error;
  }
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    get clients() {
      return web.clients;
    },
    async close() {
      clearInterval(timer);
      unsubscribe?.();
      web.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Live connections never end by themselves.
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
      await reading;
    },
  };
}
