/**
 * Relation checking with dpkg's rules (Debian Policy §7.1, §7.5, §7.6): the strict parser of a
 * binary package's relation fields, `satisfies` as dpkg decides it (versions in Debian order,
 * versioned and unversioned Provides, alternatives, Breaks and Conflicts that never hit their own
 * package), and `relationProblems()`, the check a release goes through before it joins a ring's
 * set of packages.
 *
 * Architectures: we do not model Multi-Arch. An unqualified relation matches a package of any
 * architecture (a ring's hosts run one architecture); `:any` matches any architecture too (dpkg
 * also wants `Multi-Arch: allowed` for it in Depends); an explicit `:amd64` matches `amd64` or
 * `all`; `:native` matches the declaring package's architecture or `all` (anything when the
 * declaring package is itself `all`, since we do not know the host's).
 */
import type {
  Artifact,
  ArtifactRelations,
  RelationCheck,
  RelationField,
  RelationProblem,
} from '@ringmaster/core/adapter';
import { RingmasterError } from '@ringmaster/core/adapter';
import { fieldOf } from './archive/control-file.js';
import { parseRelationEntry, type RelationAlternative, type RelationKind } from './control.js';
import { compareVersions } from './version.js';

const SCOPE = 'pkg-deb';

/** A version operator of a binary package's relation. */
export type RelationOperator = '<<' | '<=' | '=' | '>=' | '>>';

/** One alternative of a parsed relation: `name[:arch] [(op version)]`. */
export interface ParsedAlternative {
  name: string;
  /** `any`, `native` or an architecture, when qualified. */
  arch?: string;
  operator?: RelationOperator;
  version?: string;
}

/** One relation entry, parsed: its alternatives (one for Breaks, Conflicts and Provides). */
export interface ParsedRelation {
  /** The entry as declared: `bar (>= 2.0) | baz`. */
  entry: string;
  alternatives: ParsedAlternative[];
}

/** The fields {@link parseRelations} reads. */
export type RelationsField = RelationField | 'Provides';

const KIND: Record<RelationsField, RelationKind> = {
  'Pre-Depends': 'depends',
  Depends: 'depends',
  Breaks: 'conflicts',
  Conflicts: 'conflicts',
  Provides: 'provides',
};

/** Why a binary package's alternative is refused beyond what {@link parseRelationEntry} checks. */
function binaryProblem(alternative: RelationAlternative, field: RelationsField): string | undefined {
  if (alternative.restriction !== undefined) {
    return `architecture restrictions ("[${alternative.restriction}]") are source-package syntax (Build-Depends); a binary package's relations cannot have them (dpkg refuses them)`;
  }
  if (alternative.arch === 'all' || alternative.arch === 'source') {
    return `":${alternative.arch}" is not an architecture qualifier: use ":any", ":native" or an architecture such as ":amd64"`;
  }
  if (field === 'Provides' && alternative.arch === 'native') {
    return '":native" is not allowed in Provides';
  }
  return undefined;
}

/**
 * Parses one relation field's entries (as in {@link ArtifactRelations}: one relation per item)
 * with the rules of a binary package's control file. Throws a `PACKAGE` error naming the owner,
 * its version, the field and the entry when one does not parse.
 *
 * @example
 * ```ts
 * parseRelations('Depends', ['bar (>= 2.0) | baz'], { name: 'foo', version: '1.1' });
 * // [{ entry: 'bar (>= 2.0) | baz', alternatives: [{ name: 'bar', operator: '>=', version: '2.0' }, { name: 'baz' }] }]
 * parseRelations('Depends', ['bar (> 2.0)'], owner); // throws: foo 1.1: Depends entry "bar (> 2.0)" does not parse: operator ">" is obsolete …
 * ```
 */
export function parseRelations(
  field: RelationsField,
  entries: readonly string[],
  owner: { name: string; version: string },
): ParsedRelation[] {
  return entries.map((entry) => parseEntry(field, entry, owner));
}

/**
 * Why one entry of a binary package's relation field is not what dpkg accepts there (a
 * restriction such as `[amd64]`, a source-only qualifier), or undefined. `deb()` checks its
 * options with it, so a package whose relations cannot be checked is never built.
 */
export function relationEntryProblem(entry: string, field: RelationsField): string | undefined {
  const parsed = parseRelationEntry(entry, KIND[field]);
  if (typeof parsed === 'string') return parsed;
  return parsed.map((a) => binaryProblem(a, field)).find(Boolean);
}

