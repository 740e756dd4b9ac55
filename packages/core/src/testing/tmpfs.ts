/**
 * A fault fixture: a small tmpfs in a child's own mount namespace (`unshare -m`), so a test can
 * fill a disk for real without touching the machine's. Needs root; the mount disappears with
 * the child.
 */
import { spawn } from 'node:child_process';

/**
 * Runs argv inside a new mount namespace with a tmpfs of `size` (`192k`) mounted at `at`: the
 * child sees a disk that fills up after that much, everyone else sees nothing. Bounded (60 s).
 *
 * @example
 * ```ts
 * const run = await inSmallTmpfs('192k', ledgerDir, [process.execPath, 'fill-the-ledger.mjs', ledgerDir]);
 * ```
 */
export function inSmallTmpfs(
  size: string,
  at: string,
  argv: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const script = 'mount -t tmpfs -o "size=$1" ringmaster-test "$2" && shift 2 && exec "$@"';
  return new Promise((resolve) => {
    const p = spawn(
      'unshare',
      ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', size, at, ...argv],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c) => (stdout += c));
    p.stderr.on('data', (c) => (stderr += c));
    const limit = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.on('close', (code) => {
      clearTimeout(limit);
      resolve({ code, stdout, stderr });
    });
  });
}
