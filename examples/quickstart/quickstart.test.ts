/** `npm run demo` must keep working: run the demo script as a user would and read its result. */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

it('the demo takes three commits through eng, sandbox and prod and ends with prod on 1.0.3', {
  timeout: 120_000,
}, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rm-demo-'));
  try {
    const script = fileURLToPath(new URL('./run.mjs', import.meta.url));
    const { code, out } = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const p = spawn(process.execPath, [script], {
        env: { ...process.env, RINGMASTER_DEMO_DIR: dir },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      p.stdout.on('data', (c) => (out += c));
      p.stderr.on('data', (c) => (out += c));
      p.on('close', (c) => resolve({ code: c, out }));
    });
    expect(out).toContain('Demo finished: prod runs 1.0.3 on every host.');
    expect(code).toBe(0);
    expect(out).toMatch(/foostat\s+prod\s+1\.0\.3\s+4\/4\s+idle/);
    expect(out).toContain('1.0.2 rejected in sandbox: gate smoke failed');
    const journal = await readFile(join(dir, 'ledger', 'journal.jsonl'), 'utf8');
    expect(journal).toContain('"type":"ring.rejected"');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
