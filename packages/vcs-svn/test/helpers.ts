/**
 * Test fixtures on the real Subversion tools: repositories made with `svnadmin create`, changes
 * made the way a person makes them (a working copy, `svn add`, `svn copy`, `svn commit`), and
 * `svnserve` on loopback with a password database.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { runCommand } from '@ringmaster/core/adapter';

const ENV = { LC_ALL: 'C.UTF-8', LANG: 'C.UTF-8' };

/** Runs a Subversion tool and fails the test with its stderr when it fails. */
export async function sh(argv: string[], options: { cwd?: string; input?: string } = {}): Promise<string> {
  const result = await runCommand(argv, {
    ...options,
    env: ENV,
    timeoutMs: 60_000,
    maxOutputBytes: 64 << 20,
  });
  if (result.exitCode !== 0) throw new Error(`${argv.slice(0, 2).join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

/** A temp directory; the caller removes it. */
export async function tempDir(prefix = 'rm-svn-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/**
 * A temp directory for repositories: in memory (/dev/shm) when there is one, because svnadmin
 * syncs every revision to disk and that, not the adapter, dominated the test time on a slow disk.
 */
export async function repoDir(prefix = 'rm-svn-repo-'): Promise<string> {
  return existsSync('/dev/shm') ? mkdtemp(join('/dev/shm', prefix)) : tempDir(prefix);
}

/** Users of the test server: name → password. */
export const USERS: Record<string, string> = {
  alice: 'al1ce-S3cret-pw',
  bob: 'b0b-S3cret-pw',
  'mallory <$(id)>': 'm4llory-pw',
};

export interface Repo {
  /** The folder served by svnserve (`-r`) that holds the repository. */
  root: string;
  path: string;
  fileUrl: string;
  /** Creates a working copy of `path` (the whole repository by default) as `author` would. */
  workingCopy(
    path?: string,
    credentials?: { url: string; username: string; password: string },
  ): Promise<WorkingCopy>;
  cleanup(): Promise<void>;
}

/** `svnadmin create` + a `trunk` folder, with svnserve's auth config (anonymous: none). */
export async function createRepo(root?: string, name = 'repo'): Promise<Repo> {
  const base = root ?? (await repoDir());
  const path = join(base, name);
  await sh(['svnadmin', 'create', path]);
  await writeFile(
    join(path, 'conf', 'svnserve.conf'),
    '[general]\nanon-access = none\nauth-access = write\npassword-db = passwd\nauthz-db = authz\nrealm = ringmaster-test\n',
  );
  await writeFile(
    join(path, 'conf', 'passwd'),
    `[users]\n${Object.entries(USERS)
      .map(([u, p]) => `${u} = ${p}`)
      .join('\n')}\n`,
  );
  await writeFile(join(path, 'conf', 'authz'), '[/]\n$authenticated = rw\n');
  const fileUrl = `file://${path}`;
  await sh([
    'svn',
    'mkdir',
    '-q',
    '--parents',
    '-m',
    'create trunk',
    '--username',
    'setup',
    `${fileUrl}/trunk`,
  ]);
  const made: WorkingCopy[] = [];
  return {
    root: base,
    path,
    fileUrl,
    async workingCopy(sub = '', credentials) {
      const wc = await WorkingCopy.checkout(
        `${credentials?.url ?? fileUrl}${sub ? `/${sub}` : ''}`,
        credentials,
      );
      made.push(wc);
      return wc;
    },
    async cleanup() {
      await Promise.all(made.map((w) => w.cleanup()));
      if (!root) await rm(base, { recursive: true, force: true });
      else await rm(path, { recursive: true, force: true });
    },
  };
}

/** A person's working copy. */
export class WorkingCopy {
  private constructor(
    readonly dir: string,
    private readonly credentials?: { username: string; password: string },
  ) {}

  static async checkout(
    url: string,
    credentials?: { username: string; password: string },
  ): Promise<WorkingCopy> {
    const dir = join(await tempDir('rm-svn-wc-'), 'wc');
    const wc = new WorkingCopy(dir, credentials);
    await wc.svn(['checkout', '-q', url, dir]);
    return wc;
  }

  /** Runs svn in the working copy with this person's credentials. */
  async svn(args: string[], author?: string): Promise<string> {
    const user = author ?? this.credentials?.username;
    const auth = ['--non-interactive', '--no-auth-cache', ...(user ? ['--username', user] : [])];
    const password = user ? (this.credentials ? USERS[user] : undefined) : undefined;
    return sh(['svn', args[0]!, ...auth, ...(password ? ['--password-from-stdin'] : []), ...args.slice(1)], {
      cwd: existsSync(this.dir) ? this.dir : dirname(this.dir),
      ...(password ? { input: `${password}\n` } : {}),
    });
  }

  /** Writes files, `svn add`s them and commits; returns the new revision id. */
  async commit(files: Record<string, string | Buffer>, message: string, author = 'alice'): Promise<string> {
    await this.svn(['update', '-q']);
    for (const [file, content] of Object.entries(files)) {
      await mkdir(dirname(join(this.dir, file)), { recursive: true });
      await writeFile(join(this.dir, file), content);
    }
    await this.svn(['add', '-q', '--force', '.']);
    return this.commitStaged(message, author);
  }

  /** `svn copy <from> <to>` inside the working copy, then commit: how a person asks for a deploy. */
  async copy(
    from: string,
    to: string,
    message: string,
    author = 'alice',
    revision?: string,
  ): Promise<string> {
    await this.svn(['update', '-q']);
    await this.svn(['copy', '-q', '--parents', ...(revision ? ['-r', revision] : []), `${from}@`, `${to}@`]);
    return this.commitStaged(message, author);
  }

  /** Commits what is staged, the message read from a file (a 1 MB message does not fit in argv). */
  async commitStaged(message: string, author = 'alice'): Promise<string> {
    const file = join(dirname(this.dir), 'message.txt');
    await writeFile(file, message);
    const out = await this.svn(['commit', '-F', file, '--encoding', 'UTF-8'], author);
    const rev = /Committed revision (\d+)\./.exec(out)?.[1];
    if (!rev) throw new Error(`no revision in svn commit output: ${out}`);
    return rev;
  }

  async cleanup(): Promise<void> {
    await rm(dirname(this.dir), { recursive: true, force: true });
  }
}

/** A free TCP port on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.setTimeout(500);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.connect(port, '127.0.0.1');
  });
}

export interface Svnserve {
  url(repo: string): string;
  pid: number;
  stop(): Promise<void>;
}

/** Starts `svnserve -d --foreground` on 127.0.0.1 serving `root`; waits (bounded) until it listens. */
export async function startSvnserve(root: string): Promise<Svnserve> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    'svnserve',
    ['-d', '--foreground', '--listen-host', '127.0.0.1', '--listen-port', String(port), '-r', root],
    { stdio: 'ignore' },
  );
  for (let attempt = 0; attempt < 100; attempt++) {
    if (child.exitCode !== null) throw new Error(`svnserve exited with ${child.exitCode}`);
    if (await canConnect(port)) break;
    if (attempt === 99) throw new Error('svnserve did not listen within 100 attempts');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    pid: child.pid!,
    url: (repo) => `svn://127.0.0.1:${port}/${repo}`,
    async stop() {
      const running = () => child.exitCode === null && child.signalCode === null;
      if (!running()) return;
      const exited = new Promise((r) => child.once('exit', r));
      process.kill(child.pid!, 'SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
      if (running()) process.kill(child.pid!, 'SIGKILL');
    },
  };
}
