/**
 * `@ringmaster/pkg-deb`: reproducible .deb packages (`deb()`), Debian version rules
 * (`compareVersions`) and a signed apt repository (`aptRepository()`).
 *
 * @module
 */
export { DEBIAN_PACKAGE_NAME, packageNameProblem, type RelationKind, relationProblem } from './control.js';
export { type DebPackager, deb } from './deb.js';
export { deriveVersion, NUMBERED_TEMPLATE, TIMESTAMPED_TEMPLATE, type VersionScheme } from './derive.js';
export { type DebOptions, debOptionsSchema, type ResolvedDebOptions } from './options.js';
export {
  type ParsedAlternative,
  type ParsedRelation,
  parseRelations,
  type RelationOperator,
  type RelationsField,
  relationProblems,
  relationsOf,
} from './relations.js';
export { type AptRepository, aptRepository } from './repository/apt-repository.js';
export {
  type AptRepositoryOptions,
  aptRepositoryOptionsSchema,
  type ProtectOption,
} from './repository/options.js';
export type { RepositoryServer, ServeOptions } from './repository/serve.js';
export type { SigningKey } from './repository/sign.js';
export {
  compareVersions,
  type DebianVersion,
  isValidVersion,
  parseVersion,
  versionForFileName,
  versionProblem,
} from './version.js';
