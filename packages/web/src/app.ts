/**
 * The team's page as an HTTP application (hono): the project screen, its live updates over
 * Server-Sent Events, history with CSV and JSON export, sign-in, and actions with a preview.
 *
 * Security, in the order a request meets it: a body over 16 KiB is refused (413); the viewer is
 * found from the trusted proxy's header (only from its addresses), else the session cookie;
 * with identities configured, nobody unsigned sees anything (401, or the login form); every POST
 * checks that it comes from this page (Origin) and carries the session's CSRF token (403);
 * actions check the user's permission in the ring (403), that the form was not sent twice and
 * that the ring has not moved since its preview (409, with the new preview). Without identities
 * the page is read-only.
 */
import { randomBytes } from 'node:crypto';
import { getConnInfo } from '@hono/node-server/conninfo';
import {
  type Access,
  ConfigError,
  describeRecord,
  type Engine,
  isRingmasterError,
  type Principal,
  type TypedRecord,
} from '@ringmaster/core';
import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { streamSSE } from 'hono/streaming';
import {
  type ActionRequest,
  type ActionResult,
  PERMISSION,
  type Preview,
  perform,
  preview,
  WEB_ACTIONS,
  type WebAction,
} from './actions.js';
import { Sessions } from './auth.js';
import { type ProjectView, projectView } from './model.js';
import {
  type HistoryRow,
  historyPage,
  hostsTable,
  liveView,
  loginPage,
  messagePage,
  previewPage,
  projectPage,
  type Viewer,
} from './render.js';
import { APP_CSS, APP_JS } from './static.js';

export interface WebAppOptions {
  /** The engine whose ledger the page shows and whose calls its actions make. */
  engine: Engine;
  /** Users and permissions; without, the page is read-only. */
  access?: Access;
  /** The project's name in the page's title. @default 'ringmaster' */
  title?: string;
  /** How long an action's answer waits for its rollout before saying it goes on. @default 3000 */
  actionWaitMs?: number;
  /**
   * The page's address as people reach it (`https://deploy.example.com`): forms posted from it
   * are accepted when a proxy in front rewrote the Host header.
   */
  url?: string;
  /** Mark cookies `Secure` (the page is served over HTTPS, e.g. behind a proxy). @default false */
  secureCookies?: boolean;
  /** Told about an action that failed after its answer was sent (a rollout that went on). */
  onError?: (error: unknown) => void;
}

const SESSION = 'rm_session';
const LOGIN = 'rm_login';
const MAX_BODY = 16 * 1024;
/** How long a preview's form may be confirmed. */
const NONCE_MS = 15 * 60_000;
/** Previews awaiting confirmation at most (the oldest are forgotten first). */
const MAX_NONCES = 10_000;
/** A comment on a quiet live connection this often, so proxies keep it open. */
const KEEP_ALIVE_MS = 15_000;
/** History rows on the page at most (exports have them all). */
const HISTORY_ROWS = 500;

/** HTTP status of a RingmasterError code. */
function statusOf(error: unknown): 400 | 401 | 403 | 404 | 409 | 500 {
  if (!isRingmasterError(error)) return 500;
  switch (error.code) {
    case 'CONFIG':
    case 'UNSAFE_INPUT':
      return 400;
    case 'UNAUTHENTICATED':
      return 401;
    case 'FORBIDDEN':
      return 403;
    case 'NOT_FOUND':
      return 404;
    case 'LOCKED':
    case 'STATE':
    case 'POLICY':
    case 'CONFLICT':
      return 409;
    default:
      return 500;
  }
}

/** The host of an Origin header; undefined for `null` or anything that is not a URL. */
function originHost(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    return undefined;
  }
}

/** `https://deploy.example.com` of a URL; undefined for anything that is not one. */
function originOf(url: string): string | undefined {
  try {
    const origin = new URL(url).origin;
    return origin === 'null' ? undefined : origin;
  } catch {
    return undefined;
  }
}

const plain = (error: unknown) =>
  (error instanceof Error ? error.message : String(error)).replace(/^(\[[^\]]+\] )+/, '');

/** A record's pipeline, ring and person, for the history's filters. */
function historyRow(r: TypedRecord): HistoryRow {
  const d = r.data as { pipeline?: string; ring?: string; by?: string };
  return {
    seq: r.seq,
    time: r.time,
    type: r.type,
    ...(d.pipeline ? { pipeline: d.pipeline } : {}),
    ...(d.ring ? { ring: d.ring } : {}),
    ...(d.by ? { by: d.by } : {}),
    text: (describeRecord(r)[0] ?? r.type).replace(/^\[[^\]]*\] /, ''),
  };
}

