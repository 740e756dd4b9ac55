/** External CI gates against a real loopback HTTP server: polling a status URL, and signed webhooks. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ciGate,
  type GateContext,
  type GateOptions,
  isRingmasterError,
  localTarget,
  signWebhook,
  webhookGate,
} from '../src/index.js';
import { world } from './helpers.js';

const context = (signal = new AbortController().signal): GateContext => ({
  pipeline: 'app',
  ring: 'sandbox',
  release: { id: '1.0.7', version: '1.0.7', revision: 'abc123' },
  hosts: ['sb-1'],
  target: localTarget({ root: '/nonexistent', hosts: ['sb-1'] }),
  signal,
  log: () => {},
});

// A fake CI system: per path, a queue of answers; the last one repeats.
const answers = new Map<string, { status: number; body: string }[]>();
const seen: { path: string; auth?: string }[] = [];
let ci: Server;
let base: string;

beforeAll(async () => {
  ci = createServer((req, res) => {
    seen.push({
      path: req.url ?? '',
      ...(req.headers.authorization ? { auth: req.headers.authorization } : {}),
    });
    const queue = answers.get((req.url ?? '').split('?')[0]!) ?? [{ status: 404, body: 'no such build' }];
    const next = queue.length > 1 ? queue.shift()! : queue[0]!;
    res.writeHead(next.status, { 'content-type': 'application/json' });
    res.end(next.body);
  });
  await new Promise<void>((resolve) => ci.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(ci.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => ci.close(resolve));
});

const state = (s: string) => ({ status: 200, body: JSON.stringify({ state: s }) });

describe('ciGate: polls a status URL', () => {
  it('waits through pending, a 503 and garbage, then passes on success; the URL gets the revision, the log hides the token', async () => {
    answers.set('/status/abc123', [
      state('pending'),
      { status: 503, body: 'busy' },
      { status: 200, body: 'not json' },
      state('success'),
    ]);
    const gate = ciGate({
      name: 'teamcity',
      statusUrl: `${base}/status/{revision}?token=s3cret`,
      interval: 5,
      timeout: '20s',
      headers: { authorization: 'Bearer hunter2' },
    });
    const outcome = await gate.run(context());
    expect(outcome.ok).toBe(true);
    expect(outcome.log.split('\n')).toEqual([
      `poll 1 ${base}/status/abc123?…: HTTP 200: pending`,
      `poll 2 ${base}/status/abc123?…: HTTP 503`,
      `poll 3 ${base}/status/abc123?…: HTTP 200: pending`,
      `poll 4 ${base}/status/abc123?…: HTTP 200: success`,
    ]);
    expect(outcome.log).not.toContain('s3cret');
    expect(seen.at(-1)).toEqual({ path: '/status/abc123?token=s3cret', auth: 'Bearer hunter2' });
  });

  it('fails on failure, and on no verdict by the deadline', async () => {
    answers.set('/fail', [state('pending'), state('failure')]);
    const failed = await ciGate({ name: 'ci', statusUrl: `${base}/fail`, interval: 5 }).run(context());
    expect(failed.ok).toBe(false);
    expect(failed.log).toContain('reports failure');

    // The deadline leaves room for the first answer even on a loaded machine (a request cut off
    // by a 300 ms deadline under load made 'last' a timeout instead of the answer).
    answers.set('/slow', [state('pending')]);
    const late = await ciGate({ name: 'ci', statusUrl: `${base}/slow`, interval: 20, timeout: 2_000 }).run(
      context(),
    );
    expect(late.ok).toBe(false);
    expect(late.log).toContain('no verdict from');
    expect(late.log).toContain('last: HTTP 200: pending');
  });

  it('hostile revisions are encoded into one path segment, and a bare ".." is refused without a request', async () => {
    answers.set('/status/a%2F..%2Fadmin%3Fx%3D1', [state('success')]);
    const gate = ciGate({ name: 'ci', statusUrl: `${base}/status/{revision}`, interval: 5, timeout: 2_000 });
    const hostile = { ...context(), release: { id: '1', version: '1', revision: 'a/../admin?x=1' } };
    expect((await gate.run(hostile)).ok).toBe(true);
    expect(seen.at(-1)!.path).toBe('/status/a%2F..%2Fadmin%3Fx%3D1');
    const requests = seen.length;
    const climb = await gate.run({ ...context(), release: { id: '1', version: '1', revision: '..' } });
    expect(climb.ok).toBe(false);
    expect(climb.log).toContain('refusing ".." as the {revision}');
    expect(seen.length).toBe(requests);
  });

  it('reads a custom body with expect, and refuses a non-http URL at the factory', async () => {
    answers.set('/tc', [{ status: 200, body: JSON.stringify({ build: { status: 'SUCCESS' } }) }]);
    const gate = ciGate({
      name: 'tc',
      statusUrl: `${base}/tc`,
      expect: (body) =>
        (body as { build: { status: string } }).build.status === 'SUCCESS' ? 'success' : 'failure',
    });
    expect((await gate.run(context())).ok).toBe(true);
    const error = (() => {
      try {
        ciGate({ name: 'x', statusUrl: 'file:///etc/passwd' });
      } catch (e) {
        return e;
      }
    })();
    expect(isRingmasterError(error, 'CONFIG')).toBe(true);
    expect((error as Error).message).toContain('ciGate.statusUrl');
  });

  it('as a ring gate: a CI failure fails the release in sandbox and the ring rolls back', async () => {
    answers.set('/verdict/1.0.1', [state('success')]);
    answers.set('/verdict/1.0.2', [state('failure')]);
    const teamcity = ciGate({ name: 'teamcity', statusUrl: `${base}/verdict/{version}`, interval: 5 });
    // ring() takes a built Gate as well as gate options.
    const w = await world({ gates: { sandbox: [teamcity as unknown as GateOptions] } });
    await w.engine.tick();
    await w.source.commit({ 'app.txt': 'v2\n' }, 'second', 'bob');
    await w.engine.tick();
    expect(await w.versions('sandbox')).toEqual(['1.0.1', '1.0.1']);
    const gates = w.engine.ledger.state.pipelines.get('app')!.gates.filter((g) => g.gate === 'teamcity');
    expect(gates.map((g) => [g.release, g.ok])).toEqual([
      ['1.0.1', true],
      ['1.0.2', false],
    ]);
  });
});

async function post(url: string, body: string, headers: Record<string, string> = {}) {
  const r = await fetch(url, { method: 'POST', body, headers });
  return r.status;
}

describe('webhookGate: waits for a signed webhook', () => {
  const secret = 'a-shared-secret-of-some-length';

  it('refuses a bad signature (401) and another release (409), then passes on a signed success', async () => {
    let listening: (url: string) => void = () => {};
    const url = new Promise<string>((resolve) => {
      listening = resolve;
    });
    const gate = webhookGate({ name: 'ci', secret, timeout: '20s', onListening: (u) => listening(u) });
    const outcome = gate.run(context());
    const to = await url;
    expect(to).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const good = JSON.stringify({ state: 'success', revision: 'abc123' });
    expect(await post(to, good)).toBe(401);
    expect(
      await post(to, good, { 'x-ringmaster-signature': signWebhook('wrong-secret-wrong-secret', good) }),
    ).toBe(401);
    const other = JSON.stringify({ state: 'success', revision: 'def456' });
    expect(await post(to, other, { 'x-ringmaster-signature': signWebhook(secret, other) })).toBe(409);
    expect((await fetch(to)).status).toBe(405);
    expect(await post(to, good, { 'x-ringmaster-signature': signWebhook(secret, good) })).toBe(202);
    const result = await outcome;
    expect(result.ok).toBe(true);
    expect(result.log).toContain('refused a webhook from 127.0.0.1: bad or missing signature');
    expect(result.log).toContain('ignored a webhook for another release (def456)');
    expect(result.log).not.toContain(secret);
    // The listener is gone once the gate has its verdict.
    await expect(fetch(to)).rejects.toThrow();
  });

  it('a signed failure fails the gate; no webhook by the deadline fails it too', async () => {
    let listening: (url: string) => void = () => {};
    const url = new Promise<string>((resolve) => {
      listening = resolve;
    });
    const failing = webhookGate({ name: 'ci', secret, onListening: (u) => listening(u) }).run(context());
    const body = JSON.stringify({ state: 'failure' });
    expect(await post(await url, body, { 'x-ringmaster-signature': signWebhook(secret, body) })).toBe(202);
    expect((await failing).ok).toBe(false);

    const late = await webhookGate({ name: 'ci', secret, timeout: 200 }).run(context());
    expect(late.ok).toBe(false);
    expect(late.log).toContain('no verdict by webhook within');
  });

  it('refuses a short secret at the factory without printing it', () => {
    const error = (() => {
      try {
        webhookGate({ name: 'ci', secret: 'short-one' });
      } catch (e) {
        return e;
      }
    })();
    expect(isRingmasterError(error, 'CONFIG')).toBe(true);
    expect((error as Error).message).toContain('webhookGate.secret');
    expect((error as Error).message).not.toContain('short-one');
  });
});
