/** Shared by the CLI tests: run the built `ringmaster` bin as a user would, in a project folder. */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repo = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(repo, 'packages/cli/dist/bin.js');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `ringmaster …args` in `cwd` (killed after 60 s). */
export function ringmaster(cwd: string, ...args: string[]): Promise<CliRun> {
  return ringmasterWithStdout('pipe', cwd, ...args);
}

/** As {@link ringmaster}, with stdout going to `out` (an open fd, e.g. of /dev/full) instead of a pipe. */
export function ringmasterWithStdout(out: 'pipe' | number, cwd: string, ...args: string[]): Promise<CliRun> {
  return ringmasterWith({ out }, cwd, ...args);
}

/** As {@link ringmaster}, with extra environment (`RINGMASTER_TOKEN`) and stdout where asked. */
export function ringmasterWith(
  options: { out?: 'pipe' | number; env?: Record<string, string | undefined> },
  cwd: string,
  ...args: string[]
): Promise<CliRun> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [bin, ...args], {
      cwd,
      stdio: ['ignore', options.out ?? 'pipe', 'pipe'],
      env: { ...process.env, RINGMASTER_TOKEN: undefined, ...options.env },
    });
    let stdout = '';
    let stderr = '';
    p.stdout?.on('data', (c) => (stdout += c));
    p.stderr?.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A scratch folder inside the repository, so a config's imports of @ringmaster/* resolve to the workspace. */
export async function projectBase(prefix: string): Promise<string> {
  await mkdir(join(repo, '.ringmaster'), { recursive: true });
  return mkdtemp(join(repo, '.ringmaster', prefix));
}
