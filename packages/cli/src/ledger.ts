/**
 * `ringmaster ledger copy|verify`: moving a ledger between stores (file ↔ PostgreSQL) keeping
 * every seq, time and checksum, and checking a ledger end to end.
 *
 * A store is named on the command line as `postgres://user@host:port/db[?schema=name]` (needs
 * `@ringmaster/store-postgres`), `file:<dir>` or a plain directory, or `config` for the store
 * the project's config uses.
 */
import { resolve } from 'node:path';
import {
  fileStore,
  foldRecords,
  type LedgerRecord,
  RingmasterError,
  type Store,
  upgradeRecord,
} from '@ringmaster/core';
import { encodeRecord } from '@ringmaster/core/adapter';
import { loadProject } from './config.js';

export interface NamedStore {
  store: Store;
  /** How messages name it (a connection string without its password). */
  label: string;
  /** The project's engine, when the store came from the config (closed with the store). */
  close(): Promise<void>;
}

/** Opens the store `spec` names (see the module comment). */
export async function openStore(spec: string, cwd: string, configFile?: string): Promise<NamedStore> {
  if (spec === 'config') {
    const project = await loadProject(cwd, configFile);
    return {
      store: project.engine.ledger.store,
      label: `the config's ledger (${project.engine.ledger.store.name})`,
      close: () => project.engine.close(),
    };
  }
  if (/^postgres(ql)?:\/\//.test(spec)) {
    let module: typeof import('@ringmaster/store-postgres');
    try {
      module = await import('@ringmaster/store-postgres');
    } catch (error) {
      throw new RingmasterError(
        'CONFIG',
        `a postgres:// ledger needs @ringmaster/store-postgres: npm install @ringmaster/store-postgres (${(error as Error).message})`,
        { scope: 'cli', cause: error },
      );
    }
    const url = new URL(spec);
    const schema = url.searchParams.get('schema') ?? undefined;
    url.searchParams.delete('schema');
    const store = module.postgresStore({ connectionString: url.toString(), ...(schema ? { schema } : {}) });
    url.password = '';
    return {
      store,
      label: `${url.toString()}${schema ? ` (schema ${schema})` : ''}`,
      close: async () => store.close?.(),
    };
  }
  const dir = resolve(cwd, spec.startsWith('file:') ? spec.slice('file:'.length) : spec);
  const store = fileStore({ dir });
  return { store, label: dir, close: async () => store.close?.() };
}

export interface VerifyReport {
  ok: boolean;
  records: number;
  first?: string;
  last?: string;
  pipelines: string[];
  /** With `against`: the first seq where the two differ, and how. */
  difference?: string;
}

/**
 * Checks a ledger end to end: every record read back (the store checks seqs and checksums as
 * it reads), each one readable by this version, and the whole folding into a state. With
 * `against`, also that the other ledger holds the same records, seq by seq and checksum by checksum.
 */
export async function verifyLedger(store: Store, against?: Store): Promise<VerifyReport> {
  const records = await store.read();
  const state = foldRecords(records.map(upgradeRecord));
  const report: VerifyReport = {
    ok: true,
    records: records.length,
    ...(records[0] ? { first: records[0].time, last: records.at(-1)!.time } : {}),
    pipelines: [...state.pipelines.keys()].sort(),
  };
  if (against) {
    const difference = compare(records, await against.read());
    if (difference) Object.assign(report, { ok: false, difference });
  }
  return report;
}

function compare(a: readonly LedgerRecord[], b: readonly LedgerRecord[]): string | undefined {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (!x || !y)
      return `record ${i + 1} is only in the ${x ? 'first' : 'second'} ledger (${a.length} vs ${b.length} records)`;
    const cx = encodeRecord(x).checksum;
    const cy = encodeRecord(y).checksum;
    if (cx !== cy) return `record ${i + 1} differs: ${x.type} (checksum ${cx}) vs ${y.type} (checksum ${cy})`;
  }
  return undefined;
}

/**
 * Copies every record of `from` into the empty ledger `to`, in one append (all or nothing),
 * keeping seqs, times and data (so checksums), then reads `to` back and compares.
 */
export async function copyLedger(
  from: NamedStore,
  to: NamedStore,
): Promise<{ records: number; verified: VerifyReport }> {
  const existing = await to.store.read();
  if (existing.length > 0) {
    throw new RingmasterError(
      'STATE',
      `${to.label} already holds ${existing.length} records; a ledger is copied only into an empty one`,
      { scope: 'cli', details: { records: existing.length } },
    );
  }
  // An engine writing to the source while it is copied would be missed: hold its lease meanwhile.
  const lease = await from.store.acquire('engine', { owner: 'ringmaster ledger copy', ttlMs: 120_000 });
  if (!lease) {
    const holder = await from.store.inspect('engine');
    throw new RingmasterError(
      'LOCKED',
      `an engine runs on ${from.label}${holder ? ` (${holder.owner}, pid ${holder.pid ?? '?'} on ${holder.hostname ?? '?'})` : ''}; stop it before copying`,
      { scope: 'cli', details: { holder } },
    );
  }
  try {
    const records = await from.store.read();
    if (records.length > 0)
      await to.store.append(
        records.map((r) => ({ type: r.type, time: r.time, data: r.data })),
        { expectedSeq: 0 },
      );
    return { records: records.length, verified: await verifyLedger(to.store, from.store) };
  } finally {
    await from.store.release(lease).catch(() => {});
  }
}
