/** Notifiers against a real HTTP server on loopback and a real command. */

import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { commandNotifier, isRingmasterError, type Notification, webhookNotifier } from '../src/index.js';
import { tempDir, world } from './helpers.js';

const note: Notification = {
  kind: 'build',
  pipeline: 'app',
  ok: false,
  summary: 'build of abc failed',
  author: 'alice@example.com',
};
const servers: { close(): void }[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/** An HTTP server that answers with the given statuses in turn and keeps what it received. */
async function receiver(statuses: number[]) {
  const received: { body: string; auth?: string }[] = [];
  const read = (req: IncomingMessage) =>
    new Promise<string>((resolve) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => resolve(body));
    });
  const server = createServer(async (req, res) => {
    received.push({
      body: await read(req),
      ...(req.headers.authorization ? { auth: req.headers.authorization } : {}),
    });
    res.statusCode = statuses[Math.min(received.length - 1, statuses.length - 1)]!;
    res.end();
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received };
}

describe('webhook notifier', () => {
  it('POSTs the notification as JSON, retrying server errors', async () => {
    const r = await receiver([503, 500, 200]);
    await webhookNotifier({ url: r.url, headers: { authorization: 'Bearer s3cret' }, backoff: 10 }).notify(
      note,
    );
    expect(r.received).toHaveLength(3);
    expect(JSON.parse(r.received[2]!.body)).toEqual(note);
    expect(r.received[2]!.auth).toBe('Bearer s3cret');
  });

  it('gives up on a refusal without retrying, and the error carries no secret', async () => {
    const r = await receiver([403]);
    const error = await webhookNotifier({
      url: r.url,
      headers: { authorization: 'Bearer s3cret' },
      backoff: 10,
    })
      .notify(note)
      .catch((e: unknown) => e);
    expect(isRingmasterError(error, 'NOTIFY')).toBe(true);
    expect((error as Error).message).toContain('HTTP 403');
    expect((error as Error).message).not.toContain('s3cret');
    expect(r.received).toHaveLength(1);
  });

  it("keeps an incoming webhook's secret path out of its name (so out of the ledger and the page)", async () => {
    const r = await receiver([200, 200, 200, 200, 200, 200, 200, 200, 200, 200]);
    const url = `${r.url}/services/T0/B0/XYZSECRET`;
    const hook = webhookNotifier({ url });
    expect(hook.name).not.toContain('XYZSECRET');
    expect(webhookNotifier({ url: `${r.url}/services/T0/B0/OTHER` }).name).not.toBe(hook.name);
    const w = await world();
    (w.app.notifiers as unknown[]).push(hook);
    await w.engine.tick();
    const journal = await readFile(join(w.dir, 'ledger', 'journal.jsonl'), 'utf8');
    expect(journal).toContain('notification.sent');
    expect(journal).not.toContain('XYZSECRET');
  });

  it('does not send again what a ledger recorded as sent under the former name of a notifier', async () => {
    const w = await world();
    const seen: string[] = [];
    (w.app.notifiers as unknown[]).push({
      name: 'old name',
      notify: async (n: Notification) => void seen.push(n.summary),
    });
    await w.engine.tick();
    const before = seen.length;
    expect(before).toBeGreaterThan(0);
    (w.app.notifiers as unknown[]).pop();
    const renamed: string[] = [];
    (w.app.notifiers as unknown[]).push({
      name: 'new name',
      formerNames: ['old name'],
      notify: async (n: Notification) => void renamed.push(n.summary),
    });
    await w.engine.tick();
    expect(renamed).toEqual([]);
  });

  it('a failing notifier never stops a deployment; the failure is in the ledger', async () => {
    const r = await receiver([500]);
    const w = await world();
    (w.app.notifiers as unknown[]).push(webhookNotifier({ url: r.url, retries: 1, backoff: 5 }));
    await w.engine.tick();
    expect(await w.versions('prod')).toEqual(['1.0.1', '1.0.1']);
    const failed = (await w.store.read()).filter(
      (rec) => rec.type === 'notification.sent' && rec.data.ok === false,
    );
    expect(failed.length).toBeGreaterThan(0);
    expect(String(failed[0]!.data.error)).toContain('HTTP 500');
  });
});

describe('command notifier', () => {
  it('hands the notification to the command as JSON on stdin', async () => {
    const dir = await tempDir();
    const out = join(dir, 'mail.json');
    await commandNotifier({ run: ['sh', '-c', `cat > ${out}; echo "$RINGMASTER_TO" >> ${out}.to`] }).notify(
      note,
    );
    expect(JSON.parse(await readFile(out, 'utf8'))).toEqual(note);
    expect((await readFile(`${out}.to`, 'utf8')).trim()).toBe('alice@example.com');
  });

  it('reports a failing command with its stderr', async () => {
    const error = await commandNotifier({ run: ['sh', '-c', 'echo "sendmail: no route" >&2; exit 75'] })
      .notify(note)
      .catch((e: unknown) => e);
    expect(isRingmasterError(error, 'NOTIFY')).toBe(true);
    expect((error as Error).message).toContain('exited 75');
    expect((error as Error).message).toContain('sendmail: no route');
  });
});
