/**
 * Ring suites: which versions each ring's suite (`dists/<suite>`) lists, kept as
 * `.ringmaster/suites/<suite>.json` (package name → versions, oldest first), and the rule that
 * admits a release into one. While a suite is being rewritten, `<suite>.inflight` holds the
 * versions it is about to list, so retention keeps their pool files whichever Release a crash
 * leaves in place.
 */
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { RingmasterError } from '@ringmaster/core/adapter';
import { compareVersions } from '../version.js';
import { parentsOfMade, syncDir, writeFileAtomic, writeTemp } from './fs-atomic.js';
import { removeStaleTemps } from './indexes.js';
import type { PackageRecord } from './records.js';

/**
 * What a ring suite lists: package name → versions, oldest first, names in byte order. A Map:
 * a suite lists thousands of packages, and an admission copies the listing to change a few.
 */
export type Membership = Map<string, readonly string[]>;

const MEMBERSHIP = '.json';
const INFLIGHT = '.inflight';

/**
 * The versions of one package a suite lists after admitting `version`: those above it leave,
 * it joins, and only the `keep` newest at or below it stay (oldest first).
 */
export function admittedVersions(current: readonly string[], version: string, keep: number): string[] {
  const below = current.filter((v) => compareVersions(v, version) < 0);
  return [...below, version].sort(compareVersions).slice(-keep);
}

/** What admitting releases in order does to a membership (which is not changed). */
export interface Admission {
  /** The whole membership afterwards. */
  next: Membership;
  /** The versions `next` lists that the membership did not, by package. */
  added: Membership;
  /** False when `next` lists exactly what the membership did. */
  changed: boolean;
}

/** Applies {@link admittedVersions} for each admission, in order. */
export function admitAll(
  membership: Membership,
  admissions: readonly { name: string; version: string }[],
  keep: number,
): Admission {
  const next: Membership = new Map(membership);
  let joined = false;
  for (const { name, version } of admissions) {
    joined ||= !next.has(name);
    next.set(name, admittedVersions(next.get(name) ?? [], version, keep));
  }
  const added: Membership = new Map();
  let changed = false;
  for (const name of new Set(admissions.map((a) => a.name))) {
    const before = new Set(membership.get(name) ?? []);
    const after = next.get(name)!;
    const fresh = after.filter((v) => !before.has(v));
    if (fresh.length > 0) added.set(name, fresh);
    changed ||= fresh.length > 0 || after.length !== before.size;
  }
  // A package new to the suite goes to its place in name order.
  const ordered = joined ? new Map([...next].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : next;
  return { next: ordered, added, changed };
}

/** A plain copy for callers: `{ name: versions }`, names in byte order. */
export function membershipRecord(membership: Membership): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [name, versions] of membership) out[name] = [...versions];
  return out;
}

/** The catalogue records a membership lists (every architecture of each listed version). */
export function listedRecords(membership: Membership, records: readonly PackageRecord[]): PackageRecord[] {
  return records.filter((r) => membership.get(r.name)?.includes(r.version));
}

