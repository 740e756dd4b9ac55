/** How ledger records read in the CLI's progress: a host line says what the host reported, and why not. */
import type { TypedRecord } from '@ringmaster/core';
import { describe, expect, it } from 'vitest';
import { describeRecord } from '../src/records.js';

const hostFinished = (data: Partial<Extract<TypedRecord, { type: 'host.finished' }>['data']>) =>
  ({
    seq: 7,
    time: '2026-12-02T00:00:00.000Z',
    type: 'host.finished',
    data: { pipeline: 'app', rollout: 'eng#2', host: 'eng-1', ok: false, phase: 'deploy', ...data },
  }) as TypedRecord;

describe('describeRecord: host.finished', () => {
  it('a host that could not be read says so and why, never "runs unknown"', () => {
    const [line] = describeRecord(
      hostFinished({
        state: { status: 'unknown', code: 'TARGET', reason: '[ringmaster] [target-ssh] connection refused' },
        error: 'cannot read what eng-1 runs (TARGET: connection refused); it was left untouched',
        untouched: true,
      }),
    );
    expect(line).toBe(
      '[app]   ✘ eng-1: cannot read what eng-1 runs (TARGET: connection refused); it was left untouched',
    );
  });

  it('an install that failed and then could not be read back says both', () => {
    const [line] = describeRecord(
      hostFinished({
        state: { status: 'unknown', code: 'TIMEOUT', reason: 'timed out after 10000 ms' },
        error: 'host eng-1: installing app 1.0.2 (dpkg -i) failed (exit 1)\ndpkg: error processing',
      }),
    );
    expect(line).toBe(
      '[app]   ✘ eng-1: host eng-1: installing app 1.0.2 (dpkg -i) failed (exit 1); now unknown (TIMEOUT: timed out after 10000 ms)',
    );
  });

  it('a host that was read says what it runs', () => {
    const [line] = describeRecord(
      hostFinished({ ok: true, state: { status: 'installed', version: '1.0.2' }, phase: 'rollback' }),
    );
    expect(line).toBe('[app]   ✔ eng-1 rolled back to 1.0.2');
  });
});
