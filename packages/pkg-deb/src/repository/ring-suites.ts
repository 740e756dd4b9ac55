/**
 * A suite per ring: `admit` makes `dists/<suite>` list exactly what was promoted to the ring,
 * signed like the main suite, and `suite` reads it back. The caller holds the publish lock for
 * `admit` and `rewriteAll`. A rewrite goes: versions in flight recorded (retention keeps their
 * pool files) → indexes written, Release last → listing committed. A crash at any point leaves
 * the previous Release or the new one, and neither names a pool file retention removed.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Artifact, SuiteListing } from '@ringmaster/core/adapter';
import { plainMessage, RingmasterError, toRingmasterError } from '@ringmaster/core/adapter';
import { sha256File } from '../archive/read-deb.js';
import { DEBIAN_ARCHITECTURE, DEBIAN_PACKAGE_NAME } from '../control.js';
import { versionProblem } from '../version.js';
import type { Catalogue } from './catalogue.js';
import { indexesAreLive, type SuiteLayout, writeIndexes } from './indexes.js';
import { NAME } from './options.js';
import type { PackageRecord } from './records.js';
import { SegmentedGzip } from './segmented-gzip.js';
import type { Signer } from './sign.js';
import { admitAll, listedRecords, type Membership, membershipRecord, SuiteStore } from './suites.js';

const SCOPE = 'pkg-deb';

export interface RingSuitesContext {
  /** The main suite's layout; a ring suite differs only in its name. */
  layout: SuiteLayout;
  catalogue: Catalogue;
  signer: Signer | undefined;
  /** `.ringmaster/suites`. */
  dir: string;
  /** Ring name → suite name, validated by the options schema. */
  suites: Record<string, string>;
  suiteKeep: number;
}

/** The ring-suite operations of one repository. */
export interface RingSuites {
  /** The suite name of `ring` (`REPOSITORY` when the ring has none it may use). */
  suiteOf(ring: string): string;
  /** Admits published artifacts to the ring's suite (under the publish lock). */
  admit(ring: string, artifacts: readonly Artifact[]): Promise<SuiteListing>;
  /** What the ring's suite lists now. */
  suite(ring: string): Promise<SuiteListing>;
  /** Rewrites every ring suite from its listing (under the publish lock), finishing any cut short. */
  rewriteAll(): Promise<void>;
  /** Every version a ring suite lists or is about to list, by package name. */
  held(): Promise<Map<string, Set<string>>>;
}

/** The Packages entries of the sums `writeIndexes` returns (the `.gz` ones are the same lists). */
function packagesSums(sums: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(sums).filter(([path]) => path.endsWith('/Packages')));
}

