/**
 * svnserve on loopback with a password database (anonymous access off): people commit with their
 * own credentials, the adapter reads and writes with its own, and a wrong password is a SOURCE
 * error that never shows the password, in the message, the details or the process list.
 */
import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isRingmasterError } from '@ringmaster/core/adapter';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { svn } from '../src/index.js';
import {
  createRepo,
  type Repo,
  repoDir,
  type Svnserve,
  sh,
  startSvnserve,
  tempDir,
  USERS,
  type WorkingCopy,
} from './helpers.js';

let served: string;
let server: Svnserve;
let repo: Repo;
let url: string;
let alice: WorkingCopy;
let first: string;

beforeAll(async () => {
  served = await repoDir('rm-svn-served-');
  server = await startSvnserve(served);
  repo = await createRepo(served, 'shop');
  url = server.url('shop');
  alice = await repo.workingCopy('trunk', { url, username: 'alice', password: USERS.alice! });
  first = await alice.commit({ 'index.php': '<?php echo 1;\n' }, 'first over svnserve', 'alice');
});

afterAll(async () => {
  await server?.stop();
  await repo?.cleanup();
  await rm(served, { recursive: true, force: true });
});

const wrongPassword = 'Wr0ng-Passw0rd-zz';

describe('svnserve with authentication', () => {
  it('reads what each person committed with their own credentials', async () => {
    const bob = await repo.workingCopy('trunk', { url, username: 'bob', password: USERS.bob! });
    const second = await bob.commit({ 'lib.php': '<?php\n' }, 'second, by bob', 'bob');
    const source = svn({ url, username: 'alice', password: USERS.alice! });
    expect((await source.log(first)).map((r) => [r.id, r.author, r.message])).toEqual([
      [second, 'bob', 'second, by bob'],
    ]);
    expect((await source.head()).author).toBe('bob');
  });

  it('makes deploy requests as the configured user and checks out over the network', async () => {
    const source = svn({ url, username: 'bob', password: USERS.bob! });
    const made = await source.requestDeploy({ ring: 'prod', revision: first, name: 'over-svnserve' });
    expect(made).toMatchObject({ author: 'bob', revision: first, ring: 'prod' });
    const dir = join(await tempDir(), 'tree');
    await svn({
      url,
      username: 'alice',
      password: USERS.alice!,
      cacheDir: join(dir, '..', 'cache'),
    }).checkout(first, dir);
    expect(await readFile(join(dir, 'index.php'), 'utf8')).toBe('<?php echo 1;\n');
    await rm(join(dir, '..'), { recursive: true, force: true });
  });

  it('turns a wrong password into SOURCE with svn words and the operation, never the password', async () => {
    const error = await svn({ url, username: 'alice', password: wrongPassword })
      .head()
      .catch((e: unknown) => e);
    expect(isRingmasterError(error, 'SOURCE')).toBe(true);
    const { message, details } = error as Error & { details: unknown };
    expect(message).toContain(`head of ${url}/trunk failed`);
    expect(message).toMatch(/E170001|[Aa]uthentication|[Pp]assword incorrect/);
    expect(message).toContain('check username and password');
    expect(message).not.toContain(wrongPassword);
    expect(JSON.stringify(details)).not.toContain(wrongPassword);
    expect(String((error as Error).stack)).not.toContain(wrongPassword);
  });

  it('refuses an unknown user and a missing password with SOURCE', async () => {
    for (const options of [{ username: 'nobody', password: wrongPassword }, {}]) {
      const error = await svn({ url, ...options })
        .log('0')
        .catch((e: unknown) => e);
      expect(isRingmasterError(error, 'SOURCE')).toBe(true);
      expect((error as Error).message).toContain(`log of ${url}/trunk since r0 failed`);
      expect((error as Error).message).not.toContain(wrongPassword);
    }
  });

  it('passes the password on stdin, never in the arguments svn and svnmucc are started with', async () => {
    const bin = await tempDir('rm-svn-bin-');
    const argvLog = join(bin, 'argv.log');
    for (const tool of ['svn', 'svnmucc']) {
      const real = (await sh(['sh', '-c', `command -v ${tool}`])).trim();
      // Records the argument list, then runs the real tool with the same stdin.
      await writeFile(
        join(bin, tool),
        `#!/bin/sh\nprintf '%s\\n' "$0" "$@" >> '${argvLog}'\nexec '${real}' "$@"\n`,
      );
      await chmod(join(bin, tool), 0o755);
    }
    const source = svn({ url, username: 'alice', password: USERS.alice!, svnPath: join(bin, 'svn') });
    await source.head();
    await source.requestDeploy({ ring: 'prod', revision: first, name: 'argv-check' });
    const recorded = await readFile(argvLog, 'utf8');
    expect(recorded).toContain(join(bin, 'svnmucc'));
    expect(recorded).toContain('--password-from-stdin');
    expect(recorded).toContain('--non-interactive');
    expect(recorded).toContain('--no-auth-cache');
    expect(recorded).not.toContain(USERS.alice!);
    await rm(bin, { recursive: true, force: true });
  });
});
