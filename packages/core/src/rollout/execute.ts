/**
 * Runs a rollout: batches of hosts, each host installed and checked, failures counted against
 * the budget, and — when it is spent — the changed hosts rolled back to what each ran before.
 * Every step goes through the recorder first, so a rollout killed at any point resumes from the
 * ledger: hosts already finished are skipped, and a host caught mid-install is asked what it
 * really runs before anything is done again.
 *
 * Only what a host reported is acted on. A host that cannot be read is left untouched and
 * fails its step (it counts against the budget); a rollback reinstalls what a host was seen
 * running, removes a package only from a host that was seen with nothing, and fails on a host
 * it cannot reach.
 */
import type { Artifact } from '../contracts/artifact.js';
import type { CommandEnv, Target } from '../contracts/target.js';
import type { RolloutOutcome } from '../ledger/records.js';
import type { HostStep } from '../ledger/state.js';
import { formatDuration } from '../model/duration.js';
import { describeState, type HostState, observe, runs, sameState, shortReason } from './host-state.js';
import {
  budgetSpent,
  type Checkpoint,
  DEFAULT_HOST_TIMEOUT_MS,
  type PlannedStep,
  type RolloutSpec,
} from './strategy.js';

export type Phase = 'deploy' | 'rollback';

export interface HostOutcome {
  ok: boolean;
  /** What the host has afterwards, as it reported it (or unknown, with why). */
  state: HostState;
  error?: string;
  alreadyThere?: boolean;
  /** Nothing was done to the host: it could not be read before the step. */
  untouched?: boolean;
}

export interface RolloutRecorder {
  hostStarted(host: string, from: HostState, phase: Phase): Promise<void>;
  hostFinished(host: string, outcome: HostOutcome, phase: Phase): Promise<void>;
}

/**
 * What a checkpoint between batches says: go on; wait (a pause: the rollout stays in flight and
 * is taken up again later, where it stopped); or failed (a verify: the rollout is aborted and
 * `onFailure` applied to the hosts done so far).
 */
export type CheckpointResult = { go: true } | { wait: string } | { failed: string };

export interface ExecuteRolloutInput {
  spec: RolloutSpec;
  batches: readonly (readonly string[])[];
  /**
   * The batches and the pauses and verifies between them, in order (see `planRollout`); without
   * it, the batches one after another.
   */
  steps?: readonly PlannedStep[];
  /**
   * Why a person aborted the rollout, when one did: asked before each step, and then `onFailure`
   * is applied to the hosts done so far, as when the failure budget is spent.
   */
  aborted?: () => string | undefined;
  /** Runs a pause or verify step; needed when `steps` holds one. */
  checkpoint?: (step: PlannedStep & Checkpoint, done: readonly string[]) => Promise<CheckpointResult>;
  target: Target;
  artifact: Artifact;
  /** Deploy and rollback steps recorded before (when resuming after a crash). */
  prior?: { hosts: ReadonlyMap<string, HostStep>; rollbacks: ReadonlyMap<string, HostStep> };
  /** Finds the artifact of a version a host ran before, to roll it back. */
  resolve(version: string): Promise<Artifact | undefined>;
  recorder: RolloutRecorder;
  /** Stop at the next host boundary (Ctrl-C, a lost lease): the rollout stays in flight and resumes later. */
  signal?: AbortSignal;
  /** At most this many hosts of a batch are worked on at once (the runner's `forks`). @default all */
  forks?: number;
  /** With many runners: the hosts of each batch are shared with the others (see {@link HostSharing}). */
  share?: HostSharing;
  /**
   * Called right before a host is changed (installed); throws to leave it untouched. A shared
   * host's claim is confirmed here: a runner that stalled past its claim must not install on a
   * host another runner took over.
   */
  beforeInstall?: (host: string) => Promise<void>;
  /**
   * The ring's vars and secrets, for the commands the target runs around an install (its health
   * check, hooks): asked for right before the first install, and only of a target that declares
   * `capabilities.env`. A failed read fails the host's step with its reason.
   */
  env?: () => Promise<CommandEnv>;
}