/** One entry of {@link parseRelations}. */
function parseEntry(
  field: RelationsField,
  entry: string,
  owner: { name: string; version: string },
): ParsedRelation {
  const parsed = parseRelationEntry(entry, KIND[field]);
  const problem =
    typeof parsed === 'string' ? parsed : parsed.map((a) => binaryProblem(a, field)).find(Boolean);
  if (typeof parsed === 'string' || problem) {
    throw new RingmasterError(
      'PACKAGE',
      `${owner.name} ${owner.version}: ${field} entry ${JSON.stringify(entry)} does not parse: ${problem}`,
      { scope: SCOPE, details: { package: owner.name, version: owner.version, field, relation: entry } },
    );
  }
  // What is left is a ParsedAlternative: no restriction (refused above), a checked operator.
  return { entry, alternatives: parsed as ParsedAlternative[] };
}

/** Splits a control-file relation field into entries: on commas, whitespace runs made one space. */
function entriesOf(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value
    .split(',')
    .map((entry) => entry.replace(/\s+/g, ' ').trim())
    .filter((entry) => entry !== '');
}

/**
 * The relations of a control file's fields (as `parseControlFile` or `DebInfo.fields` give
 * them), only the fields that have entries. Entries are not validated here: the check parses them.
 *
 * @example
 * ```ts
 * relationsOf([['Package', 'foo'], ['Depends', 'bar (>= 2.0),\n baz | qux']]);
 * // { depends: ['bar (>= 2.0)', 'baz | qux'] }
 * ```
 */
export function relationsOf(fields: readonly [string, string][]): ArtifactRelations {
  const relations: ArtifactRelations = {};
  const add = (key: keyof ArtifactRelations, name: string) => {
    const entries = entriesOf(fieldOf(fields, name));
    if (entries.length > 0) relations[key] = entries;
  };
  add('preDepends', 'Pre-Depends');
  add('depends', 'Depends');
  add('breaks', 'Breaks');
  add('conflicts', 'Conflicts');
  add('provides', 'Provides');
  return relations;
}

// ---- parsed relations of an artifact, cached ---------------------------------------------------

/** The fields a check reads, in problem order. */
const FIELDS: readonly RelationField[] = ['Pre-Depends', 'Depends', 'Breaks', 'Conflicts'];

/** An artifact's relations, parsed: one list per field of {@link FIELDS}, then its Provides. */
interface Parsed {
  fields: readonly (readonly ParsedRelation[])[];
  provides: readonly ParsedAlternative[];
}

type Lists = readonly (readonly string[])[];

const NONE: readonly string[] = [];

/** The entry lists, field order then Provides; older artifacts only have `dependencies`. */
function listsOf(artifact: Artifact): Lists {
  const r = artifact.relations;
  if (!r) return [NONE, artifact.dependencies ?? NONE, NONE, NONE, NONE];
  return [r.preDepends ?? NONE, r.depends ?? NONE, r.breaks ?? NONE, r.conflicts ?? NONE, r.provides ?? NONE];
}

function sameLists(a: Lists, b: Lists): boolean {
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.length !== y.length) return false;
    for (let j = 0; j < x.length; j++) if (x[j] !== y[j]) return false;
  }
  return true;
}

/** Adds to a bounded cache: past `limit` entries, the oldest goes. */
function remember<T>(cache: Map<string, T>, key: string, value: T, limit: number): void {
  cache.delete(key);
  cache.set(key, value);
  if (cache.size > limit) cache.delete(cache.keys().next().value!);
}

/**
 * Parsed entries by field and text (`Depends:libc6 (>= 2.36)`): packages of a project share many.
 * Only what parsed is kept; an entry that does not parse throws each time, naming its package.
 */
const entries = new Map<string, ParsedRelation>();
const ENTRY_CACHE_LIMIT = 50_000;

const EMPTY: readonly ParsedRelation[] = [];

function parseField(
  field: RelationsField,
  list: readonly string[],
  owner: Artifact,
): readonly ParsedRelation[] {
  if (list.length === 0) return EMPTY;
  return list.map((entry) => {
    const key = `${field}:${entry}`;
    let parsed = entries.get(key);
    if (!parsed) {
      parsed = parseEntry(field, entry, owner);
      remember(entries, key, parsed, ENTRY_CACHE_LIMIT);
    }
    return parsed;
  });
}

/**
 * Parses by `name=version`, bounded: a hit holds only when the artifact declares the same entries,
 * so a copy of an artifact (a ledger read again) is not parsed again, and an artifact with other
 * relations under the same name and version is. Artifacts are read as values: one whose arrays
 * are rewritten in place is not noticed (give it new arrays).
 */
