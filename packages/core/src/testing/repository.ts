/** Conformance suite for Repository adapters. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Artifact, Repository } from '../contracts/artifact.js';
import { isRingmasterError } from '../errors.js';

export interface RepositoryFixture {
  repository: Repository;
  /** A fresh artifact file of `name` at `version`; `variant` changes its bytes. */
  artifact(name: string, version: string, variant?: string): Promise<Artifact>;
  /** Versions in the order the repository must list them (its packager's order). */
  orderedVersions: [string, string, string];
  cleanup?(): Promise<void>;
}

export interface DescribeRepositoryOptions {
  create(): Promise<RepositoryFixture>;
  additionalTests?(fixture: () => RepositoryFixture): void;
}

export function describeRepository(name: string, options: DescribeRepositoryOptions): void {
  describe(`Repository conformance: ${name}`, () => {
    let fixture: RepositoryFixture;
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
  });
}
