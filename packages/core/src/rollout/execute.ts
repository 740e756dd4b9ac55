/**
 * Runs a rollout: batches of hosts, each host installed and checked, failures counted against
 * the budget, and — when it is spent — the changed hosts rolled back to what each ran before.
 * Every step goes through the recorder first, so a rollout killed at any point resumes from the
 * ledger: hosts already finished are skipped, and a host caught mid-install is asked what it
 * really runs before anything is done again.
 */
import type { Artifact } from '../contracts/artifact.js';
import type { Target } from '../contracts/target.js';
import type { RolloutOutcome } from '../ledger/records.js';
import type { HostStep } from '../ledger/state.js';
import { budgetSpent, type RolloutSpec } from './strategy.js';

export type Phase = 'deploy' | 'rollback';

export interface HostOutcome {
  ok: boolean;
  version: string | null;
  error?: string;
  alreadyThere?: boolean;
}

export interface RolloutRecorder {
  hostStarted(host: string, from: string | null, phase: Phase): Promise<void>;
  hostFinished(host: string, outcome: HostOutcome, phase: Phase): Promise<void>;
}

export interface ExecuteRolloutInput {
  spec: RolloutSpec;
  batches: readonly (readonly string[])[];
  target: Target;
  artifact: Artifact;
  /** Deploy and rollback steps recorded before (when resuming after a crash). */
  prior?: { hosts: ReadonlyMap<string, HostStep>; rollbacks: ReadonlyMap<string, HostStep> };
  /** Finds the artifact of a version a host ran before, to roll it back. */
  resolve(version: string): Promise<Artifact | undefined>;
  recorder: RolloutRecorder;
  /** Stop after the current batch (Ctrl-C): the rollout stays in flight and resumes later. */
  signal?: AbortSignal;
}

export interface RolloutResult {
  outcome: RolloutOutcome;
  reason: string;
  failed: string[];
}

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

async function readVersion(target: Target, host: string, pkg: string): Promise<string | null> {
  try {
    return (await target.installed(host, pkg)) ?? null;
  } catch {
    return null;
  }
}

/** Installs `artifact` on `host` and checks the host really runs it afterwards. */
async function installAndCheck(target: Target, host: string, artifact: Artifact): Promise<HostOutcome> {
  try {
    await target.install(host, artifact);
    if (target.healthCheck) await target.healthCheck(host);
    const version = await readVersion(target, host, artifact.name);
    if (version !== artifact.version) {
      return {
        ok: false,
        version,
        error: `host reports ${version ?? 'nothing'} installed after installing ${artifact.version}`,
      };
    }
    return { ok: true, version };
  } catch (error) {
    return { ok: false, version: await readVersion(target, host, artifact.name), error: message(error) };
  }
}

async function deployHost(
  input: ExecuteRolloutInput,
  host: string,
): Promise<HostOutcome & { from: string | null }> {
  const { target, artifact, recorder } = input;
  const prior = input.prior?.hosts.get(host);
  if (prior?.finished) return { ...prior.finished, from: prior.from };
  let from: string | null;
  if (prior) {
    // Started before a crash: ask the host what it runs now rather than trusting either side.
    from = prior.from;
    const now = await readVersion(target, host, artifact.name);
    if (now === artifact.version) {
      const outcome = { ok: true, version: now, alreadyThere: true };
      await recorder.hostFinished(host, outcome, 'deploy');
      return { ...outcome, from };
    }
  } else {
    from = await readVersion(target, host, artifact.name);
    await recorder.hostStarted(host, from, 'deploy');
    if (from === artifact.version) {
      const outcome = { ok: true, version: from, alreadyThere: true };
      await recorder.hostFinished(host, outcome, 'deploy');
      return { ...outcome, from };
    }
  }
  const outcome = await installAndCheck(target, host, artifact);
  await recorder.hostFinished(host, outcome, 'deploy');
  return { ...outcome, from };
}

async function rollbackHost(
  input: ExecuteRolloutInput,
  host: string,
  from: string | null,
): Promise<HostOutcome> {
  const { target, artifact, recorder } = input;
  const prior = input.prior?.rollbacks.get(host);
  if (prior?.finished) return prior.finished;
  if (!prior) await recorder.hostStarted(host, artifact.version, 'rollback');
  let outcome: HostOutcome;
  const now = await readVersion(target, host, artifact.name);
  if (now === from) {
    outcome = { ok: true, version: now, alreadyThere: true };
  } else if (from === null) {
    if (target.remove) {
      try {
        await target.remove(host, artifact.name);
        outcome = { ok: true, version: await readVersion(target, host, artifact.name) };
      } catch (error) {
        outcome = { ok: false, version: now, error: message(error) };
      }
    } else {
      outcome = {
        ok: false,
        version: now,
        error: 'host had nothing installed before and the target cannot remove packages',
      };
    }
  } else {
    const previous = await input.resolve(from);
    outcome = previous
      ? await installAndCheck(target, host, previous)
      : { ok: false, version: now, error: `version ${from} is no longer in the repository` };
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
  const changed: { host: string; from: string | null }[] = [];
  const failed: string[] = [];
  let spentAt: string | undefined;
  for (const [i, batch] of input.batches.entries()) {
    if (input.signal?.aborted) {
      return {
        outcome: 'interrupted',
        reason: `stopped before batch ${i + 1} of ${input.batches.length}`,
        failed,
      };
    }
    const results = await Promise.all(
      batch.map(async (host) => ({ host, ...(await deployHost(input, host)) })),
    );
    let batchFailures = 0;
    for (const r of results) {
      if (!r.alreadyThere || !r.ok) changed.push({ host: r.host, from: r.from });
      if (!r.ok) {
        batchFailures++;
        failed.push(r.host);
      }
    }
    if (budgetSpent(spec, failed.length, batchFailures, batch.length)) {
      spentAt = `batch ${i + 1} of ${input.batches.length}: ${failed.length} host(s) failed (${failed.join(', ')}), budget ${spec.maxFailures}`;
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
  const undo = changed.filter((c) => c.from !== artifact.version).reverse();
  const results = [];
  for (const { host, from } of undo) results.push({ host, ...(await rollbackHost(input, host, from)) });
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