/**
 * How the runner holding a ring shares a batch's hosts with the other runners. It opens each
 * batch (so others may take its hosts), works on every host it can claim, then waits for the
 * rest to be finished by whoever claimed them — taking over any whose claim lapsed — before it
 * weighs the batch. Every host is worked on under its claim by one runner at a time.
 */
export interface HostSharing {
  /** Records that batch `index` is open to every runner. */
  open(index: number): Promise<void>;
  /**
   * Claims `host` for this runner: resolves with the recorder its steps are written through
   * (under the claim) and the release, or undefined when another runner has it.
   */
  claim(
    host: string,
  ): Promise<{ recorder: RolloutRecorder; confirm(): Promise<void>; release(): Promise<void> } | undefined>;
  /** Reads what other runners wrote since the last look. */
  refresh(): Promise<void>;
  /** The host's deploy step in this rollout as last read. */
  step(host: string): HostStep | undefined;
  /** Waits a moment (or for a wake-up), then reads what others wrote. */
  pause(signal?: AbortSignal): Promise<void>;
}

export interface RolloutResult {
  /** `paused`: a pause step holds the rollout (it stays in flight); else how it ended. */
  outcome: RolloutOutcome | 'paused';
  reason: string;
  failed: string[];
}

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * Runs `work` with a deadline. When it passes, the work is left to finish on its own (an
 * install is never killed: it may be running dpkg) and `onDeadline` decides the outcome.
 */
async function withDeadline<T>(work: Promise<T>, ms: number, onDeadline: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = Symbol('late');
  const deadline = new Promise<typeof late>((resolve) => {
    timer = setTimeout(() => resolve(late), ms);
  });
  work.catch(() => {}); // a rejection after the deadline has nobody left to tell
  try {
    const first = await Promise.race([work, deadline]);
    return first === late ? await onDeadline() : (first as T);
  } finally {
    clearTimeout(timer);
  }
}

/** Installs `artifact` on `host` and checks the host really runs it afterwards. */
async function installAndCheck(
  target: Target,
  host: string,
  artifact: Artifact,
  timeoutMs: number,
  ringEnv?: () => Promise<CommandEnv>,
): Promise<HostOutcome> {
  const attempt = async (): Promise<HostOutcome> => {
    let env: CommandEnv | undefined;
    try {
      env = ringEnv && target.capabilities?.env ? await ringEnv() : undefined;
    } catch (error) {
      // A secret that cannot be read: the host is not touched, not installed without it.
      return {
        ok: false,
        state: await observe(target, host, artifact.name),
        untouched: true,
        error: message(error),
      };
    }
    try {
      // The target runs its own health check, where it belongs: before the host is back in service.
      if (env && Object.keys(env).length > 0) await target.install(host, artifact, { env });
      else await target.install(host, artifact);
    } catch (error) {
      return { ok: false, state: await observe(target, host, artifact.name), error: message(error) };
    }
    const state = await observe(target, host, artifact.name);
    if (runs(state, artifact.version)) return { ok: true, state };
    return {
      ok: false,
      state,
      error: `host reports ${describeState(state)} after installing ${artifact.version}`,
    };
  };
  return withDeadline(attempt(), timeoutMs, async () => ({
    ok: false,
    state: {
      status: 'unknown',
      code: 'TIMEOUT',
      reason: `the install of ${artifact.version} did not finish within ${formatDuration(timeoutMs)}; it was left running (an install is never killed) and the host is read again by converge or status --live`,
    },
    error: `the host step did not finish within ${formatDuration(timeoutMs)}`,
  }));
}

export interface DeployResult extends HostOutcome {
  /** What the host had before the step. */
  from: HostState;
}

const unreachable = (host: string, state: HostState & { status: 'unknown' }, what: string) =>
  `cannot read what ${host} runs (${state.code}: ${shortReason(state.reason)}); ${what}`;