const parses = new Map<string, { lists: Lists; parsed: Parsed }>();
const PARSE_CACHE_LIMIT = 20_000;

function parsedOf(artifact: Artifact): Parsed {
  const lists = listsOf(artifact);
  const key = `${artifact.name}=${artifact.version}`;
  const hit = parses.get(key);
  if (hit && sameLists(hit.lists, lists)) return hit.parsed;
  const parsed = {
    fields: FIELDS.map((field, i) => parseField(field, lists[i]!, artifact)),
    provides: parseField('Provides', lists[4]!, artifact).map((r) => r.alternatives[0]!),
  };
  remember(parses, key, { lists, parsed }, PARSE_CACHE_LIMIT);
  return parsed;
}

// ---- the set, indexed ----------------------------------------------------------------------------

/** A package that may meet an alternative: the real package of the name, or a provider. */
interface Candidate {
  artifact: Artifact;
  /** The version it offers: the real version, a provider's `(= v)`, or undefined (unversioned Provides). */
  version: string | undefined;
  /** The provided name, when the candidate is a provider. */
  provides?: ParsedAlternative;
}

/** One relation of a member, where it was declared. */
interface Mention {
  owner: Artifact;
  field: number;
  entry: number;
  relation: ParsedRelation;
}

/** What a member was when its set was indexed (the check reads artifacts as values). */
interface Held {
  artifact: Artifact;
  name: string;
  version: string;
  relations: ArtifactRelations | undefined;
  dependencies: readonly string[] | undefined;
}

const unchanged = (held: Held, a: Artifact): boolean =>
  held.artifact === a &&
  held.name === a.name &&
  held.version === a.version &&
  held.relations === a.relations &&
  held.dependencies === a.dependencies;

/**
 * A set without the subject's package (`skip`, the name a check replaces), indexed by package
 * name, by provided name, and by the names its relations mention.
 */
