/**
 * Faults and hostile input: bad options fail at the factory, unreachable or wrong repositories
 * and missing revisions are SOURCE errors with the operation and svn's words, a server that
 * never answers hits the timeout, and hostile history is read faithfully.
 */
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { ConfigError, isRingmasterError } from '@ringmaster/core/adapter';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { svn, svnOptionsSchema } from '../src/index.js';
import { createRepo, freePort, type Repo, sh, tempDir, type WorkingCopy } from './helpers.js';

let repo: Repo;
let wc: WorkingCopy;
let scratch: string;

beforeAll(async () => {
  repo = await createRepo();
  wc = await repo.workingCopy('trunk');
  await wc.commit({ 'a.txt': 'a\n' }, 'base');
  scratch = await tempDir();
});

afterAll(async () => {
  await repo.cleanup();
  await rm(scratch, { recursive: true, force: true });
});

const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e as Error & { code: string; details: Record<string, unknown> },
  );

describe('options', () => {
  it.each([
    [{ url: 'ftp://example.com/repo' }, 'url'],
    [{ url: 'svn://ci:hunter2@example.com/repo' }, 'url'],
    [{ url: 'file:///r', line: '../etc' }, 'line'],
    [{ url: 'file:///r', line: 'trunk\nx' }, 'line'],
    [{ url: 'file:///r', deployRequests: { 'prod/../x': 'prod' } }, 'deployRequests.prod/../x'],
    [{ url: 'file:///r', deployRequests: { prod: 'a b' } }, 'deployRequests.prod'],
    [{ url: 'file:///r', password: 'two\nlines' }, 'password'],
    [{ url: 'file:///r', timeoutMs: -1 }, 'timeoutMs'],
    [{ url: 'file:///r', onSkippedRequest: 'log' }, 'onSkippedRequest'],
  ])('%j is a ConfigError naming %s', (options, path) => {
    let error: unknown;
    try {
      svn(options as never);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).path).toBe(path);
    expect((error as Error).message).not.toContain('hunter2');
  });

  it('applies the defaults: trunk, prod → prod, a timeout', () => {
    const parsed = svnOptionsSchema.parse({ url: 'svn://example.com/repo/' });
    expect(parsed).toMatchObject({
      url: 'svn://example.com/repo',
      line: 'trunk',
      deployRequests: [{ folder: 'prod', ring: 'prod' }],
      timeoutMs: 120_000,
    });
  });

  it('does nothing when built: no process, no file, no connection', () => {
    const cacheDir = join(scratch, 'not-yet');
    const source = svn({ url: 'svn://127.0.0.1:1/none', cacheDir });
    expect(source.name).toBe('svn svn://127.0.0.1:1/none/trunk');
    expect(existsSync(cacheDir)).toBe(false);
  });
});

