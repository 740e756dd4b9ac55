/**
 * The watched line: its head and the log since the engine's cursor, read from the mirror after
 * one fetch. Revisions are the branch's first-parent chain (a merge is one revision), numbered
 * by their position on it, and a cursor that history no longer contains is reported as
 * `CURSOR_LOST` instead of being silently replayed from the root.
 */
import { type Revision, RingmasterError } from '@ringmaster/core/adapter';
import { type LoggedCommit, logFormat, parseLog, toRevision } from './log-format.js';
import type { Mirror } from './mirror.js';
import type { ResolvedOptions } from './options.js';
import { type GitRunner, gitError, SCOPE } from './runner.js';

const COMMIT_ID = /^[0-9a-fA-F]{4,64}$/;
// Generous: a log since an old cursor on a busy repository can carry many large messages.
const LOG_OUTPUT_LIMIT = 512 * 1024 * 1024;
const NUMBER_CACHE_SIZE = 4096;

/** Throws `SOURCE` unless `id` is a (possibly abbreviated) hex commit id; returns it lowercased. */
export function assertCommitId(id: string, what: string): string {
  if (typeof id !== 'string' || !COMMIT_ID.test(id)) {
    throw new RingmasterError(
      'SOURCE',
      `${what} ${JSON.stringify(id)} is not a git commit id (4 to 64 hex digits)`,
      {
        scope: SCOPE,
        details: { value: id },
      },
    );
  }
  return id.toLowerCase();
}

export class History {
  // sha → first-parent count; the previous poll's head is almost always the next cursor.
  private readonly numbers = new Map<string, number>();

  constructor(
    private readonly git: GitRunner,
    private readonly mirror: Mirror,
    private readonly options: ResolvedOptions,
  ) {}

  private get ref(): string {
    return `refs/heads/${this.options.branch}`;
  }

  /** The newest revision on the branch. */
  async head(): Promise<Revision> {
    await this.mirror.sync();
    const [commit] = await this.read(['--max-count=1'], [this.ref], 'reading the head of the branch');
    if (!commit) {
      throw new RingmasterError('SOURCE', `branch ${this.options.branch} has no commits`, { scope: SCOPE });
    }
    return toRevision(commit, this.options.branch, await this.numberOf(commit.id));
  }

  /** Revisions after `since` (exclusive), oldest first; without `since`, the head alone. */
  async log(since?: string): Promise<Revision[]> {
    if (since === undefined) return [await this.head()];
    const cursor = assertCommitId(since, 'log cursor');
    await this.mirror.sync();
    const head = await this.mirror.resolveRef(this.ref);
    if (head.startsWith(cursor)) return [];
    const operation = `reading the log of ${this.options.branch} since ${cursor}`;
    const { marker, args } = logFormat();
    const argv = ['log', '--first-parent', '--reverse', ...args, '--end-of-options', `${cursor}..${head}`];
    const result = await this.git.run(argv, {
      operation,
      gitDir: this.mirror.dir,
      allowFailure: true,
      maxOutputBytes: LOG_OUTPUT_LIMIT,
    });
    if (result.exitCode !== 0) {
      if (!(await this.exists(cursor))) throw this.cursorLost(cursor, head);
      throw gitError({ operation }, argv, result, this.git.redact);
    }
    const commits = parseLog(result.stdout, marker);
    const last = commits.at(-1);
    // Nothing after the cursor, yet the head differs: the branch moved back or sideways.
    if (!last) throw this.cursorLost(cursor, head);
    const continues = commits[0]!.parents[0]?.startsWith(cursor) ?? false;
    if (!continues && !(await this.isAncestor(cursor, last.id))) throw this.cursorLost(cursor, last.id);
    const known = continues ? this.cached(commits[0]!.parents[0]!) : undefined;
    const base = known ?? (await this.numberOf(last.id)) - commits.length;
    return commits.map((commit, i) => {
      this.remember(commit.id, base + i + 1);
      return toRevision(commit, this.options.branch, base + i + 1);
    });
  }

  private async read(flags: string[], revs: string[], operation: string): Promise<LoggedCommit[]> {
    const { marker, args } = logFormat();
    const result = await this.git.run(
      ['log', '--first-parent', ...flags, ...args, '--end-of-options', ...revs],
      {
        operation,
        gitDir: this.mirror.dir,
        maxOutputBytes: LOG_OUTPUT_LIMIT,
      },
    );
    return parseLog(result.stdout, marker);
  }

  private async exists(id: string): Promise<boolean> {
    const result = await this.git.run(['cat-file', '-e', '--end-of-options', `${id}^{commit}`], {
      operation: `looking up commit ${id}`,
      gitDir: this.mirror.dir,
      allowFailure: true,
    });
    return result.exitCode === 0;
  }

  private async isAncestor(ancestor: string, of: string): Promise<boolean> {
    const argv = ['merge-base', '--is-ancestor', ancestor, of];
    const operation = `checking that ${ancestor} is on ${this.options.branch}`;
    const result = await this.git.run(argv, { operation, gitDir: this.mirror.dir, allowFailure: true });
    if (result.exitCode === 0) return true;
    if (result.exitCode === 1) return false;
    throw gitError({ operation }, argv, result, this.git.redact);
  }

  private cursorLost(since: string, head: string): RingmasterError {
    const branch = this.options.branch;
    return new RingmasterError(
      'CURSOR_LOST',
      `revision ${since} is no longer on branch ${branch} (history was rewritten, e.g. by a force-push); ` +
        `the branch head is now ${head}. Reset the cursor to the head to continue from there.`,
      { scope: SCOPE, details: { since, head, branch } },
    );
  }

  /** The first-parent count of `id`: 1 for a root commit, growing by one per revision. */
  async numberOf(id: string): Promise<number> {
    const known = this.cached(id);
    if (known !== undefined) return known;
    const result = await this.git.run(['rev-list', '--count', '--first-parent', '--end-of-options', id], {
      operation: `counting the revisions up to ${id}`,
      gitDir: this.mirror.dir,
    });
    const count = Number(result.stdout.trim());
    this.remember(id, count);
    return count;
  }

  private cached(id: string): number | undefined {
    return this.numbers.get(id);
  }

  private remember(id: string, number: number): void {
    this.numbers.delete(id);
    this.numbers.set(id, number);
    if (this.numbers.size > NUMBER_CACHE_SIZE) {
      const oldest = this.numbers.keys().next().value;
      if (oldest !== undefined) this.numbers.delete(oldest);
    }
  }
}
