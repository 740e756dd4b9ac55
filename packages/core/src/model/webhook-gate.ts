/**
 * A gate that waits for a signed webhook from a CI system: while the gate runs, a small
 * node:http listener on loopback (or the address given) accepts a POST whose body is signed with
 * HMAC-SHA256 under a shared secret (`X-Ringmaster-Signature: sha256=<hex>`, compared in
 * constant time). A bad or missing signature is answered 401 and changes nothing.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { parseOptions } from '../errors.js';
import { durationSchema, formatDuration } from './duration.js';
import type { Gate, GateOutcome } from './gate.js';

export const SIGNATURE_HEADER = 'x-ringmaster-signature';
const MAX_BODY = 64 * 1024;

export const webhookGateOptionsSchema = z
  .object({
    name: z.string().min(1),
    /** The shared secret the CI system signs bodies with (at least 16 characters); never logged. */
    secret: z.string().min(16, 'expected a secret of at least 16 characters'),
    /** How long to wait for a verdict. @default '30m' */
    timeout: durationSchema.default(1_800_000),
    /** Port to listen on; 0 picks a free one (see `onListening`). @default 0 */
    port: z.number().int().min(0).max(65_535).default(0),
    /** Address to listen on. @default '127.0.0.1' */
    host: z.string().min(1).default('127.0.0.1'),
    /** Called with the URL to deliver to, once listening (e.g. to register it with the CI system). */
    onListening: z
      .custom<(url: string) => void>((v) => typeof v === 'function', 'expected a function (url) => void')
      .optional(),
  })
  .strict();
export type WebhookGateOptions = z.input<typeof webhookGateOptionsSchema>;

/** `sha256=<hex>` of `body` under `secret`: what a sender puts in `X-Ringmaster-Signature`. */
export function signWebhook(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Constant-time check of a signature header against the body. */
export function verifyWebhook(secret: string, body: Buffer, header: string | undefined): boolean {
  if (!header) return false;
  const expected = Buffer.from(signWebhook(secret, body));
  const given = Buffer.from(header);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

type Verdict = { ok: boolean; note: string };

/**
 * A gate that passes or fails on a signed webhook. The body is JSON
 * `{ "state": "success" | "failure" | "pending", "revision"?: "…", "version"?: "…" }`; a body that
 * names another revision or version than the release being gated is answered 409 and ignored.
 * Answers: 202 accepted, 401 bad signature, 405 not a POST, 409 another release, 413 too
 * large, 400 unreadable.
 *
 * @example
 * ```ts
 * webhookGate({ name: 'teamcity', secret: process.env.CI_WEBHOOK_SECRET!, port: 8787, timeout: '20m' })
 * // the CI system: POST http://deployhost:8787/ with X-Ringmaster-Signature: sha256=<hmac of the body>
 * ```
 */
export function webhookGate(options: WebhookGateOptions): Gate {
  const opts = parseOptions(webhookGateOptionsSchema, options, 'gate', 'webhookGate');
  return {
    name: opts.name,
    timeoutMs: opts.timeout,
    describe: () =>
      `${opts.name}: signed webhook on ${opts.host}:${opts.port || 'any port'} (within ${formatDuration(opts.timeout)})`,
    run(context): Promise<GateOutcome> {
      const lines: string[] = [];
      return new Promise<GateOutcome>((resolve) => {
        let settled = false;
        let timer: NodeJS.Timeout | undefined;
        const finish = (verdict: Verdict) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          context.signal.removeEventListener('abort', onAbort);
          lines.push(verdict.note);
          server.close();
          server.closeAllConnections?.();
          resolve({ ok: verdict.ok, log: lines.join('\n') });
        };
        const onAbort = () => finish({ ok: false, note: 'stopped' });

        const answer = (res: ServerResponse, status: number, text: string) => {
          res.writeHead(status, { 'content-type': 'text/plain', connection: 'close' });
          res.end(`${text}\n`);
        };

        const handle = (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
          const from = req.socket.remoteAddress ?? 'unknown';
          if (!verifyWebhook(opts.secret, body, req.headers[SIGNATURE_HEADER] as string | undefined)) {
            lines.push(`refused a webhook from ${from}: bad or missing signature`);
            return answer(res, 401, 'bad signature');
          }
          let data: { state?: unknown; revision?: unknown; version?: unknown };
          try {
            data = JSON.parse(body.toString('utf8')) as typeof data;
          } catch {
            lines.push(`refused a signed webhook from ${from}: body is not JSON`);
            return answer(res, 400, 'expected a JSON body');
          }
          const { revision, version } = context.release;
          if (
            (data.revision !== undefined && data.revision !== revision) ||
            (data.version !== undefined && data.version !== version)
          ) {
            lines.push(`ignored a webhook for another release (${String(data.revision ?? data.version)})`);
            return answer(res, 409, `this gate waits for ${version} (${revision})`);
          }
          const state = data.state;
          if (state !== 'success' && state !== 'failure' && state !== 'pending') {
            lines.push(`refused a signed webhook from ${from}: state ${JSON.stringify(state)}`);
            return answer(res, 400, 'expected "state": "success", "failure" or "pending"');
          }
          if (state === 'pending') lines.push(`webhook from ${from}: pending`);
          // Close the listener only once the sender has its 202.
          else
            res.once('close', () =>
              finish({ ok: state === 'success', note: `webhook from ${from}: ${state}` }),
            );
          answer(res, 202, 'accepted');
        };

        const server = createServer((req, res) => {
          if (req.method !== 'POST') return answer(res, 405, 'POST a signed JSON body');
          const chunks: Buffer[] = [];
          let size = 0;
          let tooLarge = false;
          req.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_BODY) tooLarge = true;
            else chunks.push(chunk);
          });
          req.on('end', () => {
            if (tooLarge) return answer(res, 413, `body over ${MAX_BODY} bytes`);
            handle(req, res, Buffer.concat(chunks));
          });
          req.on('error', () => res.destroy());
        });
        server.on('error', (error) =>
          finish({ ok: false, note: `cannot listen on ${opts.host}:${opts.port}: ${error.message}` }),
        );
        if (context.signal.aborted) return finish({ ok: false, note: 'stopped' });
        context.signal.addEventListener('abort', onAbort, { once: true });
        timer = setTimeout(
          () => finish({ ok: false, note: `no verdict by webhook within ${formatDuration(opts.timeout)}` }),
          opts.timeout,
        );
        server.listen(opts.port, opts.host, () => {
          const { port } = server.address() as AddressInfo;
          const url = `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}/`;
          lines.push(`waiting for a signed webhook on ${url}`);
          try {
            opts.onListening?.(url);
          } catch (error) {
            finish({
              ok: false,
              note: `onListening failed: ${error instanceof Error ? error.message : String(error)}`,
            });
          }
        });
      });
    },
  };
}
