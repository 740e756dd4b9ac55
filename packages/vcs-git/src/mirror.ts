/**
 * The cached bare mirror every operation reads: cloned once (`git init --bare` plus a fetch of
 * all branches and tags, i.e. `git clone --mirror` without the URL in argv or on disk; made
 * under a temp name then renamed, so a crash or a concurrent process never leaves a half clone
 * in place), then brought up to date by one `git fetch --prune` of the watched branch and tags.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { RingmasterError } from '@ringmaster/core/adapter';
import type { ResolvedOptions } from './options.js';
import { type GitRunner, gitError, SCOPE } from './runner.js';

// Another process fetching into the same mirror holds ref locks for a moment.
const LOCK_RETRIES = 3;
const LOCK_ERROR = /cannot lock ref|unable to create '.*\.lock'|File exists/i;
const SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;
// Fetches between two `git maintenance run --auto` (which packs loose objects and refs).
const MAINTENANCE_EVERY = 100;

export class Mirror {
  private ready: Promise<void> | undefined;
  private running: Promise<void> | undefined;
  private queued: Promise<void> | undefined;
  private fetches = 0;

  constructor(
    private readonly git: GitRunner,
    private readonly options: ResolvedOptions,
  ) {}

  /** The mirror's path, for `--git-dir`. */
  get dir(): string {
    return this.options.cacheDir;
  }

  /** Makes sure the mirror exists, cloning it on first use. */
  ensure(): Promise<void> {
    this.ready ??= this.open().catch((error: unknown) => {
      this.ready = undefined;
      throw error;
    });
    return this.ready;
  }

  /**
   * Brings the mirror up to date with the remote. Calls made while a fetch runs share the next
   * fetch, so each caller sees a fetch that started after it asked.
   */
  async sync(): Promise<void> {
    // After a fresh clone the fetch is a no-op, but it checks the branch exists.
    await this.ensure();
    if (this.queued) return this.queued;
    if (this.running) {
      const next = this.running
        .catch(() => undefined)
        .then(() => {
          this.queued = undefined;
          return this.start();
        });
      this.queued = next;
      return next;
    }
    return this.start();
  }

  /** Waits for a fetch in flight, if any. */
  async idle(): Promise<void> {
    await Promise.allSettled([this.running, this.queued, this.ready]);
  }

  private start(): Promise<void> {
    const run = this.fetch().finally(() => {
      if (this.running === run) this.running = undefined;
    });
    this.running = run;
    return run;
  }

  private async fetch(): Promise<void> {
    const { branch } = this.options;
    const args = [
      'fetch',
      '--quiet',
      '--prune',
      '--no-tags',
      '--no-write-fetch-head',
      // We detect rewritten history ourselves, against the engine's cursor.
      '--no-show-forced-updates',
      // Housekeeping runs every MAINTENANCE_EVERY fetches instead, off the poll's critical path.
      '--no-auto-maintenance',
      'origin',
      `+refs/heads/${branch}:refs/heads/${branch}`,
      '+refs/tags/*:refs/tags/*',
    ];
    const operation = `fetch of branch ${branch} from ${this.git.redact(this.options.url)}`;
    for (let attempt = 1; ; attempt++) {
      const result = await this.git.run(args, {
        operation,
        gitDir: this.dir,
        allowFailure: true,
        remote: true,
      });
      if (result.exitCode === 0) {
        if (++this.fetches % MAINTENANCE_EVERY === 0) await this.maintain();
        return;
      }
      if (attempt < LOCK_RETRIES && LOCK_ERROR.test(result.stderr)) {
        await new Promise((r) => setTimeout(r, 50 * attempt));
        continue;
      }
      const missing = /couldn't find remote ref/i.test(result.stderr);
      throw gitError(
        {
          operation,
          hint: missing
            ? `The branch "${branch}" does not exist in the repository: check the branch option.`
            : 'Check the url option, the network and the credentials.',
        },
        args,
        result,
        this.git.redact,
      );
    }
  }

  /**
   * The commit a ref of the mirror points at, read from the files git keeps (a loose ref, then
   * `packed-refs`): a poll with nothing new then costs one fetch and no further process. Falls
   * back to `git rev-parse` for anything unusual (a symbolic ref, another ref storage).
   */
  async resolveRef(ref: string): Promise<string> {
    const loose = await readFile(join(this.dir, ref), 'utf8').catch(() => undefined);
    if (loose !== undefined && SHA.test(loose.trim())) return loose.trim();
    if (loose === undefined) {
      const packed = await readFile(join(this.dir, 'packed-refs'), 'utf8').catch(() => '');
      for (const line of packed.split('\n')) {
        if (line.endsWith(` ${ref}`) && SHA.test(line.slice(0, line.indexOf(' '))))
          return line.slice(0, line.indexOf(' '));
      }
    }
    const result = await this.git.run(['rev-parse', '--verify', '--end-of-options', `${ref}^{commit}`], {
      operation: `reading ${ref}`,
      gitDir: this.dir,
    });
    return result.stdout.trim();
  }

  private async maintain(): Promise<void> {
    await this.git.run(['maintenance', 'run', '--auto', '--quiet'], {
      operation: 'maintenance of the mirror',
      gitDir: this.dir,
      allowFailure: true,
    });
  }

  private async open(): Promise<void> {
    const dir = this.dir;
    if (await isMirror(dir)) return;
    // An empty directory (made ahead by a deploy script) is taken over; anything else is not ours.
    if ((await exists(dir)) && (await readdir(dir).catch(() => [''])).length > 0) {
      throw new RingmasterError(
        'SOURCE',
        `cacheDir ${dir} exists but is not a git mirror; remove it or choose another cacheDir`,
        { scope: SCOPE, details: { cacheDir: dir } },
      );
    }
    await mkdir(dirname(dir), { recursive: true });
    const temp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      await this.git.run(['init', '--quiet', '--bare', '--template=', temp], {
        operation: 'creating the mirror',
      });
      await this.git.run(
        [
          'fetch',
          '--quiet',
          '--no-tags',
          '--no-write-fetch-head',
          '--no-auto-maintenance',
          'origin',
          '+refs/heads/*:refs/heads/*',
          '+refs/tags/*:refs/tags/*',
        ],
        {
          operation: `clone of ${this.git.redact(this.options.url)}`,
          gitDir: temp,
          remote: true,
          hint: 'Check the url option, the network and the credentials.',
        },
      );
      try {
        await rename(temp, dir);
      } catch (error) {
        // Another process finished its clone first: use that one.
        if (!(await isMirror(dir))) throw error;
      }
    } finally {
      await rm(temp, { recursive: true, force: true });
    }
  }

  /** Fetches one other branch by name; false when the remote has no such branch. */
  async fetchBranch(name: string): Promise<boolean> {
    const result = await this.git.run(
      [
        'fetch',
        '--quiet',
        '--no-tags',
        '--no-write-fetch-head',
        '--no-auto-maintenance',
        'origin',
        `+refs/heads/${name}:refs/heads/${name}`,
      ],
      { operation: `fetch of branch ${name}`, gitDir: this.dir, allowFailure: true, remote: true },
    );
    return result.exitCode === 0;
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function isMirror(dir: string): Promise<boolean> {
  return (await exists(`${dir}/HEAD`)) && (await exists(`${dir}/objects`)) && (await exists(`${dir}/config`));
}
