/**
 * The Packager and Repository contracts: a build becomes an Artifact, which a Repository stores
 * and lists by name and version.
 */
import type { Revision } from './source.js';

/** One package file: built once, and the same bytes go to every ring. */
export interface Artifact {
  /** Package name, e.g. `foostat`. */
  name: string;
  /** Version, totally ordered by the packager's rules (Debian's for .deb). */
  version: string;
  /** `amd64`, `all`, … */
  architecture: string;
  /** Declared dependencies, in the packager's syntax (`libc6 (>= 2.36)`). */
  dependencies: string[];
  /** Absolute path of the package file. */
  file: string;
  /** Hex SHA-256 of the file. */
  sha256: string;
  /** Size in bytes. */
  size: number;
  /** Format tag: `deb`, `tar`. Targets check it before installing. */
  format: string;
  /**
   * The package's relations to others, when the format has them (`.deb` does). Engines check
   * them before a release enters a ring: see {@link Packager.relationProblems}.
   */
  relations?: ArtifactRelations;
}

/**
 * Relations of a package to other packages, each entry one relation in the packager's syntax
 * (for `.deb`: `bar (>= 2.0)`, alternatives joined by `|`, as in the control file's fields).
 */
export interface ArtifactRelations {
  depends?: string[];
  preDepends?: string[];
  breaks?: string[];
  conflicts?: string[];
  provides?: string[];
}

/** The fields a relation can come from. */
export type RelationField = 'Depends' | 'Pre-Depends' | 'Breaks' | 'Conflicts';

/** One relation a set of packages does not meet. */
export interface RelationProblem {
  /** The package that declares the relation, and its version. */
  package: string;
  version: string;
  field: RelationField;
  /** The relation as declared: `bar (>= 2.0)`, `baz | qux`. */
  relation: string;
  /** The managed packages the relation names (those that could meet it, or that it breaks). */
  names: string[];
  /** What the set holds of those names (real packages and providers): `bar 1.9`, or nothing. */
  found: { name: string; version: string }[];
  /** One line: `foo 1.1 needs bar (>= 2.0); the set has bar 1.9`. */
  message: string;
}

/** What {@link Packager.relationProblems} checks. */
export interface RelationCheck {
  /** The package about to enter the set (it replaces the set's package of the same name). */
  subject: Artifact;
  /** What a ring runs or may install: at most one artifact per package name. */
  set: readonly Artifact[];
  /**
   * The package names this project makes. A relation naming only other packages (`libc6`) is
   * not checked: it is left to the host's package manager.
   */
  managed: ReadonlySet<string>;
}

export interface PackageInput {
  /** The build output directory (the package's file tree). */
  dir: string;
  revision: Revision;
  /** Where to write the package file. */
  outDir: string;
}

/** Turns a build directory into an Artifact. */
export interface Packager {
  readonly name: string;
  /** The package name this packager produces. */
  readonly packageName: string;
  /** The version the packager gives a revision (pure: same revision, same version). */
  versionFor(revision: Revision): string;
  /** Orders two versions: negative, zero or positive. */
  compareVersions(a: string, b: string): number;
  package(input: PackageInput): Promise<Artifact>;
  /**
   * The relations that fail once `subject` joins `set`: the subject's own (Depends, Pre-Depends,
   * Breaks, Conflicts) against the set, and the set's relations that name the subject. Throws a
   * `PACKAGE` error naming the package and field when a relation does not parse. Optional: a
   * format without relations (tarballs) has nothing to check.
   */
  relationProblems?(check: RelationCheck): RelationProblem[];
}

/** Stores artifacts and finds them again. */
export interface Repository {
  readonly name: string;
  /**
   * Stores the artifact (idempotent for the same name, version and bytes; a different file under
   * an existing name and version is refused with `REPOSITORY`). Returns the stored copy.
   */
  publish(artifact: Artifact): Promise<Artifact>;
  /** Versions of a package, oldest first. */
  versions(name: string): Promise<string[]>;
  /** The stored artifact, or undefined. */
  find(name: string, version: string): Promise<Artifact | undefined>;
  /**
   * Optional, for repositories that keep a suite per ring (an apt `dists/<ring>`): makes the
   * ring's suite list each artifact as the version it installs. Versions of the same package
   * above it leave the suite (it is the suite's newest, so a package manager's candidate);
   * the newest few below it stay for rollback. Atomic and idempotent; every artifact must have
   * been published. Returns the whole suite after the change.
   */
  admit?(ring: string, artifacts: readonly Artifact[]): Promise<SuiteListing>;
  /** Optional, with `admit`: what the ring's suite lists now. */
  suite?(ring: string): Promise<SuiteListing>;
  close?(): Promise<void>;
}

/** What a ring's suite lists. */
export interface SuiteListing {
  ring: string;
  /** The suite's name in the repository (`prod`, or what the repository maps the ring to). */
  suite: string;
  /** Every package the suite lists: name → versions, oldest first. */
  packages: Record<string, string[]>;
  /** SHA-256 of each Packages index, by path in the suite (`main/binary-amd64/Packages`). */
  indexes: Record<string, string>;
}
