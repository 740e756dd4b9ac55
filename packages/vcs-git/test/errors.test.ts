import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { ConfigError, isRingmasterError, type RingmasterError } from '@ringmaster/core/adapter';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git } from '../src/index.js';
import { makeRepo, type Repo, sh } from './helpers.js';
import { serveGitHttp } from './http-server.js';

async function failure(promise: Promise<unknown>): Promise<RingmasterError> {
  return promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e as RingmasterError,
  );
}

const SECRET = 'tok3n-s3cret';

describe('errors and hostile input', () => {
  let repo: Repo;
  // A TCP server on loopback that accepts connections and never answers: a hung git server.
  let silent: Server;
  const sockets: Socket[] = [];
  let silentPort = 0;
  // A port that was free a moment ago: nothing listens there.
  let closedPort = 0;
  beforeAll(async () => {
    repo = makeRepo();
    silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    silentPort = (silent.address() as { port: number }).port;
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    closedPort = (probe.address() as { port: number }).port;
    await new Promise((resolve) => probe.close(resolve));
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
    repo.cleanup();
  });

  it('an unreachable URL fails with SOURCE, the operation and git’s own message, without the credentials', async () => {
    const source = git({
      url: `http://ci:${SECRET}@127.0.0.1:${closedPort}/app.git`,
      cacheDir: repo.cacheDir(),
    });
    const error = await failure(source.head());
    expect(isRingmasterError(error, 'SOURCE')).toBe(true);
    expect(error.message).toContain('[vcs-git] clone of http://***@127.0.0.1');
    expect(error.message).toMatch(/Failed to connect|Connection refused|Could not connect/i);
    expect(error.message).not.toContain(SECRET);
    expect(JSON.stringify(error.details)).not.toContain(SECRET);
  });

  it('a server that never answers times out instead of hanging the poll; the token is never in a process list', async () => {
    const source = git({
      url: `http://ci:${SECRET}@127.0.0.1:${silentPort}/app.git`,
      cacheDir: repo.cacheDir(),
      timeoutMs: 1500,
    });
    const connected = sockets.length;
    const poll = failure(source.log('abcdef1234'));
    // While git waits on the silent server, look at every command line on the machine.
    for (let i = 0; i < 100 && sockets.length === connected; i++) await new Promise((r) => setTimeout(r, 20));
    expect(sockets.length).toBeGreaterThan(connected);
    const commandLines = readdirSync('/proc')
      .filter((pid) => /^\d+$/.test(pid))
      .map((pid) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        } catch {
          return '';
        }
      });
    expect(commandLines.some((line) => line.includes(`127.0.0.1:${silentPort}`))).toBe(true);
    expect(commandLines.some((line) => line.includes(SECRET))).toBe(false);
    const error = await poll;
    expect(error.code).toBe('SOURCE');
    expect(error.message).toContain('timed out after 1500 ms');
    expect(error.message).not.toContain(SECRET);
  });

  it('over authenticated HTTP: the password from the URL works, a wrong one is SOURCE, neither is ever shown', async () => {
    const http = await serveGitHttp(repo.root, 'ci', SECRET);
    try {
      const source = git({
        url: http.url('remote.git').replace('://', `://ci:${SECRET}@`),
        cacheDir: repo.cacheDir(),
      });
      const head = await source.head();
      expect(head.id).toBe(sh(repo.work, ['rev-parse', 'HEAD']).trim());
      const made = await source.requestDeploy({ ring: 'eng', revision: head.id, name: 'over-http' });
      expect(sh(repo.bare, ['rev-parse', `${made.id}^{commit}`]).trim()).toBe(head.id);
      // The mirror keeps neither the URL's password nor the URL.
      expect(readFileSync(join(source.cacheDir, 'config'), 'utf8')).not.toContain(SECRET);

      const wrong = git({
        url: http.url('remote.git').replace('://', '://ci:wrong-pass@'),
        cacheDir: repo.cacheDir(),
      });
      const error = await failure(wrong.head());
      expect(error.code).toBe('SOURCE');
      expect(error.message).toMatch(/Authentication failed|401/);
      expect(error.message).not.toContain('wrong-pass');
    } finally {
      await http.close();
    }
  });

  it('a branch that does not exist fails with SOURCE naming it', async () => {
    const source = repo.source({ branch: 'release/9.x' });
    const error = await failure(source.head());
    expect(error.code).toBe('SOURCE');
    expect(error.message).toContain('fetch of branch release/9.x');
    expect(error.message).toContain("couldn't find remote ref refs/heads/release/9.x");
    expect(error.message).toContain('check the branch option');
  });

  it('a path that is not a repository fails with SOURCE', async () => {
    const source = git({ url: join(repo.root, 'no-such-repo.git'), cacheDir: repo.cacheDir() });
    const error = await failure(source.log());
    expect(error.code).toBe('SOURCE');
    expect(error.message).toContain('no-such-repo.git');
  });

  it('hostile history is read as git itself shows it: authors, messages and tag messages', async () => {
    const source = repo.source();
    const base = (await source.head()).id;
    const authors = [
      `Robert'); DROP TABLE commits;--`,
      '$(touch /tmp/rm-pwned) `id`',
      'a <b> & "c"',
      'Ω\tname',
    ];
    const message = `]]></log><x>&amp;</x>\n$(touch /tmp/rm-pwned)\n\n'; rm -rf / #\r\nend`;
    for (const author of authors)
      repo.commit({ [`h/${authors.indexOf(author)}.txt`]: 'x\n' }, message, author);
    const log = await source.log(base);
    const gitSays = sh(repo.work, ['log', '-z', '--reverse', '--format=%an', `${base}..HEAD`])
      .split('\0')
      .filter((name) => name !== '');
    expect(log.map((r) => r.author)).toEqual(gitSays);
    expect(log.map((r) => r.author)).toContain(`Robert'); DROP TABLE commits;--`);
    expect(log.every((r) => r.message === message)).toBe(true);
    const head = log.at(-1)!.id;
    repo.tag('deploy/prod/hostile', head, message, authors[1]);
    const request = (await source.deployRequests()).find((r) => r.id === 'deploy/prod/hostile');
    expect(request).toMatchObject({ message, author: authors[1], revision: head });
    expect(existsSync('/tmp/rm-pwned')).toBe(false);
  });

  it('a log cursor that is not a commit id is refused before git sees it', async () => {
    const source = repo.source();
    for (const cursor of ['--output=/tmp/rm-pwned', 'HEAD~1', 'a..b', '$(id)', 'abc']) {
      const error = await failure(source.log(cursor));
      expect(error.code).toBe('SOURCE');
      expect(error.message).toContain(JSON.stringify(cursor));
    }
    expect(existsSync('/tmp/rm-pwned')).toBe(false);
  });

  it('bad options are a ConfigError naming the option, and building an adapter touches nothing', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ url: '' }, 'url'],
      [{ url: '--upload-pack=touch /tmp/x' }, 'url'],
      [{ url: repo.bare, branch: '-f' }, 'branch'],
      [{ url: repo.bare, branch: 'a..b' }, 'branch'],
      [{ url: repo.bare, deployTags: 'deploy/*' }, 'deployTags'],
      [{ url: repo.bare, timeoutMs: 0 }, 'timeoutMs'],
      [{ url: repo.bare, author: { name: 'x <y>', email: 'e@x' } }, 'author.name'],
      [{ url: repo.bare, brnch: 'main' }, '(options)'],
    ];
    for (const [options, path] of cases) {
      let error: unknown;
      try {
        git(options as never);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).path).toBe(path);
    }
    const cacheDir = repo.cacheDir();
    git({ url: 'https://git.invalid/x.git', cacheDir });
    expect(existsSync(cacheDir)).toBe(false);
  });

  it('an empty cacheDir made ahead of time is used; one that holds something else is reported, not overwritten', async () => {
    const empty = repo.cacheDir();
    mkdirSync(empty, { recursive: true });
    expect((await git({ url: repo.bare, cacheDir: empty }).head()).id).toBe(
      sh(repo.work, ['rev-parse', 'HEAD']).trim(),
    );

    const source = git({ url: repo.bare, cacheDir: repo.work });
    const error = await failure(source.head());
    expect(error.code).toBe('SOURCE');
    expect(error.message).toContain('is not a git mirror');
  });
});
