/**
 * The page never shows a ring's secret: a gate that prints its secret and fails has its log on
 * the page (the failure, the history, the exports), with the value masked as the ledger masks it.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir, world } from '../../core/test/helpers.js';
import { createWebApp } from '../src/index.js';

describe('secrets on the page', () => {
  it('a secret a failing gate printed appears on no page or export; the masked log does', async () => {
    const secret = 'hunter2-s3cr3t-value';
    const file = join(await tempDir(), 'db-password');
    await writeFile(file, `${secret}\n`);
    const w = await world({
      secrets: { eng: { DB_PASSWORD: { file } } },
      gates: {
        eng: [{ name: 'smoke', run: ['sh', '-c', 'echo "connecting with $DB_PASSWORD" >&2; exit 1'] }],
      },
    });
    await w.engine.tick();
    const { app, close } = createWebApp({ engine: w.engine });
    const pages = await Promise.all(
      [
        '/',
        '/live?open=hosts-app-eng',
        '/hosts?pipeline=app&ring=eng',
        '/history',
        '/history.csv',
        '/history.json',
      ].map(async (path) => {
        const res = await app.request(path);
        expect(res.status, path).toBe(200);
        return res.text();
      }),
    );
    close();
    for (const page of pages) expect(page).not.toContain(secret);
    // The failure is shown, with what the gate said, masked.
    expect(pages[0]).toContain('connecting with ***');
    expect(pages[3]).toContain('gate smoke on eng: FAILED');
  });
});
