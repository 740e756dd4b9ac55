/**
 * The test hosts themselves (./testing): stopping a lab ends its own processes only. A host is
 * known by its mount namespace, whose number the kernel hands to the next new namespace once the
 * last process of the old one is gone.
 */
import { readlink } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { startTestHosts } from '../src/testing/index.js';
import { alive } from '../src/testing/process.js';

describe('test hosts', () => {
  it('stopping a lab whose host was killed leaves a host started since, in another lab, running', async () => {
    const first = await startTestHosts({ count: 1 });
    let second: Awaited<ReturnType<typeof startTestHosts>> | undefined;
    try {
      const killed = first.hosts[0]!;
      const before = await readlink(`/proc/${killed.pid}/ns/mnt`);
      await first.kill(killed.name);
      expect(alive(killed.pid)).toBe(false);
      // A namespace made now would get the killed host's number, were nothing holding it.
      second = await startTestHosts({ count: 1 });
      const other = second.hosts[0]!;
      expect(await readlink(`/proc/${other.pid}/ns/mnt`)).not.toBe(before);
      await first.stop();
      expect(alive(other.pid)).toBe(true);
      expect(await second.pidsOf(other.name)).toContain(other.pid);
    } finally {
      await first.stop();
      await second?.stop();
    }
  }, 60_000);
});
