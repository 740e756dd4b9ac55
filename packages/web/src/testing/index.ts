/**
 * Test helpers: a real headless Chromium (Debian's `chromium`, installed by `npm test`'s setup)
 * driven by playwright-core.
 */
import { existsSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';

/** Where Debian puts Chromium; `RINGMASTER_CHROMIUM` overrides. */
export function chromiumPath(): string {
  const candidates = [process.env.RINGMASTER_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
  const found = candidates.find((p): p is string => typeof p === 'string' && existsSync(p));
  if (!found)
    throw new Error(
      "no Chromium: install Debian's chromium (npm test's setup does), or set RINGMASTER_CHROMIUM",
    );
  return found;
}

/**
 * Launches headless Chromium. `--no-sandbox` because the tests run as root, where Chromium's
 * sandbox refuses to start; the pages it opens are our own, on loopback.
 */
export async function launchBrowser(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
}

/** Signs in on the page at `url` with the login form, as a person does; resolves on the home page. */
export async function signIn(page: Page, url: string, token: string): Promise<void> {
  await page.goto(`${url}/`);
  if (page.url() !== `${url}/login`) throw new Error(`expected the login form, got ${page.url()}`);
  await page.fill('input[name=token]', token);
  await Promise.all([page.waitForURL(`${url}/`), page.click('button[type=submit]')]);
}
