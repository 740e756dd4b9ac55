/**
 * A ledger written before host states were kept (`host.started.from` and `host.finished.version`
 * as a version or null) still loads: a version reads as installed, and null as unknown, since
 * an earlier Ringmaster also wrote a failed read as null. Nothing is taken for "not installed".
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createEngine, fileStore, type LedgerRecord, type NewRecord, upgradeRecord } from '../src/index.js';
import { world } from './helpers.js';

/** The record as the earlier format wrote it. */
function legacy(record: LedgerRecord): NewRecord {
  const data = record.data as Record<string, unknown>;
  const version = (state: { status: string; version?: string }) =>
    state.status === 'installed' ? state.version : null;
  if (record.type === 'host.started') {
    return { ...record, data: { ...data, from: version(data.from as { status: string }) } };
  }
  if (record.type === 'host.finished') {
    const { state, ...rest } = data;
    return { ...record, data: { ...rest, version: version(state as { status: string }) } };
  }
  return record;
}

describe('a ledger in the earlier host format', () => {
  it('loads: versions read as installed, null as unknown (LEGACY), and the engine goes on from it', async () => {
    const w = await world();
    await w.engine.tick(); // 1.0.1 everywhere: every host.started.from is "nothing" (null in the old format)
    const written = await w.store.read();
    await w.engine.close();

    const store = fileStore({ dir: join(w.dir, 'legacy-ledger') });
    await store.append(written.map(({ seq: _seq, ...r }) => legacy({ seq: 0, ...r })));
    const engine = createEngine({ pipelines: [w.app], store, clock: w.clock, workDir: join(w.dir, 'work2') });
    try {
      const status = await engine.status();
      const prod = status.pipelines[0]!.rings.find((r) => r.name === 'prod')!;
      expect(prod.version).toBe('1.0.1');
      expect(prod.hosts.map((h) => h.recorded)).toEqual([
        { status: 'installed', version: '1.0.1' },
        { status: 'installed', version: '1.0.1' },
      ]);
      const started = (await engine.ledger.read()).filter((r) => r.type === 'host.started');
      expect(started.map((r) => r.data.from)).toEqual(
        started.map(() => ({ status: 'unknown', code: 'LEGACY', reason: expect.stringContaining('failed') })),
      );

      await w.source.commit({ 'app.txt': 'v2\n' }, 'second', 'bob');
      await engine.tick();
      expect(await w.versions('prod')).toEqual(['1.0.2', '1.0.2']);
    } finally {
      await engine.close();
    }
  });

  it('upgradeRecord leaves a record in the current format as it is', () => {
    const record = {
      seq: 3,
      time: '2026-12-01T00:00:00.000Z',
      type: 'host.finished',
      data: {
        pipeline: 'app',
        rollout: 'eng#1',
        host: 'eng-1',
        ok: true,
        phase: 'deploy',
        state: { status: 'absent' },
      },
    } as LedgerRecord;
    expect(upgradeRecord(record)).toBe(record);
  });
});
