/**
 * Conformance suite for Packager adapters: what the contract promises and the engine relies on.
 * `versionFor` is pure (same revision, same version; the revision untouched), its versions grow
 * with the revision number in `compareVersions`' order, that order is a total order (reflexive,
 * antisymmetric, transitive), and `package()` writes a file whose name, version, size and
 * sha256 are the artifact's.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Packager } from '../contracts/artifact.js';
import type { Revision } from '../contracts/source.js';

export interface PackagerFixture<P extends Packager = Packager> {
  packager: P;
  /** Files of a build output the packager can package (path → content). @default one small file */
  tree?: Record<string, string>;
  cleanup?(): Promise<void>;
}

export interface DescribePackagerOptions<P extends Packager = Packager> {
  create(): Promise<PackagerFixture<P>>;
  additionalTests?(fixture: () => PackagerFixture<P>): void;
}

/** A revision as a source reports it, numbered `n` along its line. */
function revision(n: number): Revision {
  return {
    id: createHash('sha1').update(`revision ${n}`).digest('hex'),
    line: 'main',
    author: 'alice',
    message: `change ${n}`,
    time: new Date(Date.UTC(2026, 0, 1, 0, n)).toISOString(),
    number: n,
  };
}

/**
 * Registers the Packager contract tests.
 *
 * @example
 * ```ts
 * describePackager('deb', { create: async () => ({ packager: deb({ name: 'app', maintainer, description }) }) });
 * ```
 */
export function describePackager<P extends Packager>(
  name: string,
  options: DescribePackagerOptions<P>,
): void {
  describe(`Packager conformance: ${name}`, () => {
    let fixture: PackagerFixture<P>;
    let scratch: string;
    beforeAll(async () => {
      fixture = await options.create();
      scratch = await mkdtemp(join(tmpdir(), 'rm-packager-'));
    });
    afterAll(async () => {
      await fixture?.cleanup?.();
      if (scratch) await rm(scratch, { recursive: true, force: true });
    });
    const numbers = [1, 2, 3, 9, 10, 11, 99, 100, 1234];

    it('versionFor is pure: the same revision gives the same version, and the revision is left as it was', () => {
      for (const n of numbers) {
        const r = revision(n);
        const copy = structuredClone(r);
        const v = fixture.packager.versionFor(r);
        expect(fixture.packager.versionFor(r)).toBe(v);
        expect(fixture.packager.versionFor(copy)).toBe(v);
        expect(r).toEqual(copy);
      }
    });

    it("versions grow with the revision number, in its own order (not the strings')", () => {
      const versions = numbers.map((n) => fixture.packager.versionFor(revision(n)));
      for (let i = 1; i < versions.length; i++)
        expect(fixture.packager.compareVersions(versions[i]!, versions[i - 1]!)).toBeGreaterThan(0);
    });

    it('compareVersions is a total order: reflexive, antisymmetric, transitive', () => {
      const versions = numbers.map((n) => fixture.packager.versionFor(revision(n)));
      // `+ 0` folds -0 into 0: "equal" has one sign.
      const sign = (x: number) => Math.sign(x) + 0;
      for (const a of versions) {
        expect(sign(fixture.packager.compareVersions(a, a))).toBe(0);
        for (const b of versions) {
          expect(sign(fixture.packager.compareVersions(a, b))).toBe(
            sign(-fixture.packager.compareVersions(b, a)),
          );
          for (const c of versions) {
            if (fixture.packager.compareVersions(a, b) < 0 && fixture.packager.compareVersions(b, c) < 0)
              expect(fixture.packager.compareVersions(a, c)).toBeLessThan(0);
          }
        }
      }
    });

    it("package() writes the artifact it describes: its name, the revision's version, its size and sha256", async () => {
      const dir = join(scratch, 'tree');
      for (const [path, content] of Object.entries(fixture.tree ?? { 'share/app/VERSION': '1\n' })) {
        await mkdir(join(dir, path, '..'), { recursive: true });
        await writeFile(join(dir, path), content);
      }
      const r = revision(7);
      const artifact = await fixture.packager.package({ dir, revision: r, outDir: join(scratch, 'out') });
      expect(artifact.name).toBe(fixture.packager.packageName);
      expect(artifact.version).toBe(fixture.packager.versionFor(r));
      const bytes = await readFile(artifact.file);
      expect(artifact.size).toBe(bytes.length);
      expect(artifact.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    });

    options.additionalTests?.(() => fixture);
  });
}
