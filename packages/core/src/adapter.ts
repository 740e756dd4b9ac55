/**
 * `@ringmaster/core/adapter`: everything an adapter author needs from core, and nothing else —
 * the contracts, the error family, option parsing, the safe command runner and the validators
 * for values that cross into a shell.
 *
 * @module
 */

export type {
  Artifact,
  ArtifactRelations,
  PackageInput,
  Packager,
  RelationCheck,
  RelationField,
  RelationProblem,
  Repository,
  SuiteListing,
} from './contracts/artifact.js';
export type { Clock } from './contracts/clock.js';
export type { Notification, NotificationKind, Notifier } from './contracts/notifier.js';
export type {
  DeployRequest,
  RequestDeployInput,
  Revision,
  Source,
  SourceCapabilities,
} from './contracts/source.js';
export type {
  AcquireOptions,
  AppendOptions,
  Lease,
  LedgerRecord,
  LockInfo,
  NewRecord,
  Store,
  StoreCapabilities,
} from './contracts/store.js';
export type {
  CommandEnv,
  CommandResult,
  HostInfo,
  InstalledPackage,
  InstallOptions,
  RunOptions,
  Target,
  TargetCapabilities,
} from './contracts/target.js';
export {
  ConfigError,
  type ErrorCode,
  formatPath,
  isRingmasterError,
  parseOptions,
  plainMessage,
  RingmasterError,
  type RingmasterErrorOptions,
  toRingmasterError,
} from './errors.js';
export {
  assertMatches,
  PACKAGE_NAME,
  PACKAGE_VERSION,
  SAFE_NAME,
  shellJoin,
  shellQuote,
} from './exec/quote.js';
export {
  assertArgv,
  type RunCommandOptions,
  type RunCommandResult,
  runCommand,
  TailBuffer,
  tail,
} from './exec/run.js';
export { onceEach } from './model/once-each.js';
export { seededRandom } from './model/random.js';
export { decodeRecord, encodeRecord } from './store/journal.js';
export { describeHolder, processAlive } from './store/lockfile.js';