export function ringSuites(context: RingSuitesContext): RingSuites {
  const { layout, catalogue, signer } = context;
  const store = new SuiteStore(context.dir);
  const dists = (suite: string) => join(layout.dir, 'dists', suite);
  // A ring suite is rewritten on every promotion: its Packages.gz recompresses only what changed.
  const compressors = new Map<string, SegmentedGzip>();
  const gzipFor = (suite: string) => (data: Buffer, path: string) => {
    const key = `${suite}/${path}`;
    if (!compressors.has(key)) compressors.set(key, new SegmentedGzip(9));
    return compressors.get(key)!.gzip(data);
  };

  const refusal = (ring: string, why: string) =>
    new RingmasterError(
      'REPOSITORY',
      `ring ${JSON.stringify(ring)} ${why}; map it to a suite with the "suites" option`,
      { scope: SCOPE, details: { ring } },
    );

  const suiteOf = (ring: string): string => {
    if (typeof ring === 'string' && Object.hasOwn(context.suites, ring)) return context.suites[ring]!;
    if (typeof ring !== 'string' || !NAME.test(ring))
      throw refusal(
        ring,
        'is not a safe suite name (letters, digits, . _ -, starting with a letter or digit)',
      );
    if (ring === layout.suite || ring === layout.codename)
      throw refusal(ring, `would share dists/${ring}, the main suite, which lists every published version`);
    const owner = Object.keys(context.suites).find((r) => context.suites[r] === ring);
    if (owner !== undefined) throw refusal(ring, `would share dists/${ring}, the suite of ring "${owner}"`);
    return ring;
  };

  /** The record of a published artifact: same name, version, architecture and sha256, or `REPOSITORY`. */
  const publishedRecord = async (artifact: Artifact): Promise<PackageRecord> => {
    const { name, version, architecture } = artifact;
    const what = `${name} ${version} (${architecture})`;
    const wellFormed =
      typeof name === 'string' &&
      DEBIAN_PACKAGE_NAME.test(name) &&
      versionProblem(version) === undefined &&
      typeof architecture === 'string' &&
      DEBIAN_ARCHITECTURE.test(architecture);
    const record = wellFormed ? await catalogue.get(name, version, architecture) : undefined;
    if (!record) {
      throw new RingmasterError(
        'REPOSITORY',
        `${what} is not published in this repository: publish it before admitting it to a ring; no suite changed`,
        { scope: SCOPE, details: { name, version } },
      );
    }
    if (typeof artifact.sha256 !== 'string' || record.sha256 !== artifact.sha256.toLowerCase()) {
      throw new RingmasterError(
        'REPOSITORY',
        `${what} is published with other bytes (sha256 ${record.sha256.slice(0, 12)}…, this one ${String(artifact.sha256).slice(0, 12)}…); no suite changed`,
        { scope: SCOPE, details: { name, version } },
      );
    }
    return record;
  };

  /** The SHA-256 of each Packages file the suite serves, or undefined when its indexes are incomplete. */
  const readIndexes = async (suite: string): Promise<Record<string, string> | undefined> => {
    try {
      await stat(join(dists(suite), 'Release'));
      const out: Record<string, string> = {};
      for (const arch of layout.architectures) {
        const path = `${layout.component}/binary-${arch}/Packages`;
        out[path] = await sha256File(join(dists(suite), path));
      }
      return out;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  };

  /**
   * Writes the suite's indexes for `membership` (which lists `added` on top of the committed
   * listing), then commits it; resolves with the Packages sums.
   */
  const rewrite = async (
    suite: string,
    membership: Membership,
    added: Membership = new Map(),
  ): Promise<Record<string, string>> => {
    // Before the indexes change (writeIndexes awaits it before its first rename), the versions
    // in flight are recorded — if this is cut short, retention still keeps every version either
    // Release could name; on failure the record stays until the next rewrite — and the next
    // listing is written, to be put in place once the indexes are.
    const ready = store.begin(suite, added).then(() => store.prepare(suite, membership));
    ready.catch(() => undefined); // rejects through writeIndexes, which awaits it
    let sums: Record<string, string>;
    try {
      sums = await writeIndexes(
        { ...layout, suite, codename: suite },
        listedRecords(membership, await catalogue.all()),
        signer,
        new Date(),
        { ready, gzip: gzipFor(suite) },
      );
    } catch (error) {
      if (indexesAreLive(error)) {
        // Readers see the new indexes: the listing that names what they list is put in place.
        try {
          await (await ready).commit();
        } catch (failed) {
          // The listing may be in place or not; its in-flight record stays, so admitting the
          // same packages again rewrites both (reindex() would rewrite from the old listing).
          throw new RingmasterError(
            'REPOSITORY',
            `the new indexes of suite ${suite} are in place and served, but fsyncing their directories failed, and putting the suite's listing in place failed too (it may be in place): admit the same packages again: ${plainMessage((failed as Error).message)}`,
            { scope: SCOPE, cause: error, details: error.details },
          );
        }
        throw error;
      }
      // No write outlives the lock.
      await (await ready.catch(() => undefined))?.discard();
      throw toRingmasterError(error, 'REPOSITORY', SCOPE, `cannot write the indexes of suite ${suite}`);
    }
    await (await ready).commit();
    return packagesSums(sums);
  };

  return {
    suiteOf,

    async admit(ring, artifacts) {
      const suite = suiteOf(ring);
      // Every artifact is checked before anything is written: one refusal changes nothing.
      const records: PackageRecord[] = [];
      for (const artifact of artifacts) records.push(await publishedRecord(artifact));
      const committed: Membership = (await store.read(suite)) ?? new Map();
      const { next, added, changed } = admitAll(committed, records, context.suiteKeep);
      // Admitting what the suite already lists leaves its signed files as they are.
      if (!changed && !(await store.interrupted(suite))) {
        const indexes = await readIndexes(suite);
        if (indexes) return { ring, suite, packages: membershipRecord(committed), indexes };
      }
      const indexes = await rewrite(suite, next, added);
      return { ring, suite, packages: membershipRecord(next), indexes };
    },

    async suite(ring) {
      const suite = suiteOf(ring);
      const membership = await store.read(suite);
      if (!membership) return { ring, suite, packages: {}, indexes: {} };
      return {
        ring,
        suite,
        packages: membershipRecord(membership),
        indexes: (await readIndexes(suite)) ?? {},
      };
    },

    async rewriteAll() {
      for (const suite of await store.suites()) await rewrite(suite, (await store.read(suite)) ?? new Map());
    },

    held: () => store.held(),
  };
}
