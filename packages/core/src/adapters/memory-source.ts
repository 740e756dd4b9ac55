/**
 * A Source that lives in memory: commits are made by calling `commit()`. The reference Source
 * for the conformance suite and the fixture for engine tests; with `commits` given up front it
 * is fully deterministic, so two processes see the same history.
 */
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve, sep } from 'node:path';
import { z } from 'zod';
import type { DeployRequest, RequestDeployInput, Revision, Source } from '../contracts/source.js';
import { parseOptions, RingmasterError } from '../errors.js';
import { SAFE_NAME } from '../exec/quote.js';

export interface MemoryCommit {
  files: Record<string, string>;
  message: string;
  author?: string;
  /** ISO time; defaults to a fixed epoch plus one minute per commit, for determinism. */
  time?: string;
}

const commitSchema = z.object({
  files: z.record(z.string(), z.string()),
  message: z.string(),
  author: z.string().optional(),
  time: z.string().optional(),
});

export const memorySourceOptionsSchema = z
  .object({
    /** The line's name. @default 'main' */
    line: z.string().default('main'),
    /** Commits present from the start, oldest first. */
    commits: z.array(commitSchema).default([]),
  })
  .strict();
export type MemorySourceOptions = z.input<typeof memorySourceOptionsSchema>;

export interface MemorySource extends Source {
  /** Commits files (merged over the previous tree) and returns the revision id. */
  commit(files: Record<string, string>, message: string, author?: string, time?: string): Promise<string>;
  /** Rewrites history: drops the last `n` commits (a force-push). */
  rewind(n: number): void;
}

const EPOCH = Date.UTC(2026, 0, 1);

/**
 * An in-memory source.
 *
 * @example
 * ```ts
 * const source = memorySource({ commits: [{ files: { 'app.txt': 'v1' }, message: 'first' }] });
 * await source.commit({ 'app.txt': 'v2' }, 'second', 'alice');
 * ```
 */
export function memorySource(options: MemorySourceOptions = {}): MemorySource {
  const opts = parseOptions(memorySourceOptionsSchema, options, 'memory-source', 'memorySource');
  const history: { revision: Revision; tree: Record<string, string> }[] = [];
  const requests: DeployRequest[] = [];

  const add = (files: Record<string, string>, message: string, author = 'ringmaster', time?: string) => {
    const number = history.length + 1;
    const tree = { ...(history.at(-1)?.tree ?? {}), ...files };
    const id = createHash('sha1')
      .update(`${number}\0${message}\0${JSON.stringify(tree)}`)
      .digest('hex');
    const revision: Revision = {
      id,
      line: opts.line,
      author,
      message,
      time: time ?? new Date(EPOCH + number * 60_000).toISOString(),
      number,
      paths: Object.keys(files),
    };
    history.push({ revision, tree });
    return id;
  };
  for (const c of opts.commits) add(c.files, c.message, c.author, c.time);

  const indexOf = (id: string) => history.findIndex((h) => h.revision.id === id);

  return {
    name: 'memory',
    capabilities: { deployRequests: true, createDeployRequest: true },
    async head() {
      const last = history.at(-1);
      if (!last)
        throw new RingmasterError('SOURCE', `line ${opts.line} has no commits yet`, {
          scope: 'memory-source',
        });
      return structuredClone(last.revision);
    },
    async log(since) {
      if (since === undefined) return history.length ? [structuredClone(history.at(-1)!.revision)] : [];
      const at = indexOf(since);
      if (at === -1) {
        throw new RingmasterError('CURSOR_LOST', `revision ${since} is no longer on ${opts.line}`, {
          scope: 'memory-source',
          details: { since, head: history.at(-1)?.revision.id },
        });
      }
      return history.slice(at + 1).map((h) => structuredClone(h.revision));
    },
    async checkout(revision, dir) {
      const entry = history.find((h) => h.revision.id === revision);
      if (!entry)
        throw new RingmasterError('SOURCE', `checkout: no revision ${revision}`, { scope: 'memory-source' });
      const root = resolve(dir);
      await mkdir(root, { recursive: true });
      for (const [path, content] of Object.entries(entry.tree)) {
        const file = resolve(root, path);
        if (!file.startsWith(root + sep)) {
          throw new RingmasterError('UNSAFE_INPUT', `checkout: path ${path} escapes the tree`, {
            scope: 'memory-source',
          });
        }
        await mkdir(dirname(file), { recursive: true });
        await writeFile(file, content);
      }
    },
    async deployRequests(since) {
      const at = since === undefined ? -1 : requests.findIndex((r) => r.id === since);
      return structuredClone(requests.slice(at + 1));
    },
    async requestDeploy(input: RequestDeployInput) {
      if (!SAFE_NAME.test(input.ring)) {
        throw new RingmasterError(
          'UNSAFE_INPUT',
          `ring ${JSON.stringify(input.ring)} is not a valid ring name`,
          {
            scope: 'memory-source',
          },
        );
      }
      if (indexOf(input.revision) === -1) {
        throw new RingmasterError('SOURCE', `requestDeploy: no revision ${input.revision}`, {
          scope: 'memory-source',
        });
      }
      const request: DeployRequest = {
        id: String(requests.length + 1),
        ring: input.ring,
        revision: input.revision,
        author: 'ringmaster',
        time: new Date().toISOString(),
        message: input.message ?? `deploying to ${input.ring}`,
        name: input.name ?? new Date().toISOString().slice(0, 19).replace(/[T:]/g, '-'),
      };
      requests.push(request);
      return structuredClone(request);
    },
    commit: async (files, message, author, time) => add(files, message, author, time),
    rewind(n) {
      history.splice(Math.max(0, history.length - n));
    },
  };
}
