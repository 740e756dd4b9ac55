/** The file ledger's journal: torn tails, corruption, and several processes appending at once. */
import { spawn } from 'node:child_process';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { fileStore, isRingmasterError } from '../src/index.js';
import { closeAfter, tempDir } from './helpers.js';

const rec = (n: number) => ({ type: 'test', time: '2026-01-01T00:00:00.000Z', data: { n } });

describe('journal', () => {
  it('drops a torn last line (a crash mid-write) and appends cleanly after it', async () => {
    const dir = await tempDir();
    const store = closeAfter(fileStore({ dir }));
    await store.append([rec(1), rec(2)]);
    const journal = join(dir, 'journal.jsonl');
    await appendFile(journal, '0badc0de {"seq":3,"type":"te'); // no newline: the write was cut short
    const reopened = closeAfter(fileStore({ dir }));
    expect((await reopened.read()).map((r) => r.data.n)).toEqual([1, 2]);
    await reopened.append([rec(3)]);
    const lines = (await readFile(journal, 'utf8')).trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect((await fileStore({ dir }).read()).map((r) => [r.seq, r.data.n])).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
    ]);
  });

  it('stops with the file and line named when a record in the middle is corrupt', async () => {
    const dir = await tempDir();
    await closeAfter(fileStore({ dir })).append([rec(1), rec(2), rec(3)]);
    const journal = join(dir, 'journal.jsonl');
    const text = await readFile(journal, 'utf8');
    await writeFile(journal, text.replace('"n":2', '"n":7'));
    const error = await fileStore({ dir })
      .read()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(isRingmasterError(error, 'LEDGER')).toBe(true);
    expect((error as Error).message).toContain(`${journal}:2`);
    expect((error as Error).message).toContain('checksum mismatch');
  });

  it('two processes appending at once never interleave or lose a record', { timeout: 60_000 }, async () => {
    const dir = await tempDir();
    const script = join(dir, 'appender.mjs');
    await build({
      stdin: {
        contents: `import { fileStore } from ${JSON.stringify(fileURLToPath(new URL('../src/index.ts', import.meta.url)))};
          const store = fileStore({ dir: process.argv[2] });
          for (let i = 0; i < 150; i++) await store.append([{ type: 'w', time: new Date(0).toISOString(), data: { who: process.argv[3], i } }]);`,
        resolveDir: dir,
        loader: 'ts',
      },
      bundle: true,
      platform: 'node',
      format: 'esm',
      outfile: script,
      logLevel: 'warning',
    });
    const run = (who: string) =>
      new Promise<number | null>((resolve) => {
        const p = spawn(process.execPath, [script, join(dir, 'ledger'), who], { stdio: 'inherit' });
        p.on('close', resolve);
      });
    expect(await Promise.all([run('a'), run('b'), run('c')])).toEqual([0, 0, 0]);
    const records = await fileStore({ dir: join(dir, 'ledger') }).read();
    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 450 }, (_, i) => i + 1));
    for (const who of ['a', 'b', 'c']) {
      expect(records.filter((r) => r.data.who === who).map((r) => r.data.i)).toEqual(
        Array.from({ length: 150 }, (_, i) => i),
      );
    }
  });
});