/** Deploys one host (or finishes its interrupted step), recording through the input's recorder. */
export async function deployHost(input: ExecuteRolloutInput, host: string): Promise<DeployResult> {
  const { target, artifact, recorder } = input;
  const timeoutMs = input.spec.hostTimeout ?? DEFAULT_HOST_TIMEOUT_MS;
  const prior = input.prior?.hosts.get(host);
  if (prior?.finished) return { ...prior.finished, from: prior.from };
  let from: HostState;
  if (prior) {
    // Started before a crash: ask the host what it runs now rather than trusting either side.
    from = prior.from;
    const now = await observe(target, host, artifact.name);
    if (runs(now, artifact.version)) {
      const outcome = { ok: true, state: now, alreadyThere: true };
      await recorder.hostFinished(host, outcome, 'deploy');
      return { ...outcome, from };
    }
    if (now.status === 'unknown') {
      // The install may or may not have run: the host stays in the rollback list, untouched now.
      const outcome = {
        ok: false,
        state: now,
        error: unreachable(host, now, 'its interrupted install is not retried blind'),
      };
      await recorder.hostFinished(host, outcome, 'deploy');
      return { ...outcome, from };
    }
  } else {
    from = await observe(target, host, artifact.name);
    await recorder.hostStarted(host, from, 'deploy');
    if (from.status === 'unknown') {
      const outcome = {
        ok: false,
        state: from,
        untouched: true,
        error: unreachable(host, from, 'it was left untouched'),
      };
      await recorder.hostFinished(host, outcome, 'deploy');
      return { ...outcome, from };
    }
    if (runs(from, artifact.version)) {
      const outcome = { ok: true, state: from, alreadyThere: true };
      await recorder.hostFinished(host, outcome, 'deploy');
      return { ...outcome, from };
    }
  }
  await input.beforeInstall?.(host);
  const outcome = await installAndCheck(target, host, artifact, timeoutMs, input.env);
  await recorder.hostFinished(host, outcome, 'deploy');
  return { ...outcome, from };
}

/** Puts `host` back to `from`, what it was seen having before the deploy. */
async function rollbackHost(input: ExecuteRolloutInput, host: string, from: HostState): Promise<HostOutcome> {
  const { target, artifact, recorder } = input;
  const timeoutMs = input.spec.hostTimeout ?? DEFAULT_HOST_TIMEOUT_MS;
  const prior = input.prior?.rollbacks.get(host);
  if (prior?.finished) return prior.finished;
  const now = await observe(target, host, artifact.name);
  if (!prior) await recorder.hostStarted(host, now, 'rollback');
  let outcome: HostOutcome;
  if (now.status === 'unknown') {
    outcome = { ok: false, state: now, error: unreachable(host, now, 'it could not be rolled back') };
  } else if (sameState(now, from) && from.status !== 'half-configured') {
    outcome = { ok: true, state: now, alreadyThere: true };
  } else if (from.status === 'unknown') {
    outcome = {
      ok: false,
      state: now,
      error: `what ${host} ran before is unknown (${shortReason(from.reason)}): nothing to roll back to`,
    };
  } else if (from.status === 'absent') {
    // Removing is destructive: done only because a successful read saw nothing there before.
    if (target.remove) {
      try {
        await target.remove(host, artifact.name);
        const after = await observe(target, host, artifact.name);
        outcome =
          after.status === 'absent'
            ? { ok: true, state: after }
            : {
                ok: false,
                state: after,
                error: `host reports ${describeState(after)} after removing ${artifact.name}`,
              };
      } catch (error) {
        outcome = { ok: false, state: await observe(target, host, artifact.name), error: message(error) };
      }
    } else {
      outcome = {
        ok: false,
        state: now,
        error: 'host had nothing installed before and the target cannot remove packages',
      };
    }
  } else {
    // Installed or half-configured before: reinstall that version (the closest to what it ran).
    const previous = await input.resolve(from.version);
    outcome = previous
      ? await installAndCheck(target, host, previous, timeoutMs, input.env)
      : { ok: false, state: now, error: `version ${from.version} is no longer in the repository` };
  }
  await recorder.hostFinished(host, outcome, 'rollback');
  return outcome;
}

