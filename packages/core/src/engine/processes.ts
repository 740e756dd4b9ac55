/**
 * No orphans: every command a build step or a runner gate starts is recorded (its process group,
 * the leader's start time, the boot), and at start-up an engine kills any recorded group whose
 * step never finished — checking it is really ours — before that step runs again. A build's
 * attempts each get a directory of their own, so a straggler can never write into the next.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { identify, reapGroup } from '../exec/process-group.js';
import { type Entry, entry } from '../ledger/ledger.js';
import type { StepRef } from '../ledger/records.js';
import type { Pipeline } from '../model/pipeline.js';
import type { Runtime } from './runtime.js';

/** Where attempt `attempt` at building `revision` runs. */
export function buildDir(workDir: string, pipeline: string, revision: string, attempt: number): string {
  return join(workDir, pipeline, 'builds', `${revision.slice(0, 40)}.${attempt}`);
}

/**
 * Records a process `step` starts, durably (through `write`: the ring's session for a gate, so
 * it is fenced by the ring's lease as the gate's other records are), before it is let run
 * (`runCommand`'s `beforeStart`): a crash can never leave one running that the ledger does not know of. Where
 * /proc cannot identify it (not Linux), it runs unrecorded.
 */
export function processRecorder(write: (record: Entry) => Promise<unknown>, pipeline: string, step: StepRef) {
  return async (pid: number, command: string): Promise<void> => {
    const process = await identify(pid);
    if (process) await write(entry('process.started', { pipeline, process, step, command }));
  };
}

/**
 * Kills the process groups that steps left running when an engine died (the caller holds the
 * lease their steps run under — the engine's, or with many runners the pipeline's for builds and
 * the ring's for gates — so no live holder owns them), records what it found through `write`,
 * and removes the build directories of the attempts they belonged to. `which` picks the steps.
 */
export async function reapOrphans(
  rt: Runtime,
  pipelines: readonly Pipeline[],
  which: (step: StepRef) => boolean = () => true,
  write: (record: Entry) => Promise<unknown> = (record) => rt.ledger.write(record),
): Promise<void> {
  for (const pipeline of pipelines) {
    const p = rt.state(pipeline.name);
    for (const { process, step } of [...p.processes.values()]) {
      if (!which(step)) continue;
      const outcome = await reapGroup(process);
      await write(entry('process.reaped', { pipeline: pipeline.name, process, step, outcome }));
      if (step.kind === 'build')
        await rm(buildDir(rt.workDir, pipeline.name, step.revision, step.attempt), {
          recursive: true,
          force: true,
        });
    }
  }
}
