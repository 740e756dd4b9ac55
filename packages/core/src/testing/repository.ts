/** Conformance suite for Repository adapters. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Artifact, Repository } from '../contracts/artifact.js';
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

/** Registers the Repository contract tests: publish, find, order, idempotence, close. */
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
