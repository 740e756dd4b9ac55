/**
 * A full disk, for real: the file ledger on a small tmpfs mounted in the child's own mount
 * namespace (`unshare -m`), filled until writes fail with ENOSPC, then given space again.
 * Nothing acknowledged is lost, no seq is reused, every failure says ENOSPC.
 */
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { inSmallTmpfs } from '../src/testing/index.js';
import { fixtureScript } from './child.js';

const child = fixtureScript('disk-full-child');

interface ChildReport {
  acknowledged: { seq: number; n: number }[];
  beforeFree: number;
  failures: { errno?: string; message: string }[];
  reread: { seq: number; n: number }[];
}

describe('file ledger on a full disk (tmpfs in its own mount namespace)', () => {
  for (const seed of [7, 1201, 90210]) {
    it(`seed ${seed}: appends fail with ENOSPC while full, nothing acknowledged is lost, no seq reused`, async () => {
      const mount = await mkdtemp(join(child.root(), 'mnt-'));
      const run = await inSmallTmpfs('192k', mount, [process.execPath, child.script(), mount, String(seed)]);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      const report = JSON.parse(run.stdout) as ChildReport;
      // The disk really filled, and the ledger went on once space was back.
      expect(report.failures.length).toBe(3);
      expect(report.beforeFree).toBeGreaterThan(10);
      expect(report.acknowledged.length).toBeGreaterThan(report.beforeFree);
      for (const f of report.failures) {
        expect(f.errno).toBe('ENOSPC');
        expect(f.message).toContain('ENOSPC');
      }
      // Every acknowledged record is there, in order, numbered 1..N without gaps.
      expect(report.reread).toEqual(report.acknowledged);
      expect(report.reread.map((r) => r.seq)).toEqual(report.reread.map((_, i) => i + 1));
    });
  }
});
