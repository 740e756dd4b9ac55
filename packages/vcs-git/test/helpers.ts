/**
 * Real repositories for the tests: a bare "server" repository and a person's clone that commits,
 * tags and pushes to it with the git command line, exactly as a developer would.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { type GitOptions, type GitSource, git } from '../src/index.js';

const CLEAN_ENV: Record<string, string | undefined> = { ...process.env, GIT_TERMINAL_PROMPT: '0' };
for (const name of ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE']) delete CLEAN_ENV[name];

/** Runs git like a person at a terminal (argv, no shell) and returns stdout. */
export function sh(
  cwd: string,
  args: string[],
  options: { env?: Record<string, string>; input?: string | Buffer } = {},
): string {
  return execFileSync('git', args, {
    cwd,
    env: { ...CLEAN_ENV, ...options.env },
    input: options.input ?? '',
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

export interface Repo {
  root: string;
  /** The bare repository the adapter reads (`url`). */
  bare: string;
  /** A person's clone. */
  work: string;
  /** A fresh cacheDir for each source, inside root. */
  cacheDir(): string;
  source(options?: Partial<GitOptions>): GitSource;
  commit(files: Record<string, string | Buffer>, message: string | Buffer, author?: string): string;
  /** Commits in the clone without pushing (to rewrite history before a force-push). */
  commitLocally(files: Record<string, string | Buffer>, message: string | Buffer, author?: string): string;
  /** An annotated tag made and pushed by `tagger`. */
  tag(name: string, revision: string, message: string, tagger?: string, date?: string): void;
  cleanup(): void;
}

function identity(name: string): Record<string, string> {
  const email = `${name.replace(/[^A-Za-z0-9]/g, '').toLowerCase() || 'someone'}@example.com`;
  return {
    GIT_AUTHOR_NAME: name,
    GIT_AUTHOR_EMAIL: email,
    GIT_COMMITTER_NAME: name,
    GIT_COMMITTER_EMAIL: email,
  };
}

/** A bare repository with one commit on `main`, and a clone to work in. */
export function makeRepo(): Repo {
  const root = mkdtempSync(join(tmpdir(), 'rm-vcs-git-'));
  const bare = join(root, 'remote.git');
  const work = join(root, 'work');
  sh(root, ['init', '--quiet', '--bare', '--initial-branch=main', bare]);
  // One process for the clone and its settings: the fixtures are made many times over.
  const settings = [
    'user.name=Setup',
    'user.email=setup@example.com',
    'tag.gpgSign=false',
    'commit.gpgSign=false',
  ];
  sh(root, [
    '-c',
    'init.defaultBranch=main',
    'clone',
    '--quiet',
    ...settings.flatMap((c) => ['-c', c]),
    bare,
    work,
  ]);
  let caches = 0;
  const sources: GitSource[] = [];
  const repo: Repo = {
    root,
    bare,
    work,
    cacheDir: () => join(root, 'cache', `mirror-${++caches}.git`),
    source(options = {}) {
      const source = git({ url: bare, cacheDir: repo.cacheDir(), timeoutMs: 20_000, ...options });
      sources.push(source);
      return source;
    },
    commit(files, message, author) {
      const id = repo.commitLocally(files, message, author);
      sh(work, ['push', '--quiet', 'origin', 'HEAD:refs/heads/main']);
      return id;
    },
    commitLocally(files, message, author = 'alice') {
      for (const [path, content] of Object.entries(files)) {
        mkdirSync(dirname(join(work, path)), { recursive: true });
        writeFileSync(join(work, path), content);
      }
      sh(work, ['add', '--all']);
      sh(work, ['commit', '--quiet', '--allow-empty', '--cleanup=verbatim', '--file=-'], {
        env: identity(author),
        input: message,
      });
      return sh(work, ['rev-parse', 'HEAD']).trim();
    },
    tag(name, revision, message, tagger = 'bob', date) {
      sh(work, ['tag', '--annotate', '--cleanup=verbatim', '--file=-', name, revision], {
        env: { ...identity(tagger), ...(date ? { GIT_COMMITTER_DATE: date } : {}) },
        input: message,
      });
      sh(work, ['push', '--quiet', 'origin', `refs/tags/${name}`]);
    },
    cleanup() {
      rmSync(root, { recursive: true, force: true });
    },
  };
  repo.commit({ 'README.md': '# app\n' }, 'initial commit', 'setup');
  return repo;
}
