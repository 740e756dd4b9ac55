/**
 * A guard around the whole run: tests must leave the machine as they found it. Test hosts live
 * in mount namespaces of their own, but only for the directories they bind (`HOST_DIRS`): a
 * package that installs a file at `/` on a "host" writes the machine's root, which every host
 * shares (two hosts installing at once then race in dpkg). The run fails naming what appeared.
 */
import { readdirSync } from 'node:fs';

const WATCHED = ['/', '/etc/apt/keyrings', '/etc/apt/sources.list.d'];

const list = (dir: string) => {
  try {
    return new Set(readdirSync(dir));
  } catch {
    return new Set<string>();
  }
};

export default function setup(): () => void {
  const before = new Map(WATCHED.map((dir) => [dir, list(dir)]));
  return () => {
    const left = WATCHED.flatMap((dir) =>
      [...list(dir)]
        .filter((name) => !before.get(dir)!.has(name))
        .map((name) => `${dir.replace(/\/$/, '')}/${name}`),
    );
    if (left.length === 0) return;
    // Vitest reports an error thrown here but still exits 0: say it, and set the exit code.
    console.error(`the tests left files on the machine, outside any test host: ${left.join(', ')}`);
    process.exitCode = 1;
  };
}
