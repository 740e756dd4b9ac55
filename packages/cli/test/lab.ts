/**
 * A project as a team has one, on the real components: a git repository a person commits to,
 * real sshd test hosts, and a `ringmaster.config.mjs` (inside the workspace, so its imports of
 * `@ringmaster/*` resolve to the built packages) reading `lab.json` for the hosts, the key and
 * the repository. The CLI tests drive it with the built `ringmaster` bin.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileStore, type TypedRecord } from '@ringmaster/core';
import { ssh } from '@ringmaster/target-ssh';
import { startTestHosts, type TestHosts } from '@ringmaster/target-ssh/testing';
import { type CliRun, projectBase, repo, ringmaster, ringmasterWith } from './helpers.js';

export interface RealProject {
  dir: string;
  lab: TestHosts;
  /** The hosts, asked directly what they run. */
  direct: ReturnType<typeof ssh>;
  /** Commits `files` (path → content) as `author` and pushes; returns the sha. */
  commit(files: Record<string, string>, message: string, author?: string): string;
  run(...args: string[]): Promise<CliRun>;
  /** Runs the CLI with extra environment, such as `{ RINGMASTER_TOKEN }`. */
  runAs(env: Record<string, string | undefined>, ...args: string[]): Promise<CliRun>;
  /** The ledger, read back. */
  records(): Promise<TypedRecord[]>;
  /** What dpkg on each host says of `pkg`: its version, or null. */
  versions(pkg: string): Promise<(string | null)[]>;
  stop(): Promise<void>;
}

/**
 * Starts `hosts` sshd hosts and a git repository, and writes `config` as the project's
 * ringmaster.config.mjs. `lab.json` holds `{ gitUrl, hosts: [{ name, address, port, user }],
 * clientKey, knownHosts }`.
 */
export async function realProject(prefix: string, hosts: number, config: string): Promise<RealProject> {
  const dir = await projectBase(`${prefix}-`);
  const lab = await startTestHosts({ count: hosts, prefix });
  const bare = join(dir, 'origin.git');
  const work = join(dir, 'clone');
  const git = (cwd: string, author: string, ...args: string[]) =>
    execFileSync('git', args, {
      cwd,
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: author,
        GIT_AUTHOR_EMAIL: `${author}@example.com`,
        GIT_COMMITTER_NAME: author,
        GIT_COMMITTER_EMAIL: `${author}@example.com`,
      },
      stdio: 'pipe',
    })
      .toString()
      .trim();
  git(dir, 'setup', 'init', '-q', '--bare', '-b', 'main', bare);
  git(dir, 'setup', 'clone', '-q', bare, work);
  git(work, 'setup', 'checkout', '-q', '-b', 'main');
  const hostList = lab.hosts.map((h) => ({ name: h.name, address: '127.0.0.1', port: h.port, user: 'root' }));
  await writeFile(
    join(dir, 'lab.json'),
    JSON.stringify({
      gitUrl: bare,
      hosts: hostList,
      clientKey: lab.clientKeyFile,
      knownHosts: lab.knownHostsFile,
    }),
  );
  await writeFile(join(dir, 'ringmaster.config.mjs'), config);
  const direct = ssh({ hosts: hostList, privateKey: lab.clientKeyFile, knownHosts: [lab.knownHostsFile] });
  return {
    dir,
    lab,
    direct,
    commit(files, message, author = 'alice') {
      for (const [path, content] of Object.entries(files)) {
        mkdirSync(dirname(join(work, path)), { recursive: true });
        writeFileSync(join(work, path), content);
      }
      git(work, author, 'add', '-A');
      git(work, author, 'commit', '-qm', message);
      git(work, author, 'push', '-q', 'origin', 'main');
      return git(work, author, 'rev-parse', 'HEAD');
    },
    run: (...args) => ringmaster(dir, ...args),
    runAs: (env, ...args) => ringmasterWith({ env }, dir, ...args),
    records: async () => (await fileStore({ dir: join(dir, '.ringmaster/ledger') }).read()) as TypedRecord[],
    versions: (pkg) =>
      Promise.all(
        hostList.map(async (h) => {
          const found = await direct.installed(h.name, pkg);
          return found?.status === 'installed' ? found.version : null;
        }),
      ),
    async stop() {
      await direct.close();
      await lab.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** `ringmaster serve` running for a project: the page's address, what it printed, and how to stop it. */
export interface Served {
  url: string;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts the built CLI's `ringmaster serve` on a free loopback port in the project `dir` (with
 * `env` added), and resolves once it says where the page is.
 */
export async function serveProject(dir: string, env: Record<string, string> = {}): Promise<Served> {
  const child = spawn(
    process.execPath,
    [join(repo, 'packages/cli/dist/bin.js'), 'serve', '--listen', '127.0.0.1:0'],
    { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${output}`)), 30_000);
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      const m = /the team page: (http:\/\/[^\s]+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', read);
    child.stderr!.on('data', read);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited ${code}: ${output}`));
    });
  });
  return {
    url,
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** A config file's common head: reads lab.json; `hosts(a, b)` is lab hosts a..b-1 as a target. */
export const CONFIG_HEAD = `import { readFileSync } from 'node:fs';
import { ssh } from '@ringmaster/target-ssh';
const lab = JSON.parse(readFileSync(new URL('./lab.json', import.meta.url), 'utf8'));
const hosts = (from, to) => ssh({ hosts: lab.hosts.slice(from, to), privateKey: lab.clientKey, knownHosts: [lab.knownHosts] });
`;

/**
 * The config head of a project with one pipeline, shop: git, a .deb per commit, and rings eng
 * (host 0), sandbox (host 1, automatic) and prod (hosts 2 to `prodTo`, `prodPolicy`).
 * `head`: more imports and constants for the rest. Followed by the rest of the exported object
 * (`access`, `store`…) and `};`.
 */
export function shopConfig(options: { prodTo?: number; prodPolicy?: string; head?: string } = {}): string {
  return shopConfigWith({
    ...(options.head ? { head: options.head } : {}),
    rings: `{ name: 'eng', target: hosts(0, 1) },
        { name: 'sandbox', target: hosts(1, 2), policy: auto() },
        { name: 'prod', target: hosts(2, ${options.prodTo ?? 3}), policy: ${options.prodPolicy ?? 'manual()'} },`,
  });
}

/**
 * The same project with rings of one's own: `rings` is the source of the rings array's items,
 * `head` more imports and constants (core's `auto`, `localRepository`, `manual` and `pipeline`
 * are imported already). Followed, as `shopConfig`, by the rest of the exported object and `};`.
 */
export function shopConfigWith(options: { rings: string; head?: string }): string {
  return `import { auto, localRepository, manual, pipeline } from '@ringmaster/core';
import { deb } from '@ringmaster/pkg-deb';
import { git } from '@ringmaster/vcs-git';
${CONFIG_HEAD}${options.head ?? ''}
export default {
  pipelines: [
    pipeline({
      name: 'shop',
      source: git({ url: lab.gitUrl, branch: 'main' }),
      // Under /opt, which each test host has to itself: a file at / would be the machine's, shared by all.
      packager: deb({ name: 'shop', version: '1.0.{number}', prefix: '/opt/shop', maintainer: 'Shop <shop@example.com>', description: 'The shop' }),
      repository: localRepository({ dir: 'repo' }),
      rings: [
        ${options.rings}
      ],
    }),
  ],`;
}