function csvCell(value: string | number | undefined): string {
  const text = String(value ?? '');
  // A leading = + - @ would be a formula in a spreadsheet: quote it as text.
  const safe = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** Makes the page's application. Serve it with `serveWeb`, or mount `app.fetch` elsewhere. */
export function createWebApp(options: WebAppOptions) {
  const { engine, access } = options;
  if (access && !engine.authenticatedApprovals)
    throw new ConfigError(
      'access',
      'a page with identities needs an engine that counts only signed-in approvals: createEngine({ …, authenticatedApprovals: true })',
      { scope: 'web' },
    );
  const publicOrigin = options.url ? originOf(options.url) : undefined;
  const title = options.title ?? 'ringmaster';
  const sessions = access ? new Sessions(access) : undefined;
  const nonces = new Map<string, { subject: string; at: number }>();
  const app = new Hono<{ Variables: { principal?: Principal; subject?: string } }>();

  const remote = (c: Context) => {
    try {
      return getConnInfo(c).remote.address ?? 'unknown';
    } catch {
      return 'unknown';
    }
  };

  const viewerOf = (c: Context): Viewer => {
    const principal = c.get('principal') as Principal | undefined;
    const subject = c.get('subject') as string | undefined;
    return {
      identities: access !== undefined,
      ...(principal ? { user: principal.name } : {}),
      ...(subject && sessions ? { csrf: sessions.csrf(subject) } : {}),
      can: (action: WebAction, pipeline: string, ring: string) =>
        Boolean(principal && access?.can(principal, PERMISSION[action], pipeline, ring)),
    };
  };

  app.use('*', async (c, next) => {
    await next();
    c.header(
      'Content-Security-Policy',
      "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    c.header('X-Content-Type-Options', 'nosniff');
    // same-origin, not no-referrer: under no-referrer a browser sends `Origin: null` with the page's own forms.
    c.header('Referrer-Policy', 'same-origin');
    c.header('Cache-Control', 'no-store');
  });
  app.use(
    '*',
    bodyLimit({ maxSize: MAX_BODY, onError: (c) => c.text('request body too large (16 KiB at most)', 413) }),
  );

  // Who is asking: the trusted proxy's header (from its addresses only), else the session.
  app.use('*', async (c, next) => {
    if (sessions) {
      const proxied = await sessions.fromProxy(remote(c), (name) => c.req.header(name));
      if (proxied) {
        c.set('principal', proxied);
        c.set('subject', `proxy:${proxied.name}`);
      } else {
        const id = getCookie(c, SESSION);
        const principal = await sessions.principal(id);
        if (principal && id) {
          c.set('principal', principal);
          c.set('subject', id);
        }
      }
    }
    await next();
  });

  // Every POST: from this page (Origin, when the browser sends it) and with the CSRF token.
  const checkPost = async (
    c: Context,
    subject: string | undefined,
  ): Promise<Record<string, string> | Response> => {
    const origin = c.req.header('origin');
    const host = c.req.header('host');
    // An opaque origin ("null": a sandboxed frame, a file) is not this page either.
    if (origin && host && originHost(origin) !== host && originOf(origin) !== publicOrigin)
      return c.text('forbidden: cross-origin request', 403);
    const body = await c.req.parseBody().catch(() => undefined);
    if (!body) return c.text('bad request: expected a form', 400);
    const fields: Record<string, string> = {};
    for (const [k, v] of Object.entries(body)) {
      if (typeof v !== 'string') return c.text(`bad request: ${k} must be text`, 400);
      fields[k] = v;
    }
    if (!sessions || !subject || !sessions.checkCsrf(subject, fields._csrf))
      return c.text('forbidden: missing or wrong CSRF token; reload the page and try again', 403);
    return fields;
  };

  const needsSignIn = (c: Context) => access !== undefined && c.get('principal') === undefined;

  app.get('/static/app.css', (c) => c.body(APP_CSS, 200, { 'Content-Type': 'text/css; charset=utf-8' }));
  app.get('/static/app.js', (c) => c.body(APP_JS, 200, { 'Content-Type': 'text/javascript; charset=utf-8' }));

  app.get('/login', (c) => {
    if (!sessions)
      return c.html(
        messagePage(
          title,
          viewerOf(c),
          'No sign-in',
          'This page has no identities configured: it is read-only.',
        ),
        404,
      );
    const nonce = randomBytes(16).toString('base64url');
    setCookie(c, LOGIN, nonce, {
      httpOnly: true,
      sameSite: 'Strict',
      path: '/login',
      secure: options.secureCookies ?? false,
      maxAge: 600,
    });
    return c.html(loginPage(title, sessions.csrf(`login:${nonce}`)));
  });

  app.post('/login', async (c) => {
    if (!sessions || !access) return c.text('this page has no identities configured', 404);
    const address = remote(c);
    if (!sessions.mayTryLogin(address)) {
      c.header('Retry-After', String(sessions.retryAfter(address)));
      return c.text('too many failed sign-ins from this address; try again later', 429);
    }
    const nonce = getCookie(c, LOGIN);
    const fields = await checkPost(c, nonce ? `login:${nonce}` : undefined);
    if (fields instanceof Response) return fields;
    const principal = await access.authenticate(fields.token ?? '');
    if (!principal) {
      sessions.loginFailed(address);
      const again = randomBytes(16).toString('base64url');
      setCookie(c, LOGIN, again, {
        httpOnly: true,
        sameSite: 'Strict',
        path: '/login',
        secure: options.secureCookies ?? false,
        maxAge: 600,
      });
      return c.html(
        loginPage(title, sessions.csrf(`login:${again}`), 'That is not a token of this project.'),
        401,
      );
    }
    const id = sessions.open(principal);
    deleteCookie(c, LOGIN, { path: '/login' });
    setCookie(c, SESSION, id, {
      httpOnly: true,
      sameSite: 'Strict',
      path: '/',
      secure: options.secureCookies ?? false,
      maxAge: Math.floor(sessions.ttlMs / 1000),
    });
    return c.redirect('/', 303);
  });

  app.post('/logout', async (c) => {
    if (!c.get('principal')) return c.text('not signed in', 401);
    const fields = await checkPost(c, c.get('subject'));
    if (fields instanceof Response) return fields;
    sessions?.close(getCookie(c, SESSION));
    deleteCookie(c, SESSION, { path: '/' });
    return c.redirect('/login', 303);
  });

  // The view is drawn once per ledger seq (and second: "soak ends in 2h" moves with the clock),
  // and the live fragment once per seq, second, user and open hosts sections: a change followed
  // by a hundred open pages is one render, not a hundred.
  let drawn: { key: string; view: ProjectView; fragments: Map<string, string> } | undefined;
  const drawnView = () => {
    const now = engine.clock.now();
    const key = `${engine.ledger.state.lastSeq}@${Math.floor(now.getTime() / 1000)}`;
    if (drawn?.key !== key) drawn = { key, view: projectView(engine, now), fragments: new Map() };
    return drawn;
  };

  app.get('/', (c) => {
    if (needsSignIn(c)) return c.redirect('/login', 302);
    return c.html(projectPage(title, drawnView().view, viewerOf(c)));
  });

  app.get('/live', async (c) => {
    if (needsSignIn(c)) return c.text('sign in first', 401);
    const open = new Set(
      (c.req.query('open') ?? '')
        .split(',')
        .filter((id) => id !== '')
        .slice(0, 200),
    );
    const d = drawnView();
    const key = `${c.get('principal')?.name ?? ''}|${[...open].sort().join(',')}`;
    let fragment = d.fragments.get(key);
    if (fragment === undefined) {
      fragment = String(await liveView(d.view, viewerOf(c), open));
      if (d.fragments.size < 256) d.fragments.set(key, fragment);
    }
    return c.html(fragment);
  });

  app.get('/hosts', async (c) => {
    if (needsSignIn(c)) return c.text('sign in first', 401);
    const ring = drawnView()
      .view.pipelines.find((p) => p.name === c.req.query('pipeline'))
      ?.rings.find((r) => r.name === c.req.query('ring'));
    if (!ring) return c.text('no such pipeline or ring', 404);
    return c.html(hostsTable(ring));
  });

  // Live updates: an event per change of the ledger (the seq it reached); the page then fetches /live.
  const listeners = new Set<(seq: number) => void>();
  let announced = engine.ledger.state.lastSeq;
  let pending: NodeJS.Timeout | undefined;
  const announce = () => {
    pending ??= setTimeout(() => {
      pending = undefined;
      const seq = engine.ledger.state.lastSeq;
      if (seq === announced) return;
      announced = seq;
      for (const l of listeners) l(seq);
    }, 20);
  };
  engine.on('record', announce);

  app.get('/events', (c) => {
    if (needsSignIn(c)) return c.text('sign in first', 401);
    return streamSSE(c, async (stream) => {
      let wake: (() => void) | undefined;
      let latest = engine.ledger.state.lastSeq;
      const listener = (seq: number) => {
        latest = seq;
        wake?.();
      };
      listeners.add(listener);
      stream.onAbort(() => {
        listeners.delete(listener);
        wake?.();
      });
      try {
        let sent = -1;
        while (!stream.aborted && !stream.closed) {
          if (latest !== sent) {
            sent = latest;
            await stream.writeSSE({ event: 'ledger', data: JSON.stringify({ seq: sent }) });
            continue; // the seq may have moved again while that was written
          }
          const quiet = await new Promise<boolean>((resolve) => {
            const timer = setTimeout(() => resolve(true), KEEP_ALIVE_MS);
            wake = () => {
              clearTimeout(timer);
              resolve(false);
            };
            // A change announced while the last write was under way found no one to wake.
            if (latest !== sent || stream.aborted) wake();
          });
          wake = undefined;
          if (quiet && !stream.aborted) await stream.write(': keep-alive\n\n');
        }
      } finally {
        listeners.delete(listener);
      }
    });
  });

  const filterOf = (c: Context) => {
    const f: { pipeline?: string; ring?: string; by?: string } = {};
    for (const k of ['pipeline', 'ring', 'by'] as const) {
      const v = c.req.query(k)?.trim();
      if (v) f[k] = v.slice(0, 200);
    }
    return f;
  };
  // Every record in words: read from the store once, then from where the last read ended.
  const history: HistoryRow[] = [];
  let reading: Promise<void> | undefined;
  const readHistory = () =>
    (reading ??= (async () => {
      try {
        const last = () => history.at(-1)?.seq ?? 0;
        for (const r of await engine.ledger.read(last())) if (r.seq > last()) history.push(historyRow(r));
      } finally {
        reading = undefined;
      }
    })());
  const historyRows = async (f: { pipeline?: string; ring?: string; by?: string }) => {
    await readHistory();
    return history.filter(
      (r) =>
        (!f.pipeline || r.pipeline === f.pipeline) &&
        (!f.ring || r.ring === f.ring) &&
        (!f.by || r.by === f.by),
    );
  };

  app.get('/history', async (c) => {
    if (needsSignIn(c)) return c.redirect('/login', 302);
    const f = filterOf(c);
    const rows = await historyRows(f);
    return c.html(historyPage(title, viewerOf(c), rows.slice(-HISTORY_ROWS).reverse(), f, rows.length));
  });
  app.get('/history.json', async (c) => {
    if (needsSignIn(c)) return c.text('sign in first', 401);
    c.header('Content-Disposition', 'attachment; filename="ringmaster-history.json"');
    return c.json(await historyRows(filterOf(c)));
  });
  app.get('/history.csv', async (c) => {
    if (needsSignIn(c)) return c.text('sign in first', 401);
    const rows = await historyRows(filterOf(c));
    const lines = [
      'seq,time,type,pipeline,ring,by,what',
      ...rows.map((r) => [r.seq, r.time, r.type, r.pipeline, r.ring, r.by, r.text].map(csvCell).join(',')),
    ];
    return c.body(`${lines.join('\r\n')}\r\n`, 200, {
      'Content-Type': 'text/csv; charset=utf-8',
      'Content-Disposition': 'attachment; filename="ringmaster-history.csv"',
    });
  });

  const requestOf = (get: (k: string) => string | undefined): ActionRequest | string => {
    const action = get('action');
    if (!action || !(WEB_ACTIONS as readonly string[]).includes(action))
      return `action: expected one of ${WEB_ACTIONS.join(', ')}`;
    const pipeline = get('pipeline');
    const ring = get('ring');
    if (!pipeline || !ring) return 'pipeline and ring are required';
    const release = get('release') || undefined;
    return { action: action as WebAction, pipeline, ring, ...(release ? { release } : {}) };
  };

  // A preview's form may be confirmed once, by whom it was drawn for, within NONCE_MS.
  const issueNonce = (subject: string) => {
    const now = Date.now();
    for (const [n, { at }] of nonces) if (at + NONCE_MS < now || nonces.size > MAX_NONCES) nonces.delete(n);
    const nonce = randomBytes(16).toString('base64url');
    nonces.set(nonce, { subject, at: now });
    return nonce;
  };
  const useNonce = (nonce: string, subject: string): boolean => {
    const issued = nonces.get(nonce);
    if (!issued) return false;
    nonces.delete(nonce);
    return issued.subject === subject && issued.at + NONCE_MS >= Date.now();
  };

  /** Why the viewer may not do this at all (then no preview is drawn), or undefined. */
  const refusal = (c: Context, request: ActionRequest): string | undefined => {
    const principal = c.get('principal') as Principal | undefined;
    if (!access) return 'this page is read-only (no identities configured)';
    if (!principal) return 'sign in first';
    if (access.can(principal, PERMISSION[request.action], request.pipeline, request.ring)) return undefined;
    const groups = access.allowedGroups(PERMISSION[request.action], request.pipeline, request.ring);
    return `${principal.name} may not ${request.action} in ${request.pipeline}/${request.ring}${groups.length ? `: only ${groups.join(', ')} may` : ''}`;
  };

  app.get('/preview', async (c) => {
    if (needsSignIn(c)) return c.redirect('/login', 302);
    const request = requestOf((k) => c.req.query(k));
    const viewer = viewerOf(c);
    if (typeof request === 'string') return c.html(messagePage(title, viewer, 'Bad request', request), 400);
    const refused = refusal(c, request);
    if (refused) return c.html(messagePage(title, viewer, 'Not allowed', refused), 403);
    try {
      const p = await preview(engine, request);
      return c.html(previewPage(title, viewer, p, issueNonce(c.get('subject') ?? '')));
    } catch (error) {
      return c.html(messagePage(title, viewer, 'Cannot preview this', plain(error)), statusOf(error));
    }
  });

  app.post('/actions', async (c) => {
    const principal = c.get('principal');
    if (!access) return c.text('forbidden: this page is read-only (no identities configured)', 403);
    if (!principal) return c.text('sign in first', 401);
    const fields = await checkPost(c, c.get('subject'));
    if (fields instanceof Response) return fields;
    const viewer = viewerOf(c);
    const request = requestOf((k) => fields[k]);
    if (typeof request === 'string') return c.html(messagePage(title, viewer, 'Bad request', request), 400);
    const refused = refusal(c, request);
    if (refused) return c.html(messagePage(title, viewer, 'Not allowed', refused), 403);
    const reason = (fields.reason ?? '').slice(0, 500);
    const subject = c.get('subject') ?? '';
    // The preview again, to show when the form is refused (with its commits, asked of the source).
    const again = async (notice: string) =>
      c.html(previewPage(title, viewer, await preview(engine, request), issueNonce(subject), notice), 409);
    let current: Preview;
    try {
      current = await preview(engine, request, { commits: false });
    } catch (error) {
      return c.html(messagePage(title, viewer, 'Not done', plain(error)), statusOf(error));
    }
    if (!useNonce(fields.nonce ?? '', subject))
      return again(
        'This form was already sent (or is too old): nothing was done again. Here is what the action would do now.',
      );
    if (fields.fingerprint !== current.fingerprint)
      return again(
        'The ring changed since this preview was drawn: nothing was done. Here is what the action would do now.',
      );
    const work = perform(
      engine,
      { ...request, reason },
      {
        name: principal.name,
        identity: {
          method: principal.method,
          groups: [...principal.groups],
          ...(principal.commitsAs?.length ? { commitsAs: [...principal.commitsAs] } : {}),
        },
      },
    );
    const waited = await Promise.race([
      work.then(
        (result): { result: ActionResult } => ({ result }),
        (error: unknown) => ({ error }),
      ),
      new Promise<'later'>((resolve) =>
        setTimeout(() => resolve('later'), options.actionWaitMs ?? 3000).unref(),
      ),
    ]);
    if (waited === 'later') {
      work.catch((error) => options.onError?.(error));
      return c.html(
        projectPage(title, drawnView().view, viewer, {
          ok: true,
          text: `${current.title}: under way; this page follows it live`,
        }),
        202,
      );
    }
    if ('error' in waited) {
      return c.html(
        projectPage(title, drawnView().view, viewer, {
          ok: false,
          text: `${current.title}: not done: ${plain(waited.error)}`,
        }),
        statusOf(waited.error),
      );
    }
    return c.html(
      projectPage(title, drawnView().view, viewer, { ok: waited.result.ok, text: waited.result.message }),
      waited.result.ok ? 200 : 500,
    );
  });

  app.notFound((c) => c.html(messagePage(title, viewerOf(c), 'Not found', `nothing at ${c.req.path}`), 404));
  app.onError((error, c) => {
    options.onError?.(error);
    return c.text(`error: ${plain(error)}`, statusOf(error));
  });

  return {
    app,
    /** Stops announcing changes (call when the server closes). */
    close() {
      engine.off('record', announce);
      if (pending) clearTimeout(pending);
      listeners.clear();
    },
    /** Open live connections. */
    get clients() {
      return listeners.size;
    },
  };
}
