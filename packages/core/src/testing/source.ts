/**
 * Conformance suite for Source adapters. An adapter package calls `describeSource` from a test
 * file with a fixture that makes real commits; the suite checks the contract's promises.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Source } from '../contracts/source.js';
import { isRingmasterError } from '../errors.js';

export interface SourceFixture<S extends Source = Source> {
  source: S;
  /** Commits `files` (path → content) to the watched line, as a person would. Returns the revision id. */
  commit(files: Record<string, string>, message: string, author?: string): Promise<string>;
  cleanup?(): Promise<void>;
}

export interface DescribeSourceOptions<S extends Source = Source> {
  /** A fresh repository with at least one commit, and a source watching it. */
  create(): Promise<SourceFixture<S>>;
  /** More tests, registered inside the suite, with access to the current fixture. */
  additionalTests?(fixture: () => SourceFixture<S>): void;
}

/**
 * Registers the Source contract tests.
 *
 * @example
 * ```ts
 * describeSource('git', { create: async () => ({ source: git({ url }), commit }) });
 * ```
 */
export function describeSource<S extends Source>(name: string, options: DescribeSourceOptions<S>): void {
  describe(`Source conformance: ${name}`, () => {
    let fixture: SourceFixture<S>;
    const scratch: string[] = [];
    beforeEach(async () => {
      fixture = await options.create();
    });
    afterEach(async () => {
      await fixture.source.close?.();
      await fixture.cleanup?.();
      await Promise.all(scratch.splice(0).map((d) => rm(d, { recursive: true, force: true })));
    });
    const tempDir = async () => {
      const dir = await mkdtemp(join(tmpdir(), 'rm-src-'));
      scratch.push(dir);
      return dir;
    };

    it('head() returns the newest commit with its author and message', async () => {
      const id = await fixture.commit({ 'a.txt': 'one\n' }, 'first change', 'alice');
      const head = await fixture.source.head();
      expect(head.id).toBe(id);
      expect(head.author).toBe('alice');
      expect(head.message.trim()).toBe('first change');
      expect(Number.isNaN(Date.parse(head.time))).toBe(false);
    });

    it('log(since) lists only the newer commits, oldest first', async () => {
      const base = await fixture.commit({ 'a.txt': '1\n' }, 'base');
      const r1 = await fixture.commit({ 'a.txt': '2\n' }, 'second');
      const r2 = await fixture.commit({ 'b.txt': '3\n' }, 'third');
      const log = await fixture.source.log(base);
      expect(log.map((r) => r.id)).toEqual([r1, r2]);
      expect(log.map((r) => r.message.trim())).toEqual(['second', 'third']);
      expect(await fixture.source.log(r2)).toEqual([]);
    });

    it('log() without a cursor returns just the head', async () => {
      const id = await fixture.commit({ 'a.txt': 'x\n' }, 'only');
      const log = await fixture.source.log();
      expect(log.map((r) => r.id)).toEqual([id]);
    });

    it('revision numbers grow along the line when reported', async () => {
      await fixture.commit({ 'a.txt': '1\n' }, 'a');
      const a = await fixture.source.head();
      await fixture.commit({ 'a.txt': '2\n' }, 'b');
      const b = await fixture.source.head();
      if (a.number !== undefined && b.number !== undefined) expect(b.number).toBeGreaterThan(a.number);
      else expect(a.number).toBe(b.number);
    });

    it('checkout(revision) writes that revision, not the head', async () => {
      const old = await fixture.commit({ 'app.txt': 'old\n' }, 'old');
      await fixture.commit({ 'app.txt': 'new\n' }, 'new');
      const dir = await tempDir();
      const out = join(dir, 'tree');
      await fixture.source.checkout(old, out);
      expect(await readFile(join(out, 'app.txt'), 'utf8')).toBe('old\n');
    });

    it('keeps hostile commit messages intact', async () => {
      const message = `fix: $(rm -rf /); \`id\` <b>&amp;</b> "quotes" 'single'\nsecond line`;
      const base = (await fixture.source.head()).id;
      const id = await fixture.commit({ 'h.txt': 'h\n' }, message, 'mallory <$(id)>');
      const [rev] = await fixture.source.log(base);
      expect(rev?.id).toBe(id);
      expect(rev?.message.trim()).toBe(message);
    });

    it('checkout of a revision that does not exist fails with SOURCE', async () => {
      const dir = await tempDir();
      const error = await fixture.source
        .checkout('ffffffffffffffffffffffffffffffffffff0000', join(dir, 'x'))
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(isRingmasterError(error, 'SOURCE')).toBe(true);
    });

    it('declares exactly the capabilities its methods provide', () => {
      const caps = fixture.source.capabilities ?? {};
      expect(typeof fixture.source.deployRequests === 'function').toBe(Boolean(caps.deployRequests));
      expect(typeof fixture.source.requestDeploy === 'function').toBe(Boolean(caps.createDeployRequest));
    });

    it('deploy requests round-trip, when the source declares both: made by requestDeploy, read back by deployRequests', async () => {
      const caps = fixture.source.capabilities ?? {};
      if (!caps.deployRequests || !caps.createDeployRequest) {
        // Nothing to round-trip: the source says so, and has neither method to call.
        expect(Boolean(fixture.source.deployRequests && fixture.source.requestDeploy)).toBe(false);
        return;
      }
      const id = await fixture.commit({ 'd.txt': 'd\n' }, 'deploy me');
      const before = await fixture.source.deployRequests!();
      const made = await fixture.source.requestDeploy!({
        ring: 'prod',
        revision: id,
        message: 'deploying to prod',
      });
      expect(made.ring).toBe('prod');
      expect(made.revision).toBe(id);
      const after = await fixture.source.deployRequests!(before.at(-1)?.id);
      expect(after.map((r) => r.id)).toContain(made.id);
      const seen = after.find((r) => r.id === made.id)!;
      expect(seen.revision).toBe(id);
      expect(seen.ring).toBe('prod');
    });

    it('close() may be called twice, and a source used after it works again or fails with a RingmasterError', async () => {
      await fixture.source.close?.();
      await fixture.source.close?.();
      const after = await fixture.source.head().then(
        (head) => head,
        (e: unknown) => e,
      );
      if (after instanceof Error) expect(isRingmasterError(after)).toBe(true);
      else expect((after as { id: string }).id).toBeTruthy();
    });

    options.additionalTests?.(() => fixture);
  });
}
