/** The Slack notifier against a real HTTP server on loopback, standing in for Slack's webhook. */

import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isRingmasterError, type Notification, slackNotifier, slackText } from '../src/index.js';
import { world } from './helpers.js';

const SECRET = 'T0AAA/B0BBB/XyZsEcReT42';
const passed: Notification = {
  kind: 'build',
  pipeline: 'shop',
  ok: true,
  summary: 'build of abc123 passed: release 1.0.5',
};
const failed: Notification = {
  kind: 'rollout',
  pipeline: 'shop',
  ok: false,
  ring: 'prod',
  summary: 'deploy of 1.0.5 to prod rolled-back: prod-2: install failed',
  log: 'Unpacking shop (1.0.5) ...\ndpkg: error processing package shop (--configure):\n\n',
};
const approval: Notification = {
  kind: 'approval',
  pipeline: 'shop',
  ok: true,
  ring: 'prod',
  summary: 'shop 1.0.5 waits for approval in prod: waiting for 1 more approval',
  url: 'https://deploy.example.com/',
};

interface Received {
  method: string;
  path: string;
  contentType: string | undefined;
  body: string;
}
const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    s.close();
  }
});

/** A webhook on loopback at `/services/<SECRET>`; `answer` decides each response (none: 200 `ok`). */
async function slack(answer?: (res: ServerResponse) => void) {
  const received: Received[] = [];
  const read = (req: IncomingMessage) =>
    new Promise<string>((resolve) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => resolve(body));
    });
  const server = createServer(async (req, res) => {
    received.push({
      method: req.method ?? '',
      path: req.url ?? '',
      contentType: req.headers['content-type'],
      body: await read(req),
    });
    if (answer) answer(res);
    else res.end('ok');
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}/services/${SECRET}`, received };
}

const textOf = (r: Received) => (JSON.parse(r.body) as { text: string }).text;

describe('slack notifier', () => {
  it('POSTs exactly { text } as JSON, one line per notification', async () => {
    const s = await slack();
    await slackNotifier({ url: s.url }).notify(passed);
    expect(s.received).toHaveLength(1);
    expect(s.received[0]!.method).toBe('POST');
    expect(s.received[0]!.path).toBe(`/services/${SECRET}`);
    expect(s.received[0]!.contentType).toBe('application/json');
    expect(s.received[0]!.body).toBe(
      JSON.stringify({ text: '[OK] shop: build of abc123 passed: release 1.0.5' }),
    );
  });

  it('escapes &, < and > so a commit message cannot mention the channel or plant a link', async () => {
    const s = await slack();
    await slackNotifier({ url: s.url }).notify({
      ...failed,
      summary: 'build of abc failed: <!here> <@U024BE7LH> fix & <https://evil.example|click me>',
      log: '',
      url: 'https://deploy.example.com/shop?ring=prod&x=<b>|y',
    });
    const text = textOf(s.received[0]!);
    expect(text).toBe(
      '[FAILED] shop: build of abc failed: &lt;!here&gt; &lt;@U024BE7LH&gt; fix &amp; ' +
        '&lt;https://evil.example|click me&gt; ' +
        '<https://deploy.example.com/shop?ring=prod&amp;x=%3Cb%3E%7Cy|open>',
    );
    // The only link is the page's: every other angle bracket arrived escaped.
    expect(text.match(/</g)).toHaveLength(1);
    // A link that is not http(s) is left out rather than made clickable.
    expect(slackText({ ...passed, url: 'javascript:alert(1)' })).toBe(
      '[OK] shop: build of abc123 passed: release 1.0.5',
    );
    // An address the summary already carries is not linked twice.
    const inline = { ...approval, summary: `${approval.summary} — approve: ${approval.url}` };
    expect(slackText(inline)).toBe(`[APPROVAL] shop: ${inline.summary}`);
  });

  it("a failure carries its reason and the log's last line, on one capped line", () => {
    expect(slackText(failed)).toBe(
      '[FAILED] shop: deploy of 1.0.5 to prod rolled-back: prod-2: install failed' +
        ' | log: dpkg: error processing package shop (--configure):',
    );
    // Not repeated when the summary says it already.
    expect(slackText({ ...failed, log: 'x\nprod-2: install failed\n' })).toBe(
      '[FAILED] shop: deploy of 1.0.5 to prod rolled-back: prod-2: install failed',
    );
    const long = slackText({ ...failed, summary: `line one\nline\ttwo\r\n${'&'.repeat(5000)}`, log: '' });
    expect(long).not.toMatch(/[\n\r\t]/);
    expect(long.startsWith('[FAILED] shop: line one line two &amp;')).toBe(true);
    expect(long.length).toBeLessThanOrEqual(3000);
    expect(long.endsWith('&amp;...')).toBe(true); // cut between entities, never inside one
  });

  it("an engine's failed build reaches the channel with what the build said", async () => {
    const s = await slack();
    const w = await world({
      buildSteps: [['sh', '-c', 'echo "npm ERR! missing script: bundle" >&2; exit 2']],
    });
    (w.app.notifiers as unknown[]).push(slackNotifier({ url: s.url, minSeverity: 'failure' }));
    await w.engine.tick();
    const texts = s.received.map(textOf);
    expect(texts).toHaveLength(1);
    expect(texts[0]).toMatch(/^\[FAILED\] app: build of \w+ failed: /);
    expect(texts[0]).toContain('npm ERR! missing script: bundle');
  });

  it("minSeverity 'failure' mutes good news and approvals; 'action' keeps approvals", async () => {
    const s = await slack();
    const failuresOnly = slackNotifier({ url: s.url, minSeverity: 'failure' });
    await failuresOnly.notify(passed);
    await failuresOnly.notify(approval);
    expect(s.received).toHaveLength(0);
    await failuresOnly.notify(failed);
    expect(s.received.map(textOf)).toEqual([expect.stringMatching(/^\[FAILED\] /)]);

    const actions = slackNotifier({ url: s.url, minSeverity: 'action' });
    await actions.notify(passed);
    await actions.notify(approval);
    expect(s.received.map(textOf).slice(1)).toEqual([
      '[APPROVAL] shop: shop 1.0.5 waits for approval in prod: waiting for 1 more approval <https://deploy.example.com/|open>',
    ]);
  });

  it("a refusal names the status and Slack's answer, never the URL's secret path", async () => {
    const s = await slack((res) => {
      res.statusCode = 500;
      res.end(`no_service\nfor /services/${SECRET}\n`);
    });
    const error = await slackNotifier({ url: s.url })
      .notify(failed)
      .catch((e: unknown) => e);
    expect(isRingmasterError(error, 'NOTIFY')).toBe(true);
    const message = (error as Error).message;
    expect(message).toContain('HTTP 500: no_service');
    expect(message).toContain('127.0.0.1');
    expect(message).not.toContain('XyZsEcReT42');
    expect(message).not.toContain('/services');
    expect(s.received).toHaveLength(1); // one attempt: the engine records the failure

    // A proxy in front that echoes the path it could not route: the secret is cut out of that too.
    const proxy = await slack((res) => {
      res.statusCode = 404;
      res.end(`no route for POST /services/${SECRET}`);
    });
    const echoed = await slackNotifier({ url: proxy.url })
      .notify(failed)
      .catch((e: unknown) => e);
    expect((echoed as Error).message).toContain('HTTP 404: no route for POST /…');
    expect((echoed as Error).message).not.toContain('XyZsEcReT42');

    // Nobody listening: the reason, again without the path.
    const closed = new URL(s.url);
    servers[0]!.close();
    await new Promise((r) => setTimeout(r, 20));
    const refused = await slackNotifier({ url: closed.href })
      .notify(failed)
      .catch((e: unknown) => e);
    expect(isRingmasterError(refused, 'NOTIFY')).toBe(true);
    expect((refused as Error).message).toContain('ECONNREFUSED');
    expect((refused as Error).message).not.toContain('XyZsEcReT42');
  });

  it('a webhook that never answers fails after the timeout', async () => {
    const s = await slack(() => {
      // Takes the request and says nothing.
    });
    const started = performance.now();
    const error = await slackNotifier({ url: s.url, timeout: 150 })
      .notify(failed)
      .catch((e: unknown) => e);
    const took = performance.now() - started;
    expect(isRingmasterError(error, 'NOTIFY')).toBe(true);
    expect((error as Error).message).toContain('no answer within 150ms');
    expect((error as Error).message).not.toContain('XyZsEcReT42');
    expect(took).toBeGreaterThanOrEqual(140);
    expect(took).toBeLessThan(3000);
    expect(s.received).toHaveLength(1);
  });

  it('its name, in the ledger and on the page, carries no part of the secret path', async () => {
    const s = await slack();
    const hook = slackNotifier({ url: s.url });
    expect(hook.name).toMatch(/^slack http:\/\/127\.0\.0\.1:\d+ #[0-9a-f]{8}$/);
    expect(hook.name).not.toContain('XyZsEcReT42');
    expect(slackNotifier({ url: s.url.replace('XyZsEcReT42', 'other') }).name).not.toBe(hook.name);
    expect(slackNotifier({ url: s.url, name: 'deploys channel' }).name).toBe('deploys channel');
    let refused: unknown;
    try {
      slackNotifier({ url: s.url, name: `slack /services/${SECRET}` });
    } catch (e) {
      refused = e;
    }
    expect(isRingmasterError(refused, 'CONFIG')).toBe(true);
    expect((refused as Error).message).toContain('slackNotifier.name');
    expect((refused as Error).message).not.toContain('XyZsEcReT42');

    const w = await world();
    (w.app.notifiers as unknown[]).push(hook);
    await w.engine.tick();
    expect(s.received.length).toBeGreaterThan(0);
    const journal = await readFile(join(w.dir, 'ledger', 'journal.jsonl'), 'utf8');
    expect(journal).toContain('notification.sent');
    expect(journal).not.toContain('XyZsEcReT42');
  });

  it('rejects a URL that is not http(s) when it is built, before any notification', () => {
    let error: unknown;
    try {
      slackNotifier({ url: 'file:///etc/passwd' });
    } catch (e) {
      error = e;
    }
    expect(isRingmasterError(error, 'CONFIG')).toBe(true);
    expect((error as Error).message).toContain('slackNotifier.url');
  });
});
