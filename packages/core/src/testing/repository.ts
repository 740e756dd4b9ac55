/**
 * Conformance suite for Repository adapters: publish, find, order, idempotence, close, and —
 * for a repository with a suite per ring (`admit`/`suite`) — admission, rollback and refusal.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Artifact, Repository, SuiteListing } from '../contracts/artifact.js';
import { isRingmasterError } from '../errors.js';

export interface RepositoryFixture<R extends Repository = Repository> {
  repository: R;
  /** A fresh artifact file of `name` at `version`; `variant` changes its bytes. */
  artifact(name: string, version: string, variant?: string): Promise<Artifact>;
  /** Versions in the order the repository must list them (its packager's order). */
  orderedVersions: [string, string, string];
  cleanup?(): Promise<void>;
}

export interface DescribeRepositoryOptions<R extends Repository = Repository> {
  create(): Promise<RepositoryFixture<R>>;
  additionalTests?(fixture: () => RepositoryFixture<R>): void;
}

/** Registers the Repository contract tests: publish, find, order, idempotence, ring suites where present, close. */
export function describeRepository<R extends Repository>(
  name: string,
  options: DescribeRepositoryOptions<R>,
): void {
  describe(`Repository conformance: ${name}`, () => {
    let fixture: RepositoryFixture<R>;
    beforeEach(async () => {
      fixture = await options.create();
    });
    afterEach(async () => {
      await fixture.repository.close?.();
      await fixture.cleanup?.();
    });

    it('publishes and finds an artifact by name and version, with the same checksum', async () => {
      const a = await fixture.artifact('app', fixture.orderedVersions[0]);
      const stored = await fixture.repository.publish(a);
      expect(stored.sha256).toBe(a.sha256);
      const found = await fixture.repository.find('app', fixture.orderedVersions[0]);
      expect(found?.sha256).toBe(a.sha256);
      expect(found?.size).toBe(a.size);
      expect(await fixture.repository.find('app', fixture.orderedVersions[1])).toBeUndefined();
    });

    it('lists versions oldest first by the packager order, per package', async () => {
      const [v1, v2, v3] = fixture.orderedVersions;
      for (const v of [v2, v3, v1]) await fixture.repository.publish(await fixture.artifact('app', v));
      await fixture.repository.publish(await fixture.artifact('other', v1));
      expect(await fixture.repository.versions('app')).toEqual([v1, v2, v3]);
      expect(await fixture.repository.versions('other')).toEqual([v1]);
      expect(await fixture.repository.versions('missing')).toEqual([]);
    });

    it('is idempotent for the same bytes and refuses different bytes under the same version', async () => {
      const v = fixture.orderedVersions[0];
      const a = await fixture.artifact('app', v);
      await fixture.repository.publish(a);
      await fixture.repository.publish(a);
      expect(await fixture.repository.versions('app')).toEqual([v]);
      const changed = await fixture.artifact('app', v, 'changed');
      const error = await fixture.repository.publish(changed).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isRingmasterError(error, 'REPOSITORY')).toBe(true);
      expect((await fixture.repository.find('app', v))?.sha256).toBe(a.sha256);
    });

    /** The repository's `admit` and `suite`, or undefined when it keeps no suite per ring. */
    const ringSuites = () => {
      const { admit, suite } = fixture.repository;
      if (!admit) {
        expect(suite, 'suite() comes with admit()').toBeUndefined();
        return undefined;
      }
      expect(typeof suite, 'admit() comes with suite()').toBe('function');
      return {
        admit: (ring: string, artifacts: Artifact[]) => admit.call(fixture.repository, ring, artifacts),
        suite: (ring: string) => suite!.call(fixture.repository, ring),
      };
    };
    /** Each package's versions in the listing come oldest first, by the packager's order. */
    const expectOrdered = (listing: SuiteListing) => {
      for (const versions of Object.values(listing.packages)) {
        const ranks = versions.map((v) => fixture.orderedVersions.indexOf(v as never));
        expect(ranks).toEqual([...ranks].sort((x, y) => x - y));
      }
    };

    it('admit(), where present, makes the admitted version the suite’s newest and drops the versions above it', async () => {
      const rings = ringSuites();
      if (!rings) return;
      const [v1, v2, v3] = fixture.orderedVersions;
      const app: Record<string, Artifact> = {};
      for (const v of [v1, v2, v3]) {
        app[v] = await fixture.artifact('app', v);
        await fixture.repository.publish(app[v]!);
      }
      const other = await fixture.artifact('other', v1);
      await fixture.repository.publish(other);
      expect(await rings.suite('ring-a')).toMatchObject({ ring: 'ring-a', packages: {} });

      const up = await rings.admit('ring-a', [app[v1]!, app[v2]!]);
      expect(up.ring).toBe('ring-a');
      expect(typeof up.suite).toBe('string');
      expect(up.packages.app?.at(-1)).toBe(v2);
      expect(up.packages.app).not.toContain(v3);
      expect(up.packages.other).toBeUndefined();
      expectOrdered(up);

      const both = await rings.admit('ring-a', [other]);
      expect(both.packages.other).toEqual([v1]);
      expect(both.packages.app?.at(-1)).toBe(v2);

      // A rollback: the versions above the admitted one leave the suite.
      const down = await rings.admit('ring-a', [app[v1]!]);
      expect(down.packages.app?.at(-1)).toBe(v1);
      expect(down.packages.app).not.toContain(v2);
      expect(down.packages.app).not.toContain(v3);
      expect(down.packages.other).toEqual([v1]);
      expect(await rings.suite('ring-a')).toEqual(down);
      // Each ring has its own suite; the repository still holds every version.
      expect((await rings.suite('ring-b')).packages).toEqual({});
      expect(await fixture.repository.versions('app')).toEqual([v1, v2, v3]);
    });

    it('admit(), where present, is idempotent', async () => {
      const rings = ringSuites();
      if (!rings) return;
      const a = await fixture.artifact('app', fixture.orderedVersions[1]);
      await fixture.repository.publish(a);
      const first = await rings.admit('ring-a', [a]);
      expect(await rings.admit('ring-a', [a])).toEqual(first);
      expect(await rings.admit('ring-a', [a, a])).toEqual(first);
      expect(await rings.suite('ring-a')).toEqual(first);
    });

    it('admit(), where present, refuses an artifact never published or with other bytes (REPOSITORY), changing nothing', async () => {
      const rings = ringSuites();
      if (!rings) return;
      const [v1, v2] = fixture.orderedVersions;
      const published = await fixture.artifact('app', v1);
      await fixture.repository.publish(published);
      await rings.admit('ring-a', [published]);
      const before = await rings.suite('ring-a');
      const unpublished = await fixture.artifact('app', v2);
      const otherBytes = await fixture.artifact('app', v1, 'changed');
      for (const batch of [[unpublished], [otherBytes], [published, unpublished]]) {
        const error = await rings.admit('ring-a', batch).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(isRingmasterError(error, 'REPOSITORY'), String(error)).toBe(true);
      }
      expect(await rings.suite('ring-a')).toEqual(before);
      expect((await rings.suite('ring-b')).packages).toEqual({});
    });

    options.additionalTests?.(() => fixture);

    it('close() may be called twice, and a repository used after it works again or fails with a RingmasterError', async () => {
      const a = await fixture.artifact('app', fixture.orderedVersions[0]);
      await fixture.repository.publish(a);
      await fixture.repository.close?.();
      await fixture.repository.close?.();
      const after = await fixture.repository.find('app', fixture.orderedVersions[0]).then(
        (found) => found,
        (e: unknown) => e,
      );
      if (after instanceof Error) expect(isRingmasterError(after)).toBe(true);
      else expect((after as Artifact | undefined)?.sha256).toBe(a.sha256);
    });
  });
}
