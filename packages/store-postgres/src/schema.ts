/**
 * The store's tables, created and migrated by the store itself. Each migration moves the schema
 * from one version to the next; `meta.schema_version` says where a database is. A database at a
 * newer version than this code knows is refused, never written to.
 *
 * - `records`: the ledger, one row per record. `json` is the record's canonical text and
 *   `checksum` its crc32, exactly as a journal line holds them; `append_id` names the append the
 *   row came in, so an append whose commit was cut off can be told landed or not.
 * - `head`: one row, the last seq. Every append locks it, which is what keeps seqs gapless and
 *   makes compare-and-set exact.
 * - `leases`: one row per lock; `token` is a fencing token from a sequence, so a newer holder's
 *   token is always greater. `pid`, `hostname` and `pid_ns` (the holder's PID namespace) say
 *   whether a holder on this machine is gone; `acquire_id` names the acquire() call that took it.
 */
import type { PoolClient } from 'pg';

export const SCHEMA_VERSION = 2;

/** Migration `i` moves a schema from version `i` to `i + 1`. `$s` is the quoted schema name. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE $s.records (
     seq bigint PRIMARY KEY,
     type text NOT NULL,
     json text NOT NULL,
     checksum char(8) NOT NULL,
     append_id uuid NOT NULL
   );
   CREATE INDEX records_append_id ON $s.records (append_id);
   CREATE TABLE $s.head (id int PRIMARY KEY CHECK (id = 1), last_seq bigint NOT NULL);
   INSERT INTO $s.head VALUES (1, 0);
   CREATE SEQUENCE $s.fencing_tokens;
   CREATE TABLE $s.leases (
     name text PRIMARY KEY,
     token bigint NOT NULL,
     owner text NOT NULL,
     pid int,
     hostname text,
     pid_ns text,
     acquired_at bigint NOT NULL,
     expires_at bigint NOT NULL
   );`,
  // Which acquire() call took the lease: one whose answer was lost (the connection died after
  // the row was written) knows it as its own when it asks again.
  `ALTER TABLE $s.leases ADD COLUMN acquire_id uuid;`,
];

/** Quotes a schema name for SQL; the name was checked to be a plain identifier. */
export const quoted = (schema: string) => `"${schema}"`;

/**
 * Brings the schema to {@link SCHEMA_VERSION}, under an advisory lock so two runners starting at
 * once do not both migrate. Returns the version found before.
 */
export async function migrate(client: PoolClient, schema: string): Promise<number> {
  const s = quoted(schema);
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`ringmaster:${schema}`]);
    // CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the schema is there:
    // asked only when it is missing, so that right can be revoked after the first start.
    const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    if (exists.rowCount === 0) await client.query(`CREATE SCHEMA ${s}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${s}.meta (key text PRIMARY KEY, value text NOT NULL)`);
    const found = await client.query<{ value: string }>(
      `SELECT value FROM ${s}.meta WHERE key = 'schema_version'`,
    );
    const version = found.rows[0] ? Number(found.rows[0].value) : 0;
    if (version > SCHEMA_VERSION) {
      await client.query('ROLLBACK');
      return version;
    }
    for (let v = version; v < SCHEMA_VERSION; v++) await client.query(MIGRATIONS[v]!.replaceAll('$s', s));
    await client.query(
      `INSERT INTO ${s}.meta VALUES ('schema_version', $1)
       ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`,
      [String(SCHEMA_VERSION)],
    );
    await client.query('COMMIT');
    return version;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}
