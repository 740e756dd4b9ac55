/**
 * Process groups the engine starts (build steps, runner gates), and how a later engine makes
 * sure one left behind by a crash is gone before the step runs again. A group is recorded with
 * its leader's pid, the leader's start time (clock ticks since boot, from /proc) and the boot
 * id, so a pid reused by someone else's process is never mistaken for ours.
 */
import { readdir, readFile } from 'node:fs/promises';
import { hostname } from 'node:os';

/** Enough to find a process group again, and to tell it from a stranger reusing its pid. */
export interface ProcessIdentity {
  /** The leader's pid, which is also the group id (every command runs in its own group). */
  pid: number;
  /** The leader's start time in clock ticks since boot (`/proc/<pid>/stat` field 22). */
  startTicks: number;
  /** `/proc/sys/kernel/random/boot_id`: a pid and a start time mean nothing across a reboot. */
  bootId: string;
  hostname: string;
}

/**
 * What `/proc/<pid>/stat` says of a live process: its group and start time. A zombie (dead,
 * not yet waited for) counts as gone.
 */
async function stat(pid: number): Promise<{ pgrp: number; startTicks: number } | undefined> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces and parentheses itself.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): pgrp is field 5, starttime field 22.
  if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
  const pgrp = Number(fields[2]);
  const startTicks = Number(fields[19]);
  return Number.isFinite(pgrp) && Number.isFinite(startTicks) ? { pgrp, startTicks } : undefined;
}

let bootId: Promise<string | undefined> | undefined;
const currentBootId = () =>
  (bootId ??= readFile('/proc/sys/kernel/random/boot_id', 'utf8').then(
    (t) => t.trim(),
    () => undefined,
  ));

/** The identity of a process just started, or undefined where /proc cannot say (not Linux). */
export async function identify(pid: number): Promise<ProcessIdentity | undefined> {
  const [info, boot] = await Promise.all([stat(pid), currentBootId()]);
  if (!info || !boot) return undefined;
  return { pid, startTicks: info.startTicks, bootId: boot, hostname: hostname() };
}

export type ReapOutcome =
  /** The group was still there, and was killed. */
  | 'killed'
  /** Nothing of the group is left. */
  | 'gone'
  /** The pid now belongs to another process: left alone. */
  | 'not ours'
  /** Recorded on another machine, or before a reboot: nothing here to kill. */
  | 'elsewhere';

/**
 * Kills what is left of a recorded process group, after checking it is really ours: the leader
 * alive with the recorded start time, or the leader gone and members of its group left (a group
 * id is never handed out again while any member lives, and a new group's leader has its id).
 */
export async function reapGroup(identity: ProcessIdentity): Promise<ReapOutcome> {
  if (identity.hostname !== hostname() || identity.bootId !== (await currentBootId())) return 'elsewhere';
  const leader = await stat(identity.pid);
  if (leader) {
    if (leader.startTicks !== identity.startTicks) return 'not ours';
  } else if (!(await groupHasMembers(identity.pid))) {
    return 'gone';
  }
  try {
    // A leader that moved to a group of its own is killed alone; its old group is the recorded id.
    if (leader && leader.pgrp !== identity.pid) process.kill(identity.pid, 'SIGKILL');
    else process.kill(-identity.pid, 'SIGKILL');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return 'gone';
    throw error;
  }
  return 'killed';
}

async function groupHasMembers(pgid: number): Promise<boolean> {
  const entries = await readdir('/proc').catch(() => [] as string[]);
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    if ((await stat(Number(name)))?.pgrp === pgid) return true;
  }
  return false;
}