interface SetIndex {
  skip: string;
  /** The members as indexed, to tell whether a later set is the same one. */
  members: readonly Held[];
  byName: Map<string, Artifact>;
  providers: Map<string, Candidate[]>;
  mentions: Map<string, Mention[]>;
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function buildIndex(set: readonly Artifact[], skip: string): SetIndex {
  const byName = new Map<string, Artifact>();
  const providers = new Map<string, Candidate[]>();
  const mentions = new Map<string, Mention[]>();
  const members: Held[] = [];
  for (const artifact of set) {
    if (artifact.name === skip) continue;
    const parsed = parsedOf(artifact);
    const { name, version, relations, dependencies } = artifact;
    members.push({ artifact, name, version, relations, dependencies });
    byName.set(artifact.name, artifact);
    for (const provided of parsed.provides) {
      push(providers, provided.name, { artifact, version: provided.version, provides: provided });
    }
    parsed.fields.forEach((relations, field) => {
      relations.forEach((relation, entry) => {
        const mention = { owner: artifact, field, entry, relation };
        relation.alternatives.forEach(({ name }, i) => {
          // Once per name: `foo (<< 1) | foo (>> 2)` is one mention of foo.
          if (relation.alternatives.findIndex((a) => a.name === name) === i) push(mentions, name, mention);
        });
      });
    });
  }
  return { skip, members, byName, providers, mentions };
}

function sameSet(index: SetIndex, set: readonly Artifact[], skip: string): boolean {
  if (index.skip !== skip) return false;
  let i = 0;
  for (const artifact of set) {
    if (artifact.name === skip) continue;
    const held = index.members[i++];
    if (!held || !unchanged(held, artifact)) return false;
  }
  return i === index.members.length;
}

/**
 * The last few sets checked, indexed: an engine checks release after release of a package
 * against the same set (or a new array of the same artifacts), and indexing 5,000 packages costs
 * more than the check. A set is the same when, but for the subject's package, it holds the same
 * artifact objects, in the same order, with the same names, versions and relation arrays; an
 * artifact changed in place (an entry of its arrays rewritten) is not noticed: give it new arrays.
 */
const recentIndexes: SetIndex[] = [];
const RECENT_LIMIT = 4;

function indexOf(set: readonly Artifact[], skip: string): SetIndex {
  const i = recentIndexes.findIndex((index) => sameSet(index, set, skip));
  const index = i >= 0 ? recentIndexes.splice(i, 1)[0]! : buildIndex(set, skip);
  recentIndexes.unshift(index);
  recentIndexes.length = Math.min(recentIndexes.length, RECENT_LIMIT);
  return index;
}

// ---- satisfies -----------------------------------------------------------------------------------

function versionOrder(a: string, b: string, owner: Artifact, relation: string): number {
  try {
    return compareVersions(a, b);
  } catch (error) {
    throw new RingmasterError(
      'PACKAGE',
      `${owner.name} ${owner.version}: cannot compare versions for ${JSON.stringify(relation)}: ${(error as Error).message}`,
      { scope: SCOPE, cause: error, details: { package: owner.name, version: owner.version, relation } },
    );
  }
}

/** Whether `version` stands in `operator` to `wanted` (`1.9 << 2.0`). */
function relate(order: number, operator: RelationOperator): boolean {
  switch (operator) {
    case '<<':
      return order < 0;
    case '<=':
      return order <= 0;
    case '=':
      return order === 0;
    case '>=':
      return order >= 0;
    case '>>':
      return order > 0;
  }
}

/** The architecture rule of the module header. */
function archMatches(alternative: ParsedAlternative, candidate: Artifact, owner: Artifact): boolean {
  const qualifier = alternative.arch;
  if (qualifier === undefined || qualifier === 'any' || candidate.architecture === 'all') return true;
  const wanted = qualifier === 'native' ? owner.architecture : qualifier;
  return wanted === 'all' || candidate.architecture === wanted;
}

/**
 * Whether `candidate` meets `alternative` as dpkg decides: a versioned relation needs a version
 * that compares accordingly (a provider's `(= v)`; an unversioned Provides never meets it).
 */
function meets(
  alternative: ParsedAlternative,
  candidate: Candidate,
  owner: Artifact,
  entry: string,
): boolean {
  if (!archMatches(alternative, candidate.artifact, owner)) return false;
  if (alternative.operator === undefined) return true;
  if (candidate.version === undefined) return false;
  const order = versionOrder(candidate.version, alternative.version!, owner, entry);
  return relate(order, alternative.operator);
}

// ---- relationProblems ----------------------------------------------------------------------------

const VERB: Record<RelationField, string> = {
  'Pre-Depends': 'needs',
  Depends: 'needs',
  Breaks: 'breaks',
  Conflicts: 'conflicts with',
};

const label = (a: Artifact) => `${a.name} ${a.version}`;

/** `bar 1.9`, `qux 1.0 providing bar (= 1.5)`, with the architecture when the relation names one. */
function describe(candidate: Candidate, withArch: boolean): string {
  const arch = withArch ? ` (${candidate.artifact.architecture})` : '';
  const provided = candidate.provides;
  if (!provided) return `${label(candidate.artifact)}${arch}`;
  const version = provided.version === undefined ? '' : ` (= ${provided.version})`;
  return `${label(candidate.artifact)}${arch} providing ${provided.name}${version}`;
}

/** One check: the indexed set (without the subject's package), and the subject. */
interface CheckContext {
  subject: Artifact;
  replaced: Artifact | undefined;
  index: SetIndex;
  managed: ReadonlySet<string>;
  /** The subject's Provides, as candidates. */
  subjectProvides: readonly Candidate[];
  /** Names the replaced package provided: a relation on them may lose its provider. */
  replacedProvides: ReadonlySet<string>;
}

/** The providers of `name` once the subject has joined the set. */
function providersOf(name: string, context: CheckContext): Candidate[] {
  const out = [...(context.index.providers.get(name) ?? [])];
  for (const c of context.subjectProvides) if (c.provides!.name === name) out.push(c);
  return out;
}

/** The real package and the providers of `name`, without `except` (Policy §7.6). */
function candidatesOf(name: string, context: CheckContext, except?: Artifact): Candidate[] {
  const out: Candidate[] = [];
  const real = name === context.subject.name ? context.subject : context.index.byName.get(name);
  if (real && real !== except) out.push({ artifact: real, version: real.version });
  for (const c of providersOf(name, context)) if (c.artifact !== except) out.push(c);
  return out;
}

function isChecked(name: string, context: CheckContext): boolean {
  return (
    context.managed.has(name) || context.replacedProvides.has(name) || providersOf(name, context).length > 0
  );
}

/** The problem `relation` of `owner` makes in the set, if any. */
function checkRelation(
  owner: Artifact,
  field: RelationField,
  relation: ParsedRelation,
  context: CheckContext,
): RelationProblem | undefined {
  const all = [...new Set(relation.alternatives.map((a) => a.name))];
  const names = all.filter((n) => isChecked(n, context));
  if (names.length === 0) return undefined;
  const conflicting = field === 'Breaks' || field === 'Conflicts';
  // An alternative on a package we do not make is the host's to meet: we cannot say it fails.
  if (!conflicting && names.length < all.length) return undefined;
  // A package never conflicts with itself, by its own name or its own Provides (Policy §7.6).
  const except = conflicting ? owner : undefined;
  const held = new Map<string, Candidate>();
  for (const name of names) {
    for (const c of candidatesOf(name, context, except)) {
      if (!held.has(c.artifact.name)) held.set(c.artifact.name, c);
    }
  }
  const hits: Candidate[] = [];
  for (const alternative of relation.alternatives) {
    for (const c of candidatesOf(alternative.name, context, except)) {
      if (meets(alternative, c, owner, relation.entry)) hits.push(c);
    }
  }
  if (conflicting ? hits.length === 0 : hits.length > 0) return undefined;

  const withArch = relation.alternatives.some((a) => a.arch !== undefined);
  const { subject, replaced } = context;
  const arrival = replaced
    ? `${label(subject)} would replace ${label(replaced)}`
    : `${label(subject)} would join the set`;
  let outcome: string;
  if (owner !== subject && (conflicting ? hits.some((c) => c.artifact === subject) : replaced)) {
    // A member's relation the subject's arrival fails: say what arrives.
    outcome = arrival;
  } else {
    const shown = conflicting ? hits : [...held.values()];
    outcome =
      shown.length > 0
        ? `the set has ${shown.map((c) => describe(c, withArch)).join(', ')}`
        : `the set has no ${names.join(' or ')}`;
  }
  return {
    package: owner.name,
    version: owner.version,
    field,
    relation: relation.entry,
    names,
    found: [...held.values()].map((c) => ({ name: c.artifact.name, version: c.artifact.version })),
    message: `${label(owner)} ${VERB[field]} ${relation.entry}; ${outcome}`,
  };
}

/**
 * The relations that fail once `subject` joins `set` (replacing the set's package of its name):
 * (a) the subject's Pre-Depends, Depends, Breaks and Conflicts against the set; (b) the relations
 * of every other member that name the subject or something it provides (or something the package
 * it replaces provided): a Depends the subject no longer meets, a Breaks or Conflicts it matches.
 * Only relations with an alternative naming a `managed` package or a name some member provides
 * are checked; a Depends that also offers another package (`libc6 | bar`) is left to the host's
 * package manager, which may meet it with that one. Ordered by package, then field (Pre-Depends,
 * Depends, Breaks, Conflicts), then entry. Throws a `PACKAGE` error when a relation of the
 * subject or of a member does not parse.
 *
 * @example
 * ```ts
 * relationProblems({ subject: foo11, set: [foo10, bar19], managed: new Set(['foo', 'bar']) });
 * // [{ package: 'foo', version: '1.1', field: 'Depends', relation: 'bar (>= 2.0)', names: ['bar'],
 * //    found: [{ name: 'bar', version: '1.9' }], message: 'foo 1.1 needs bar (>= 2.0); the set has bar 1.9' }]
 * ```
 */
export function relationProblems(check: RelationCheck): RelationProblem[] {
  const { subject, set, managed } = check;
  const index = indexOf(set, subject.name);
  // An engine may pass the set with the subject in it already: then nothing is replaced.
  const inSet = set.find((a) => a.name === subject.name);
  const replaced = inSet === subject ? undefined : inSet;
  const own = parsedOf(subject);
  const context: CheckContext = {
    subject,
    replaced,
    index,
    managed,
    subjectProvides: own.provides.map((p) => ({ artifact: subject, version: p.version, provides: p })),
    replacedProvides: new Set(replaced ? parsedOf(replaced).provides.map((p) => p.name) : []),
  };
  const problems: { problem: RelationProblem; field: number; entry: number }[] = [];

  own.fields.forEach((relations, field) => {
    relations.forEach((relation, entry) => {
      const problem = checkRelation(subject, FIELDS[field]!, relation, context);
      if (problem) problems.push({ problem, field, entry });
    });
  });
  const targets = new Set([subject.name, ...own.provides.map((p) => p.name), ...context.replacedProvides]);
  const seen = new Set<Mention>();
  for (const target of targets) {
    for (const mention of index.mentions.get(target) ?? []) {
      if (seen.has(mention)) continue;
      seen.add(mention);
      const problem = checkRelation(mention.owner, FIELDS[mention.field]!, mention.relation, context);
      if (problem) problems.push({ problem, field: mention.field, entry: mention.entry });
    }
  }

  problems.sort((a, b) => {
    if (a.problem.package !== b.problem.package) return a.problem.package < b.problem.package ? -1 : 1;
    return a.field - b.field || a.entry - b.entry;
  });
  return problems.map((p) => p.problem);
}