function parseMembership(text: string, path: string): Membership {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    value = error;
  }
  const valid =
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !(value instanceof Error) &&
    Object.values(value).every((vs) => Array.isArray(vs) && vs.every((v) => typeof v === 'string'));
  if (!valid) {
    throw new RingmasterError(
      'REPOSITORY',
      `${path} is not a suite listing (an object of package name → versions); fix or remove it, then reindex()`,
      { scope: 'pkg-deb', details: { path } },
    );
  }
  const entries = Object.entries(value as Record<string, string[]>);
  return new Map(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** The JSON of a membership (in name order already, so equal listings have equal files). */
function membershipJson(membership: Membership): string {
  return JSON.stringify(Object.fromEntries(membership));
}

/** The membership files of one repository (`.ringmaster/suites/`). Every write is under the publish lock. */
export class SuiteStore {
  /** The last text read or written of each file and what it parsed to (listings run to thousands). */
  private parsed = new Map<string, { text: string; membership: Membership }>();

  constructor(readonly dir: string) {}

  /** The file's membership (shared with later calls: never change it). */
  private async readFileOf(path: string): Promise<Membership | undefined> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    const known = this.parsed.get(path);
    if (known?.text === text) return known.membership;
    const membership = parseMembership(text, path);
    this.parsed.set(path, { text, membership });
    return membership;
  }

  /** What the suite lists, or undefined when nothing was ever admitted to it (never change it). */
  read(suite: string): Promise<Membership | undefined> {
    return this.readFileOf(join(this.dir, `${suite}${MEMBERSHIP}`));
  }

  /** True when a rewrite of the suite was cut short (a crash between its steps). */
  async interrupted(suite: string): Promise<boolean> {
    return (await this.readFileOf(join(this.dir, `${suite}${INFLIGHT}`))) !== undefined;
  }

  /**
   * Before a suite is rewritten: records the versions it is about to list that it does not
   * list yet (`added`) as in flight, together with what a rewrite cut short still holds, so
   * retention keeps them until the new listing is committed (see {@link prepare}). What it
   * lists now is kept by its listing.
   */
  async begin(suite: string, added: Membership): Promise<void> {
    // A directory made now is kept across a crash, as what is renamed into it.
    for (const dir of parentsOfMade(this.dir, await mkdir(this.dir, { recursive: true }))) await syncDir(dir);
    await removeStaleTemps(this.dir);
    const path = join(this.dir, `${suite}${INFLIGHT}`);
    const union: Membership = new Map(await this.readFileOf(path));
    for (const [name, versions] of added) {
      union.set(name, [...new Set([...(union.get(name) ?? []), ...versions])].sort(compareVersions));
    }
    const ordered = new Map([...union].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    await writeFileAtomic(path, membershipJson(ordered));
    // Durable before the indexes change: the new Release may survive a power loss, so must this.
    await syncDir(this.dir);
  }

  /**
   * Writes `membership` as the suite's next listing under a temporary name (durable, not yet in
   * effect): `commit()` puts it in place once the suite's indexes are, `discard()` drops it.
   */
  async prepare(
    suite: string,
    membership: Membership,
  ): Promise<{ commit(): Promise<void>; discard(): Promise<void> }> {
    await mkdir(this.dir, { recursive: true });
    const path = join(this.dir, `${suite}${MEMBERSHIP}`);
    const text = membershipJson(membership);
    const temp = await writeTemp(path, text);
    return {
      commit: async () => {
        await rename(temp, path);
        this.parsed.set(path, { text, membership });
        await rm(join(this.dir, `${suite}${INFLIGHT}`), { force: true });
        await syncDir(this.dir);
      },
      discard: () => rm(temp, { force: true }),
    };
  }

  /** Every suite that has a listing or a rewrite in flight. */
  async suites(): Promise<string[]> {
    const names = await readdir(this.dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [] as string[];
      throw error;
    });
    const suites = new Set<string>();
    for (const n of names) {
      // Temporary files start with a dot, which no suite name does.
      if (n.startsWith('.')) continue;
      if (n.endsWith(MEMBERSHIP)) suites.add(n.slice(0, -MEMBERSHIP.length));
      else if (n.endsWith(INFLIGHT)) suites.add(n.slice(0, -INFLIGHT.length));
    }
    return [...suites].sort();
  }

  /** Every version any suite lists or is about to list, by package name: what retention keeps. */
  async held(): Promise<Map<string, Set<string>>> {
    const out = new Map<string, Set<string>>();
    for (const suite of await this.suites()) {
      for (const file of [`${suite}${MEMBERSHIP}`, `${suite}${INFLIGHT}`]) {
        const membership = await this.readFileOf(join(this.dir, file));
        for (const [name, versions] of membership ?? []) {
          const set = out.get(name) ?? new Set<string>();
          for (const v of versions) set.add(v);
          out.set(name, set);
        }
      }
    }
    return out;
  }
}
