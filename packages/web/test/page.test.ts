/// <reference lib="dom" />
/**
 * The team page end to end, on the real components: a git repository, real sshd hosts, the
 * built `ringmaster` CLI (`user add`, `watch --once`, `serve`) and Debian's Chromium driven by
 * playwright-core. What a team sees and does: three rings, an approval by someone in oncall that
 * reaches prod live without a reload, a viewer without buttons whose forged POST is refused, a
 * hostile commit message shown as text, the CSV export — and every way a request can be wrong.
 */
import { readdir, readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { launchBrowser, signIn as signInAt } from '@ringmaster/web/testing';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RealProject, realProject, type Served, serveProject, shopConfig } from '../../cli/test/lab.js';

const CONFIG = `${shopConfig({ prodTo: 4, prodPolicy: "manual({ group: ['oncall'] })" })}
  access: {
    permissions: {
      '*': { lock: ['oncall'], deploy: ['oncall'], rollback: ['oncall'], approve: ['oncall'] },
    },
    admins: ['oncall'],
    // A signing-in proxy, believed only from 127.0.0.2 (the tests connect from 127.0.0.1).
    proxy: { header: 'X-Forwarded-User', from: ['127.0.0.2'] },
  },
  web: { url: 'http://127.0.0.1:1/' },
};
`;

/** A commit message a hostile contributor might write: it must be shown, never run. */
const HOSTILE = `Speed up <img src=x onerror="window.__xss=1"> checkout <script>window.__xss=2</script>`;

let w: RealProject;
let served: Served;
let url: string;
let browser: Browser;
const tokens: Record<string, string> = {};

/** `ringmaster user add`: the first user needs no token, later ones an admin's (alice's). */
async function addUser(name: string, ...groups: string[]): Promise<string> {
  const run = await w.runAs(
    { RINGMASTER_TOKEN: tokens.alice },
    'user',
    'add',
    name,
    ...groups.flatMap((g) => ['--group', g]),
  );
  expect(run.code, run.stderr).toBe(0);
  const token = run.stdout.trim();
  expect(token).toMatch(/^rmt_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
  expect(run.stderr).toContain('shown only now');
  return token;
}

/** Signs in with the login form, as a person does. */
async function signIn(page: Page, token: string): Promise<void> {
  await signInAt(page, url, token);
  expect(page.url()).toBe(`${url}/`);
}

/** A signed-in session for plain HTTP requests: its cookie and its CSRF token. */
async function session(token: string): Promise<{ cookie: string; csrf: string }> {
  const form = await fetch(`${url}/login`);
  const login = /rm_login=([^;]+)/.exec(form.headers.get('set-cookie') ?? '')![1]!;
  const csrf = /name="_csrf" value="([^"]+)"/.exec(await form.text())![1]!;
  const res = await fetch(`${url}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: `rm_login=${login}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token, _csrf: csrf }),
  });
  expect(res.status).toBe(303);
  const setCookie = res.headers.get('set-cookie') ?? '';
  expect(setCookie).toMatch(/rm_session=[^;]+;.*HttpOnly/i);
  expect(setCookie).toMatch(/SameSite=Strict/i);
  const cookie = `rm_session=${/rm_session=([^;]+)/.exec(setCookie)![1]}`;
  const page = await (await fetch(`${url}/`, { headers: { cookie } })).text();
  return { cookie, csrf: /name="_csrf" value="([^"]+)"/.exec(page)![1]! };
}

/** A preview's form fields, read from the preview page. */
async function previewForm(cookie: string, query: string): Promise<Record<string, string>> {
  const res = await fetch(`${url}/preview?${query}`, { headers: { cookie } });
  expect(res.status, await res.clone().text()).toBe(200);
  const text = await res.text();
  const fields: Record<string, string> = {};
  for (const m of text.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g))
    fields[m[1]!] = m[2]!;
  return fields;
}

const post = (path: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
  fetch(`${url}${path}`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields),
  });

/** Records of `type` about prod (rings others than prod are locked and rolled back on purpose). */
const countOf = async (type: string, ring = 'prod') =>
  (await w.records()).filter((r) => r.type === type && (r.data as { ring?: string }).ring === ring).length;

/** A GET from a chosen local address (the whole of 127/8 is loopback). */
function getFrom(localAddress: string, path: string, headers: Record<string, string>) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(`${url}${path}`, { localAddress, headers }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  w = await realProject('web', 4, CONFIG);
  tokens.alice = await addUser('alice', 'oncall');
  tokens.victor = await addUser('victor');
  // The page starts before anything is built: it draws the rings from the config, and follows
  // what other processes (the CLI's watch) write.
  served = await serveProject(w.dir);
  url = served.url;
  browser = await launchBrowser();
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await served?.stop();
  await w?.stop();
});