describe('repository faults', () => {
  it('an unreachable URL is SOURCE with the operation and svn message', async () => {
    const port = await freePort();
    const url = `svn://127.0.0.1:${port}/repo`;
    const error = await failure(svn({ url }).head());
    expect(isRingmasterError(error, 'SOURCE')).toBe(true);
    expect(error.message).toContain(`head of ${url}/trunk failed`);
    expect(error.message).toContain('E170013');
    expect(error.message).toContain('Connection refused');
    expect(error.message).toContain('reachable');
  });

  it('no repository at a file:// URL is SOURCE', async () => {
    const error = await failure(svn({ url: `file://${scratch}/none` }).log('0'));
    expect(isRingmasterError(error, 'SOURCE')).toBe(true);
    expect(error.message).toContain('Unable to open');
  });

  it('a line that is not in the repository is SOURCE naming the path', async () => {
    const error = await failure(svn({ url: repo.fileUrl, line: 'branches/nope' }).head());
    expect(isRingmasterError(error, 'SOURCE')).toBe(true);
    expect(error.message).toContain('branches/nope');
    expect(error.message).toContain('check the line');
  });

  it('a revision that does not exist, or is not a number, is SOURCE', async () => {
    const source = svn({ url: repo.fileUrl });
    const missing = await failure(source.checkout('31337', join(scratch, 'x')));
    expect(isRingmasterError(missing, 'SOURCE')).toBe(true);
    expect(missing.message).toContain('No such revision 31337');
    for (const bad of ['abc', '-1', '1;rm -rf /', 'HEAD', '']) {
      const error = await failure(source.log(bad));
      expect(isRingmasterError(error, 'SOURCE')).toBe(true);
      expect(error.message).toContain('is not an svn revision number');
    }
  });

  it('a server that never answers is SOURCE after timeoutMs, not a hang', async () => {
    const sockets: Socket[] = [];
    const server: Server = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const error = await failure(svn({ url: `svn://127.0.0.1:${port}/repo`, timeoutMs: 1_000 }).head());
      expect(isRingmasterError(error, 'SOURCE')).toBe(true);
      expect(error.message).toContain('timed out after 1000 ms');
      expect(error.details.timedOut).toBe(true);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('hostile history', () => {
  it('reads messages and authors with XML and shell metacharacters and newlines faithfully', async () => {
    const source = svn({ url: repo.fileUrl });
    const base = (await source.head()).id;
    const messages = [
      `<![CDATA[x]]> </msg></logentry><logentry revision="999"> &amp; &lt; &#13; ' "`,
      '$(rm -rf /) `id` ; | && > /tmp/x\n\nline three\ttab',
      '  leading and trailing spaces  \n',
      'unicode: déploiement 部署 🚀 \u202eRTL',
      '1234',
    ];
    const authors = ['<script>&amp;</script>', '$(id)', 'o\'brien "q"', 'ünï', 'x'];
    const ids: string[] = [];
    for (const [i, message] of messages.entries()) {
      ids.push(await wc.commit({ [`h${i}.txt`]: `${i}\n` }, message, authors[i]));
    }
    const log = await source.log(base);
    expect(log.map((r) => r.id)).toEqual(ids);
    expect(log.map((r) => r.message)).toEqual(messages);
    expect(log.map((r) => r.author)).toEqual(authors);
  });

  it('reads a 1 MB message whole', async () => {
    const source = svn({ url: repo.fileUrl });
    const base = (await source.head()).id;
    const message = `${'<&>"\' $(x) '.repeat(40_000)}\n${'z'.repeat(600_000)}`;
    expect(message.length).toBeGreaterThan(1_000_000);
    const id = await wc.commit({ 'big.txt': 'b\n' }, message);
    const [rev] = await source.log(base);
    expect(rev?.id).toBe(id);
    expect(rev?.message.length).toBe(message.length);
    expect(rev?.message === message).toBe(true);
  });

  it('does not break the poll on non-UTF-8 bytes in a message and an author (loaded from a dump)', async () => {
    const other = await tempDir();
    const path = join(other, 'r');
    await sh(['svnadmin', 'create', path]);
    const props = (entries: [string, Buffer][]) =>
      Buffer.concat([
        ...entries.flatMap(([k, v]) => [
          Buffer.from(`K ${k.length}\n${k}\nV ${v.length}\n`),
          v,
          Buffer.from('\n'),
        ]),
        Buffer.from('PROPS-END\n'),
      ]);
    const rev = props([
      ['svn:log', Buffer.from([0x62, 0x61, 0x64, 0x20, 0xff, 0xfe, 0x20, 0x3c, 0x78, 0x3e])],
      ['svn:author', Buffer.from([0x6d, 0xe9])],
      ['svn:date', Buffer.from('2026-01-01T00:00:00.000000Z')],
    ]);
    const empty = props([]);
    const dump = Buffer.concat([
      Buffer.from('SVN-fs-dump-format-version: 2\n\n'),
      Buffer.from(
        `Revision-number: 1\nProp-content-length: ${rev.length}\nContent-length: ${rev.length}\n\n`,
      ),
      rev,
      Buffer.from('\nNode-path: trunk\nNode-kind: dir\nNode-action: add\n'),
      Buffer.from(`Prop-content-length: ${empty.length}\nContent-length: ${empty.length}\n\n`),
      empty,
      Buffer.from('\n\n'),
    ]);
    await writeFile(join(other, 'd.dump'), dump);
    await sh([
      'sh',
      '-c',
      'svnadmin load -q --bypass-prop-validation "$1" < "$2"',
      'load',
      path,
      join(other, 'd.dump'),
    ]);
    const [head] = await svn({ url: `file://${path}` }).log('0');
    expect(head).toMatchObject({ id: '1', time: '2026-01-01T00:00:00.000Z' });
    // The bytes that are not UTF-8 come back as U+FFFD; the rest is intact.
    expect(head!.message).toBe('bad \ufffd\ufffd <x>');
    expect(head!.author).toBe('m\ufffd');
    await rm(other, { recursive: true, force: true });
  });
});
