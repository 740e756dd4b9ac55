/**
 * A gate that waits for an external CI system's verdict (the seed's teams ran TeamCity builds on
 * every commit): it polls an HTTP status URL until the build says success or failure, or the
 * gate's deadline passes. Every wait is bounded by the deadline; the URL's query and user info
 * (where tokens live) never appear in the log.
 */
import { z } from 'zod';
import { parseOptions, RingmasterError } from '../errors.js';
import { durationSchema, formatDuration } from './duration.js';
import type { Gate, GateContext, GateOutcome } from './gate.js';

/** What a CI system says of a build. */
export type CiState = 'success' | 'failure' | 'pending';

/** Reads a CI verdict from a response body (parsed JSON when it is JSON, else the text). */
export type CiReader = (body: unknown, response: { status: number }) => CiState;

export const ciGateOptionsSchema = z
  .object({
    name: z.string().min(1),
    /**
     * The status URL (http or https). `{revision}`, `{version}`, `{release}`, `{ring}` and
     * `{pipeline}` are replaced (URL-encoded) by the release being gated.
     */
    statusUrl: z.string().refine((u) => /^https?:\/\//.test(u) && URL.canParse(u.replace(/\{\w+\}/g, 'x')), {
      message: 'expected an http(s) URL such as "https://ci.example.com/status/{revision}"',
    }),
    /** How long to wait for a verdict in all. @default '30m' */
    timeout: durationSchema.default(1_800_000),
    /** Time between polls. @default '15s' */
    interval: durationSchema.default(15_000),
    /** How long one request may take. @default '10s' */
    requestTimeout: durationSchema.default(10_000),
    /** Request headers (e.g. an Authorization token); never logged. */
    headers: z.record(z.string(), z.string()).default({}),
    /** Reads the verdict from the body. @default JSON `{ "state": "success" | "failure" | "pending" }` */
    expect: z
      .custom<CiReader>((v) => typeof v === 'function', 'expected a function (body) => state')
      .optional(),
  })
  .strict();
export type CiGateOptions = z.input<typeof ciGateOptionsSchema>;

const STATES = new Set<CiState>(['success', 'failure', 'pending']);

/** The default reader: `{ "state": "success" }`; anything else is still pending. */
const readState: CiReader = (body) => {
  const state = (body as { state?: unknown } | null)?.state;
  return typeof state === 'string' && STATES.has(state as CiState) ? (state as CiState) : 'pending';
};

/** Fills `{revision}`-style placeholders with the release being gated. */
export function fillUrl(
  template: string,
  context: Pick<GateContext, 'pipeline' | 'ring' | 'release'>,
): string {
  const values: Record<string, string> = {
    revision: context.release.revision,
    version: context.release.version,
    release: context.release.id,
    ring: context.ring,
    pipeline: context.pipeline,
  };
  return template.replace(/\{(\w+)\}/g, (all, key: string) => {
    if (!(key in values)) return all;
    const value = values[key]!;
    // Encoding keeps "/" and "?" out; a whole "." or ".." would still climb the URL's path.
    if (/^\.{1,2}$/.test(value) || value === '') {
      throw new RingmasterError(
        'UNSAFE_INPUT',
        `refusing ${JSON.stringify(value)} as the {${key}} of a status URL`,
        {
          scope: 'gate',
        },
      );
    }
    return encodeURIComponent(value);
  });
}

/** The URL without user info, query or fragment: safe to log. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}${u.search ? '?…' : ''}`;
  } catch {
    return '(unparsable URL)';
  }
}

/** Sleeps `ms`, or less when `signal` aborts. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * A gate that polls a CI system's status URL until it reports success (pass) or failure (fail),
 * or `timeout` passes (fail). Network errors, non-2xx answers and unreadable bodies count as
 * pending and are logged; the deadline bounds them all.
 *
 * @example
 * ```ts
 * ring({
 *   name: 'sandbox',
 *   target,
 *   gates: [ciGate({ name: 'teamcity', statusUrl: 'https://ci.example.com/api/status/{revision}', timeout: '20m', interval: '30s' })],
 * })
 * ```
 */
export function ciGate(options: CiGateOptions): Gate {
  const opts = parseOptions(ciGateOptionsSchema, options, 'gate', 'ciGate');
  const read = opts.expect ?? readState;
  return {
    name: opts.name,
    timeoutMs: opts.timeout,
    describe: () =>
      `${opts.name}: CI status ${redactUrl(opts.statusUrl)} (within ${formatDuration(opts.timeout)})`,
    async run(context): Promise<GateOutcome> {
      const lines: string[] = [];
      let url: string;
      try {
        url = fillUrl(opts.statusUrl, context);
      } catch (error) {
        return { ok: false, log: error instanceof Error ? error.message : String(error) };
      }
      const shown = redactUrl(url);
      const deadline = Date.now() + opts.timeout;
      let polls = 0;
      let last = 'no answer yet';
      // Bounded: every pass waits at least `interval` (or 1 ms), and the deadline ends it.
      while (Date.now() < deadline) {
        if (context.signal.aborted) return { ok: false, log: [...lines, 'stopped'].join('\n') };
        polls++;
        const signal = AbortSignal.any([
          context.signal,
          AbortSignal.timeout(Math.max(1, Math.min(opts.requestTimeout, deadline - Date.now()))),
        ]);
        let state: CiState = 'pending';
        try {
          const response = await fetch(url, { headers: opts.headers, signal, redirect: 'follow' });
          const text = await response.text();
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // not JSON: the reader gets the text
          }
          if (response.ok || opts.expect) state = read(body, { status: response.status });
          last = response.ok ? `HTTP ${response.status}: ${state}` : `HTTP ${response.status}`;
        } catch (error) {
          // A request cut off by the gate's own deadline says nothing about the CI: the last
          // answer stays what the message reports.
          if (Date.now() >= deadline && !context.signal.aborted && polls > 1) {
            lines.push(`poll ${polls} ${shown}: cut off by the deadline`);
            break;
          }
          last = `request failed: ${error instanceof Error ? error.message : String(error)}`;
        }
        lines.push(`poll ${polls} ${shown}: ${last}`);
        if (state === 'success') return { ok: true, log: lines.join('\n') };
        if (state === 'failure') return { ok: false, log: [...lines, `${shown} reports failure`].join('\n') };
        await pause(Math.max(1, Math.min(opts.interval, deadline - Date.now())), context.signal);
      }
      return {
        ok: false,
        log: [
          ...lines,
          `no verdict from ${shown} within ${formatDuration(opts.timeout)} (last: ${last})`,
        ].join('\n'),
      };
    },
  };
}