describe('the team page', () => {
  it('draws the rings from the config before the first release, then follows the builds of another process', async () => {
    const { cookie } = await session(tokens.alice!);
    const empty = await (await fetch(`${url}/live`, { headers: { cookie } })).text();
    expect(empty.match(/<article class="ring/g)).toHaveLength(3);
    expect(empty).toContain('No release yet');
    expect(empty.match(/runs nothing yet/g)).toHaveLength(3);
    w.commit({ 'index.html': '<h1>shop</h1>\n' }, 'First page', 'alice');
    // Builds 1.0.1, rolls it to eng and sandbox; prod waits for an approval from oncall.
    for (let i = 0; i < 3; i++) expect((await w.run('watch', '--once')).code).toBe(0);
    w.commit({ 'index.html': '<h1>shop 2</h1>\n' }, HOSTILE, 'bob');
    for (let i = 0; i < 3; i++) expect((await w.run('watch', '--once')).code).toBe(0);
    await expect
      .poll(
        async () => (await (await fetch(`${url}/live`, { headers: { cookie } })).text()).includes('1.0.2'),
        {
          timeout: 10_000,
        },
      )
      .toBe(true);
  });

  it('believes the signing-in proxy only from its own address', async () => {
    const header = { 'X-Forwarded-User': 'alice' };
    const trusted = await getFrom('127.0.0.2', '/', header);
    expect(trusted.status).toBe(200);
    expect(trusted.body).toContain('signed in as <strong data-testid="user">alice</strong>');
    const spoofed = await getFrom('127.0.0.1', '/', header);
    expect(spoofed.status).toBe(302);
    const stranger = await getFrom('127.0.0.2', '/', { 'X-Forwarded-User': 'mallory' });
    expect(stranger.status).toBe(302);
  });

  it('refuses every request without a sign-in: 401 for data and changes, the login form for pages', async () => {
    const home = await fetch(`${url}/`, { redirect: 'manual' });
    expect(home.status).toBe(302);
    expect(home.headers.get('location')).toBe('/login');
    for (const path of ['/live', '/events', '/history.csv', '/history.json'])
      expect((await fetch(`${url}${path}`)).status, path).toBe(401);
    for (const path of ['/actions', '/logout'])
      expect(
        (await post(path, { action: 'lock', pipeline: 'shop', ring: 'prod', reason: 'x' })).status,
        path,
      ).toBe(401);
    expect(await countOf('ring.locked')).toBe(0);
  });

  it('shows the three rings to a signed-in approver, with the hostile commit message as text', async () => {
    const page = await browser.newPage();
    try {
      await signIn(page, tokens.alice!);
      await expect.poll(() => page.locator('article.ring').count()).toBe(3);
      const rings = await page
        .locator('article.ring')
        .evaluateAll((els) => els.map((e) => e.getAttribute('data-ring')));
      expect(rings).toEqual(['eng', 'sandbox', 'prod']);
      expect(await page.locator('#ring-shop-sandbox [data-testid=release]').textContent()).toBe('1.0.2');
      expect(await page.locator('#ring-shop-prod [data-testid=release]').textContent()).toBe(
        'runs nothing yet',
      );
      expect(await page.locator('#ring-shop-prod [data-testid=next]').textContent()).toContain(
        'waiting for 1 more approval from oncall',
      );
      // The message is on the release row, as text; neither handler ran.
      expect(await page.locator('table.timeline').textContent()).toContain('<script>window.__xss=2</script>');
      expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
      expect(await page.locator('table.timeline img, table.timeline script').count()).toBe(0);
      expect(await page.locator('[data-testid=user]').textContent()).toBe('alice');
      // The README's picture: prod waits for an approval, with a hostile message on the timeline.
      if (process.env.RINGMASTER_SCREENSHOT)
        await page.screenshot({ path: process.env.RINGMASTER_SCREENSHOT, fullPage: true });
    } finally {
      await page.close();
    }
  });

  it('an approval from the page reaches prod live, without a reload', async () => {
    const page = await browser.newPage();
    try {
      await signIn(page, tokens.alice!);
      await page.evaluate(() => {
        (window as unknown as { __loadedOnce: boolean }).__loadedOnce = true;
      });
      await page.click('#ring-shop-prod a.action.approve');
      await page.waitForURL(/\/preview\?/);
      expect(await page.locator('[data-testid=preview] h2').textContent()).toBe(
        'Approve shop 1.0.2 for prod',
      );
      await page.fill('input[name=reason]', 'CAB-42');
      await Promise.all([page.waitForURL(`${url}/actions`), page.click('[data-testid=confirm]')]);
      expect(await page.locator('[data-testid=flash]').textContent()).toBe(
        'approved 1.0.2 for shop/prod as alice',
      );
      const approvals = (await w.records()).filter((r) => r.type === 'approval.recorded');
      expect(approvals).toHaveLength(1);
      expect(approvals[0]!.data).toMatchObject({
        by: 'alice',
        via: 'api',
        comment: 'CAB-42',
        identity: { method: 'session', groups: ['oncall'] },
      });
      // Back on the project page, a runner promotes it; the page follows over SSE.
      await page.goto(`${url}/`);
      await page.evaluate(() => {
        (window as unknown as { __loadedOnce: boolean }).__loadedOnce = true;
      });
      await expect.poll(() => page.locator('#live-status').textContent()).toBe('live');
      const watch = await w.run('watch', '--once');
      expect(watch.code, watch.stderr).toBe(0);
      await expect
        .poll(() => page.locator('#ring-shop-prod [data-testid=release]').textContent(), { timeout: 15_000 })
        .toBe('1.0.2');
      expect(await page.evaluate(() => (window as unknown as { __loadedOnce?: boolean }).__loadedOnce)).toBe(
        true,
      );
      expect(await w.versions('shop')).toEqual(['1.0.2', '1.0.2', '1.0.2', '1.0.2']);
      // prod's hosts, loaded when opened: each host's version and last step.
      await page.click('#hosts-shop-prod summary');
      const rows = page.locator('#hosts-shop-prod table.hosts tbody tr');
      await expect.poll(() => rows.count()).toBe(2);
      expect(await rows.allTextContents()).toEqual([
        expect.stringMatching(/web-3\s*1\.0\.2\s*deploy prod#\d+ ok/),
        expect.stringMatching(/web-4\s*1\.0\.2\s*deploy prod#\d+ ok/),
      ]);
      // It stays open, with its rows, through a live update.
      expect(
        (await w.runAs({ RINGMASTER_TOKEN: tokens.alice }, 'lock', 'shop', 'eng', '--reason', 'look')).code,
      ).toBe(0);
      await expect
        .poll(() => page.locator('#ring-shop-eng [data-testid=state]').textContent(), { timeout: 10_000 })
        .toBe('locked by alice: look');
      expect(await rows.count()).toBe(2);
      expect((await w.runAs({ RINGMASTER_TOKEN: tokens.alice }, 'unlock', 'shop', 'eng')).code).toBe(0);
    } finally {
      await page.close();
    }
  });

  it('a viewer sees no action buttons, and a forged POST from their session is refused', async () => {
    const page = await browser.newPage();
    try {
      await signIn(page, tokens.victor!);
      await expect.poll(() => page.locator('article.ring').count()).toBe(3);
      expect(await page.locator('a.action').count()).toBe(0);
      const status = await page.evaluate(async () => {
        const csrf = (document.querySelector('input[name=_csrf]') as HTMLInputElement).value;
        const res = await fetch('/actions', {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            action: 'lock',
            pipeline: 'shop',
            ring: 'prod',
            reason: 'forged',
            _csrf: csrf,
          }),
        });
        return res.status;
      });
      expect(status).toBe(403);
      // Not even a preview: the page draws no confirm form for someone who may not confirm it.
      expect(
        await page.evaluate(async () => (await fetch('/preview?action=lock&pipeline=shop&ring=prod')).status),
      ).toBe(403);
      expect(await countOf('ring.locked')).toBe(0);
    } finally {
      await page.close();
    }
  });

  it('refuses a POST without the CSRF token, or from another origin, and writes nothing', async () => {
    const { cookie, csrf } = await session(tokens.alice!);
    const lock = { action: 'lock', pipeline: 'shop', ring: 'prod', reason: 'x' };
    expect((await post('/actions', lock, { cookie })).status).toBe(403);
    expect((await post('/actions', { ...lock, _csrf: 'forged' }, { cookie })).status).toBe(403);
    expect(
      (await post('/actions', { ...lock, _csrf: csrf }, { cookie, origin: 'http://evil.example' })).status,
    ).toBe(403);
    // Another user's CSRF token does not do for this session.
    const victor = await session(tokens.victor!);
    expect((await post('/actions', { ...lock, _csrf: victor.csrf }, { cookie })).status).toBe(403);
    // The page's own address (web.url) is its origin too, as behind a proxy that rewrites Host:
    // past the origin check, this form is refused only for having no preview (409).
    expect(
      (await post('/actions', { ...lock, _csrf: csrf }, { cookie, origin: 'http://127.0.0.1:1' })).status,
    ).toBe(409);
    expect(await countOf('ring.locked')).toBe(0);
  });

  it('a double-submitted form and a stale preview are refused with the new preview, and write nothing', async () => {
    const { cookie } = await session(tokens.alice!);
    const form = await previewForm(cookie, 'action=lock&pipeline=shop&ring=prod');
    const first = await post('/actions', { ...form, reason: 'incident 42' }, { cookie });
    expect(first.status).toBe(200);
    expect(await first.text()).toContain('locked shop/prod: incident 42');
    const again = await post('/actions', { ...form, reason: 'incident 42' }, { cookie });
    expect(again.status).toBe(409);
    expect(await again.text()).toContain('already sent');
    expect(await countOf('ring.locked')).toBe(1);
    // A preview's form is for the session it was drawn in: another session of alice cannot send it.
    const other = await session(tokens.alice!);
    const unlockForm = await previewForm(cookie, 'action=unlock&pipeline=shop&ring=prod');
    const elsewhere = await post('/actions', { ...unlockForm, _csrf: other.csrf }, { cookie: other.cookie });
    expect(elsewhere.status).toBe(409);
    expect(await countOf('ring.unlocked')).toBe(0);
    // A preview drawn, then the ring moves (unlocked from the CLI), then the old form is sent.
    const unlock = await previewForm(cookie, 'action=unlock&pipeline=shop&ring=prod');
    const cli = await w.runAs({ RINGMASTER_TOKEN: tokens.alice }, 'unlock', 'shop', 'prod');
    expect(cli.code, cli.stderr).toBe(0);
    // Once the server has read the CLI's record in, prod no longer shows the lock.
    await expect
      .poll(
        async () =>
          (await (await fetch(`${url}/live`, { headers: { cookie } })).text()).includes('locked by alice'),
        {
          timeout: 10_000,
        },
      )
      .toBe(false);
    const stale = await post('/actions', unlock, { cookie });
    expect(stale.status).toBe(409);
    const text = await stale.text();
    expect(text).toContain('The ring changed since this preview was drawn: nothing was done');
    expect(text).toContain('is not locked: unlocking will be refused');
    expect(await countOf('ring.unlocked')).toBe(1);
  });

  it('previews a rollback host by host, with the commits it takes away, and does it', async () => {
    const { cookie } = await session(tokens.alice!);
    const before = await countOf('rollout.started', 'sandbox');
    const res = await fetch(`${url}/preview?action=rollback&pipeline=shop&ring=sandbox&release=1.0.1`, {
      headers: { cookie },
    });
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(text).toContain('Roll back shop/sandbox to 1.0.1');
    expect(text).toMatch(/<td>1<\/td><td>web-2<\/td><td>1\.0\.2<\/td><td>1\.0\.1<\/td>/);
    expect(text).toContain('removed (1)');
    // The hostile message again, escaped in the commit list.
    expect(text).toContain('&lt;script&gt;window.__xss=2&lt;/script&gt;');
    expect(text).not.toContain('<script>window.__xss');
    // Confirmed: the same rollback the CLI makes, recorded as alice.
    const form: Record<string, string> = {};
    for (const m of text.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g))
      form[m[1]!] = m[2]!;
    const done = await post('/actions', { ...form, reason: 'checkout slow' }, { cookie });
    expect(done.status, await done.clone().text()).toBe(200);
    expect(await done.text()).toMatch(/rollback sandbox#\d+ of 1\.0\.1 to shop\/sandbox: succeeded/);
    expect(await countOf('rollout.started', 'sandbox')).toBe(before + 1);
    expect((await w.versions('shop'))[1]).toBe('1.0.1');
    const rejected = (await w.records()).find((r) => r.type === 'ring.rejected' && r.data.ring === 'sandbox');
    expect(rejected?.data).toMatchObject({ release: '1.0.2', by: 'alice' });
    // And 1.0.2 is allowed in sandbox again from the page.
    const allow = await previewForm(cookie, 'action=allow&pipeline=shop&ring=sandbox&release=1.0.2');
    const allowed = await post('/actions', allow, { cookie });
    expect(allowed.status).toBe(200);
    expect(await allowed.text()).toContain('1.0.2 may be promoted to shop/sandbox again');
    expect(await countOf('ring.unrejected', 'sandbox')).toBe(1);
    // Pinned from the page: the column says so; unpinned again.
    const pin = await previewForm(cookie, 'action=pin&pipeline=shop&ring=sandbox');
    const pinned = await post('/actions', { ...pin, reason: 'freeze' }, { cookie });
    expect(pinned.status, await pinned.clone().text()).toBe(200);
    expect(await pinned.text()).toContain('pinned by alice: freeze');
    const unpin = await previewForm(cookie, 'action=unpin&pipeline=shop&ring=sandbox');
    expect((await post('/actions', unpin, { cookie })).status).toBe(200);
    expect(await countOf('ring.unpinned', 'sandbox')).toBe(1);
  });

  it('names an unknown pipeline, ring or release, and refuses an oversized body', async () => {
    const { cookie, csrf } = await session(tokens.alice!);
    const nope = await fetch(`${url}/preview?action=approve&pipeline=nope&ring=prod&release=1.0.1`, {
      headers: { cookie },
    });
    expect(nope.status).toBe(404);
    expect(await nope.text()).toContain('no pipeline &quot;nope&quot;');
    const release = await fetch(`${url}/preview?action=approve&pipeline=shop&ring=prod&release=9.9.9`, {
      headers: { cookie },
    });
    expect(release.status).toBe(404);
    const bad = await fetch(`${url}/preview?action=explode&pipeline=shop&ring=prod`, { headers: { cookie } });
    expect(bad.status).toBe(400);
    const big = await post(
      '/actions',
      { action: 'lock', pipeline: 'shop', ring: 'prod', reason: 'x'.repeat(40_000), _csrf: csrf },
      { cookie },
    );
    expect(big.status).toBe(413);
  });

  it('exports the history as CSV and JSON, filtered by person', async () => {
    const page = await browser.newPage();
    try {
      await signIn(page, tokens.alice!);
      await page.goto(`${url}/history?by=alice`);
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=csv]')]);
      const csv = await readFile((await download.path())!, 'utf8');
      const lines = csv.trim().split('\r\n');
      expect(lines[0]).toBe('seq,time,type,pipeline,ring,by,what');
      expect(lines.slice(1).every((l) => l.split(',')[5] === 'alice')).toBe(true);
      expect(lines.some((l) => l.includes('approval.recorded'))).toBe(true);
      expect(lines.some((l) => l.includes('ring.locked'))).toBe(true);
      const { cookie } = await session(tokens.alice!);
      const rows = (await (await fetch(`${url}/history.json?by=alice`, { headers: { cookie } })).json()) as {
        by: string;
      }[];
      expect(rows.length).toBe(lines.length - 1);
    } finally {
      await page.close();
    }
  });

  it('keeps every token out of the pages, the ledger and the output', async () => {
    const { cookie } = await session(tokens.alice!);
    const pages = await Promise.all(
      ['/', '/live', '/history', '/history.csv', '/history.json'].map(async (p) =>
        (await fetch(`${url}${p}`, { headers: { cookie } })).text(),
      ),
    );
    const ledger = join(w.dir, '.ringmaster/ledger');
    const files = await Promise.all(
      (await readdir(ledger)).map((f) => readFile(join(ledger, f), 'utf8').catch(() => '')),
    );
    const users = await readFile(join(w.dir, '.ringmaster/users.json'), 'utf8');
    for (const token of Object.values(tokens)) {
      const secret = token.slice('rmt_000000000000_'.length);
      for (const text of [...pages, ...files, served.output(), users]) expect(text).not.toContain(secret);
    }
    expect(
      JSON.parse(users)
        .users.map((u: { name: string }) => u.name)
        .sort(),
    ).toEqual(['alice', 'victor']);
  });

  it('rate-limits failed sign-ins per address', async () => {
    const form = await fetch(`${url}/login`);
    const login = /rm_login=([^;]+)/.exec(form.headers.get('set-cookie') ?? '')![1]!;
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await form.text())![1]!;
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) {
      const res = await post(
        '/login',
        { token: `rmt_000000000000_${'A'.repeat(43)}`, _csrf: csrf },
        { cookie: `rm_login=${login}` },
      );
      statuses.push(res.status);
    }
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(statuses.slice(5)).toEqual([429, 429]);
    // Even the right token waits now.
    expect(
      (await post('/login', { token: tokens.alice!, _csrf: csrf }, { cookie: `rm_login=${login}` })).status,
    ).toBe(429);
  });
});
