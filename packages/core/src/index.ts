/**
 * `@ringmaster/core`: the model, the engine, the ledger, rollout strategies, promotion
 * policies, adapter contracts and the reference adapters.
 *
 * @module
 */

export {
  ACCESS_ACTIONS,
  Access,
  type AccessAction,
  type AccessOptions,
  accessOptionsSchema,
  createAccess,
  type Principal,
} from './access/access.js';
export * from './adapter.js';
export { consoleNotifier } from './adapters/console-notifier.js';
export {
  type LocalRepositoryOptions,
  localRepository,
  localRepositoryOptionsSchema,
} from './adapters/local-repository.js';
export { type LocalTargetOptions, localTarget, localTargetOptionsSchema } from './adapters/local-target.js';
export { memoryRepository } from './adapters/memory-repository.js';
export {
  type MemoryCommit,
  type MemorySource,
  type MemorySourceOptions,
  memorySource,
  memorySourceOptionsSchema,
} from './adapters/memory-source.js';
export {
  type CommandNotifierOptions,
  commandNotifier,
  commandNotifierOptionsSchema,
  type WebhookNotifierOptions,
  webhookNotifier,
  webhookNotifierOptionsSchema,
} from './adapters/notifiers.js';
export {
  type SimulatedFleet,
  type SimulatedTargetOptions,
  simulatedPackager,
  simulatedTarget,
  simulatedTargetOptionsSchema,
} from './adapters/simulated-target.js';
export * from './adapters/slack-notifier.js';
export {
  compareDotted,
  sha256File,
  type TarballOptions,
  tarball,
  tarballOptionsSchema,
} from './adapters/tarball.js';
export type {
  ConvergeReport,
  ConvergeRingResult,
  DriftedHost,
} from './engine/converge.js';
export { type Candidate, eligibleReleases } from './engine/eligibility.js';
export {
  createEngine,
  Engine,
  type EngineOptions,
  engineOptionsSchema,
  type SuiteAt,
} from './engine/engine.js';
export type { DecisionEvent, EngineEvents, ErrorEvent } from './engine/events.js';
export { enabledHosts, matchHosts } from './engine/hosts.js';
export type {
  ActionOptions,
  BreakGlass,
  PromoteInput,
  ResumeInput,
  RollbackInput,
  RolloutSummary,
} from './engine/operations.js';
export {
  formatPlan,
  type PipelinePlan,
  type Plan,
  type PlannedApproval,
  type PlannedBuild,
  type RingPlan,
} from './engine/plan.js';
export {
  type Commit,
  type CommitsBetween,
  commitsBetween,
  type PreviewHost,
  type PreviewRolloutInput,
  type PreviewStep,
  previewRollout,
  type RolloutPreview,
  rolloutPlanFor,
} from './engine/preview.js';
export {
  type Companion,
  type Project,
  projectOf,
  type RelationVerdict,
  relationVerdict,
} from './engine/relations.js';
export {
  type Explanation,
  explainRing,
  formatStatus,
  type HostStatus,
  type RingStatus,
  type StatusReport,
} from './engine/report.js';
export {
  type RingAction,
  type RingActionKind,
  type RingFailure,
  type RingNeeds,
  type RolloutPosition,
  ringAction,
  rolloutPosition,
} from './engine/ring-action.js';
export { describeRecord, isFailure } from './ledger/describe.js';
export { type Entry, entry, Ledger } from './ledger/ledger.js';
export type { ApprovalIdentity } from './ledger/records.js';
export {
  type RecordData,
  type RecordType,
  type RolloutKind,
  type RolloutOutcome,
  type TypedRecord,
  upgradeRecord,
} from './ledger/records.js';
export type {
  ApprovalState,
  BuildState,
  GateResult,
  HostStep,
  LedgerState,
  PipelineState,
  RecordedHost,
  ReleaseInRing,
  ReleaseRingStatus,
  ReleaseState,
  RingState,
  RolloutState,
  SuiteChange,
} from './ledger/state.js';
export { foldRecords, pipelineState, ringState } from './ledger/state.js';
export {
  type BuildContext,
  type BuildFunction,
  type BuildOptions,
  type BuildResult,
  type BuildSpec,
  build,
  buildOptionsSchema,
  runBuild,
} from './model/build.js';
export {
  type CiGateOptions,
  type CiReader,
  type CiState,
  ciGate,
  ciGateOptionsSchema,
} from './model/ci-gate.js';
export { type ManualClock, manualClock, systemClock } from './model/clock.js';
export { type DurationInput, durationSchema, formatDuration, parseDuration } from './model/duration.js';
export {
  type Gate,
  type GateCheck,
  type GateContext,
  type GateOptions,
  type GateOutcome,
  gate,
  gateOptionsSchema,
} from './model/gate.js';
export {
  type Once,
  type OnceOptions,
  type OncePhase,
  type OnceStep,
  type OnceStepOptions,
  onceOptionsSchema,
  onceStepSchema,
} from './model/once.js';
export {
  type Pipeline,
  type PipelineOptions,
  pipeline,
  pipelineOptionsSchema,
  type Ring,
  type RingOptions,
  ring,
  ringOptionsSchema,
} from './model/pipeline.js';
export {
  ENV_NAME,
  MIN_SECRET_LENGTH,
  type ResolvedSecretSource,
  type RingEnv,
  readSecret,
  ringEnv,
  SecretMask,
  type SecretSource,
  secretSourceSchema,
} from './model/secrets.js';
export {
  signWebhook,
  verifyWebhook,
  type WebhookGateOptions,
  webhookGate,
  webhookGateOptionsSchema,
} from './model/webhook-gate.js';
export { assertCanApprove } from './policy/approvers.js';
export * from './policy/index.js';
export { type ReplayHistory, type ReplayInput, type ReplayResult, replayPolicy } from './policy/replay.js';
export {
  type CheckpointResult,
  type ExecuteRolloutInput,
  executeRollout,
  type HostOutcome,
  type Phase,
  type RolloutRecorder,
  type RolloutResult,
} from './rollout/execute.js';
export {
  describeState,
  type HostState,
  observe,
  shortReason,
} from './rollout/host-state.js';
export {
  batches,
  budgetSpent,
  type CanaryStep,
  type Checkpoint,
  canary,
  describeRollout,
  describeStep,
  type FailureOptions,
  oneAtATime,
  type PlannedStep,
  pause,
  percentages,
  planBatches,
  planRollout,
  type RolloutOptions,
  type RolloutSpec,
  type RolloutStep,
  rolloutSchema,
  rolloutStepSchema,
  verify,
} from './rollout/strategy.js';
export { type FileStoreOptions, fileStore, fileStoreOptionsSchema } from './store/file.js';
export type { FileHandleLike, FsLike } from './store/fs.js';
export { memoryStore } from './store/memory.js';