/**
 * Executes (or resumes) a rollout.
 *
 * @example
 * ```ts
 * const result = await executeRollout({ spec, batches: planBatches(spec, hosts), target, artifact, resolve, recorder });
 * ```
 */
export async function executeRollout(input: ExecuteRolloutInput): Promise<RolloutResult> {
  const { spec, artifact } = input;
  /** Hosts the rollout may have changed, with what each had before: what a rollback undoes. */
  const changed: { host: string; from: HostState }[] = [];
  const failed: string[] = [];
  /** Each failed host with the first line of why, for the rollout's reason. */
  const why = new Map<string, string>();
  let spentAt: string | undefined;
  const steps = input.steps ?? input.batches.map((_, batch) => ({ step: batch + 1, batch }));
  for (const step of steps) {
    if ('batch' in step) continue;
    if (!input.checkpoint)
      throw new Error(`step ${step.step} of the rollout is a pause or verify, and nothing runs those`);
  }
  for (const step of steps) {
    // A step done before (resuming) is gone through again only to count its hosts; any other waits on no abort.
    const done =
      'batch' in step && (input.batches[step.batch] ?? []).every((h) => input.prior?.hosts.get(h)?.finished);
    const abort = done ? undefined : input.aborted?.();
    if (abort) {
      // Hosts of this batch a run before this one started on are undone too: a rollback reads
      // each again before it acts, so one the install never reached is left as it is.
      if ('batch' in step)
        for (const host of input.batches[step.batch] ?? []) {
          const prior = input.prior?.hosts.get(host);
          if (prior && !prior.finished?.alreadyThere && !prior.finished?.untouched)
            changed.push({ host, from: prior.from });
        }
      spentAt = `${abort} (at step ${step.step} of ${steps.length})`;
      break;
    }
    if (!('batch' in step)) {
      if (input.signal?.aborted) {
        return {
          outcome: 'interrupted',
          reason: `stopped before step ${step.step} of ${steps.length}${abortReason(input.signal)}`,
          failed,
        };
      }
      const done = input.batches.slice(0, nextBatch(steps, step.step)).flat();
      const said = await input.checkpoint!(step, done);
      if ('wait' in said) {
        // Cut off by a stop (a verify's gates): parked, not paused, so it says so and resumes.
        if (input.signal?.aborted)
          return { outcome: 'interrupted', reason: `${said.wait}${abortReason(input.signal)}`, failed };
        return { outcome: 'paused', reason: said.wait, failed };
      }
      if ('failed' in said) {
        spentAt = `step ${step.step} of ${steps.length} (verify) failed: ${said.failed}`;
        break;
      }
      continue;
    }
    const i = step.batch;
    const batch = input.batches[i]!;
    if (input.signal?.aborted) {
      return {
        outcome: 'interrupted',
        reason: `stopped before batch ${i + 1} of ${input.batches.length}${abortReason(input.signal)}`,
        failed,
      };
    }
    const results = input.share
      ? await deploySharedBatch(input, input.share, i, batch)
      : await mapLimited(batch, input.forks ?? batch.length, async (host) => ({
          host,
          ...(await deployHost(input, host)),
        }));
    if (!results) {
      return {
        outcome: 'interrupted',
        reason: `stopped in batch ${i + 1} of ${input.batches.length}${abortReason(input.signal!)}`,
        failed,
      };
    }
    let batchFailures = 0;
    for (const r of results) {
      if (!r.alreadyThere && !r.untouched) changed.push({ host: r.host, from: r.from });
      if (!r.ok) {
        batchFailures++;
        failed.push(r.host);
        if (r.error) why.set(r.host, shortReason(r.error));
      }
    }
    if (budgetSpent(spec, failed.length, batchFailures, batch.length)) {
      const named = failed.map((h) => (why.has(h) ? `${h}: ${why.get(h)}` : h)).join('; ');
      spentAt = `batch ${i + 1} of ${input.batches.length}: ${failed.length} host(s) failed (${named}), budget ${spec.maxFailures}`;
      break;
    }
  }
  if (!spentAt) {
    return {
      outcome: 'succeeded',
      reason: failed.length
        ? `${failed.length} host(s) failed within the budget: ${failed.join(', ')}`
        : `${artifact.version} on every host`,
      failed,
    };
  }
  if (spec.onFailure === 'halt') return { outcome: 'halted', reason: spentAt, failed };
  const undo = changed.filter((c) => !runs(c.from, artifact.version)).reverse();
  const results = [];
  for (const { host, from } of undo) {
    if (input.signal?.aborted) {
      return {
        outcome: 'interrupted',
        reason: `${spentAt}; stopped while rolling back, before ${host}${abortReason(input.signal)}`,
        failed,
      };
    }
    results.push({ host, ...(await rollbackHost(input, host, from)) });
  }
  const stuck = results.filter((r) => !r.ok);
  if (stuck.length) {
    return {
      outcome: 'failed',
      reason: `${spentAt}; rollback failed on ${stuck.map((s) => `${s.host} (${s.error})`).join(', ')}`,
      failed,
    };
  }
  return {
    outcome: 'rolled-back',
    reason: `${spentAt}; rolled back ${undo.map((u) => u.host).join(', ') || 'nothing'}`,
    failed,
  };
}

