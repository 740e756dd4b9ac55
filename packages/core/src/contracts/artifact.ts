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
  close?(): Promise<void>;
}