/** How many batches come before step number `step`. */
function nextBatch(steps: readonly PlannedStep[], step: number): number {
  return steps.filter((s) => s.step < step && 'batch' in s).length;
}

type BatchResult = DeployResult & { host: string };

/** A finished step, as deployHost would have returned it. */
const asResult = (host: string, step: HostStep): BatchResult => ({
  host,
  ...step.finished!,
  from: step.from,
});

/**
 * Deploys one batch with the other runners (see {@link HostSharing}); undefined when stopped
 * (the signal) while waiting for others' hosts.
 */
async function deploySharedBatch(
  input: ExecuteRolloutInput,
  share: HostSharing,
  index: number,
  batch: readonly string[],
): Promise<BatchResult[] | undefined> {
  await share.open(index);
  const results = new Map<string, BatchResult>();
  /** Deploys `host` if it can be claimed and is still unfinished; false when another runner has it. */
  const tryHost = async (host: string): Promise<boolean> => {
    const claim = await share.claim(host);
    if (!claim) return false;
    try {
      // Read after the claim: whoever held it before may have finished it.
      await share.refresh();
      const step = share.step(host);
      if (step?.finished) results.set(host, asResult(host, step));
      else {
        const prior = {
          hosts: new Map(step ? [[host, step]] : []),
          rollbacks: input.prior?.rollbacks ?? new Map(),
        };
        results.set(host, {
          host,
          ...(await deployHost(
            { ...input, prior, recorder: claim.recorder, beforeInstall: claim.confirm },
            host,
          )),
        });
      }
      return true;
    } finally {
      await claim.release();
    }
  };
  const unfinished = () => {
    const left: string[] = [];
    for (const host of batch) {
      if (results.has(host)) continue;
      const step = share.step(host);
      if (step?.finished) results.set(host, asResult(host, step));
      else left.push(host);
    }
    return left;
  };
  await share.refresh();
  await mapLimited(unfinished(), input.forks ?? batch.length, tryHost);
  // What others claimed: wait for it to be finished; every few looks, try to claim what is
  // left, which succeeds only where a claim lapsed (its runner died or stalled).
  for (let look = 1, left = unfinished(); left.length > 0; look++, left = unfinished()) {
    if (input.signal?.aborted) return undefined;
    await share.pause(input.signal);
    if (look % 5 === 0) await mapLimited(unfinished(), input.forks ?? left.length, tryHost);
  }
  return batch.map((host) => results.get(host)!);
}

/** `fn` over `items`, at most `limit` at a time, results in the order of `items`. */
export async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  if (limit >= items.length) return Promise.all(items.map(fn));
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, limit) }, worker));
  return results;
}

function abortReason(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name !== 'AbortError') return `: ${shortReason(reason.message)}`;
  return typeof reason === 'string' ? `: ${reason}` : '';
}
