/**
 * `postgresStore()`: the ledger in PostgreSQL, so several runners (engines on one or many
 * machines) share it. It implements core's Store contract:
 *
 * - **append** is one transaction. It locks the `head` row, checks compare-and-set against it
 *   and every fencing lease against the `leases` table (on the database's clock), inserts the
 *   rows and moves the head: seqs are gapless, and an append under a lost lease writes nothing.
 *   When the connection drops after COMMIT was sent, the outcome is asked again by the append's
 *   id on a new connection (waiting on the head lock, so the old transaction has ended), so a
 *   landed append is reported as written and a lost one as not.
 * - **read** checks every row's checksum: a row changed behind the store's back stops start-up.
 * - **leases** are rows with a fencing token from a sequence; an expired lease, or one whose
 *   holder process on this host is gone, is taken over.
 * - **subscribe** uses LISTEN/NOTIFY only to wake runners: a notification carries nothing, and a
 *   runner still polls on its interval, so lost notifications only cost latency.
 */
import { randomUUID } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import {
  type AcquireOptions,
  type AppendOptions,
  decodeRecord,
  encodeRecord,
  type Lease,
  type LedgerRecord,
  type LockInfo,
  type NewRecord,
  parseOptions,
  processAlive,
  RingmasterError,
  type Store,
  type StoreCapabilities,
} from '@ringmaster/core/adapter';
import pg from 'pg';
import { z } from 'zod';
import {
  describeConnection,
  isConnectionError,
  isEndedConnection,
  isTransient,
  storeError,
} from './errors.js';
import { migrate, quoted, SCHEMA_VERSION } from './schema.js';

const HOST = hostname();
/**
 * This process's PID namespace: containers may share a hostname without sharing pids, and a
 * holder is judged gone by its pid only when it ran in this namespace on this host.
 */
const PID_NS = (() => {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return undefined; // not Linux: holders are only ever taken over on expiry
  }
})();

export const postgresStoreOptionsSchema = z
  .object({
    /** `postgres://user:password@host:port/database`. Give this or `pool`. */
    connectionString: z.string().min(1).optional(),
    /** A `pg.Pool` you manage (the store never ends it). Give this or `connectionString`. */
    pool: z
      .custom<pg.Pool>(
        (v) => typeof v === 'object' && v !== null && typeof (v as pg.Pool).connect === 'function',
        'expected a pg.Pool',
      )
      .optional(),
    /** The PostgreSQL schema holding the ledger's tables; created on first use. @default 'ringmaster' */
    schema: z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,50}$/, 'expected a lower-case SQL identifier (letters, digits, _)')
      .default('ringmaster'),
    /** Wake other runners with NOTIFY after each append. @default true */
    notify: z.boolean().default(true),
    /**
     * How long an append whose connection dropped while committing keeps asking whether it
     * landed before it gives up and says the outcome is unknown. @default 15000
     */
    resolveMs: z.number().int().min(0).default(15_000),
    /** Connections in the store's own pool. @default 4 */
    maxConnections: z.number().int().min(1).default(4),
  })
  .strict()
  .refine((o) => (o.connectionString === undefined) !== (o.pool === undefined), {
    message: 'give exactly one of connectionString and pool',
    path: ['connectionString'],
  });
export type PostgresStoreOptions = z.input<typeof postgresStoreOptionsSchema>;

/** The database's clock in epoch ms: leases are measured on it, so runners agree on expiry. */
const NOW_MS = '(extract(epoch FROM clock_timestamp()) * 1000)::bigint';

interface LeaseRow {
  token: string;
  owner: string;
  acquire_id: string | null;
  pid: number | null;
  hostname: string | null;
  pid_ns: string | null;
  acquired_at: string;
  expires_at: string;
  now: string;
}

/** A lease row whose expiry has passed, on the database's clock. */
const isExpired = (row: LeaseRow) => Number(row.expires_at) <= Number(row.now);

/** A lease row written by this process for `owner`. */
const isOurs = (row: LeaseRow, owner: string) =>
  row.owner === owner && row.pid === process.pid && row.hostname === HOST && row.pid_ns === (PID_NS ?? null);

/** A lease row is over when it expired, or when its holder ran in this host's PID namespace and is gone. */
const isStale = (row: LeaseRow) =>
  isExpired(row) ||
  (PID_NS !== undefined && row.hostname === HOST && row.pid_ns === PID_NS && !processAlive(row.pid));

interface LeaseCheck {
  name: string;
  token: string;
  live: boolean;
}

/** Refuses the append (`LOCKED`) unless every lease in `fence` is held with its token and unexpired. */
function checkFence(fence: readonly Lease[], rows: readonly LeaseCheck[]): void {
  const held = new Map(rows.map((r) => [r.name, r]));
  for (const lease of fence) {
    const row = held.get(lease.name);
    if (!row || row.token !== lease.token || !row.live) {
      throw new RingmasterError(
        'LOCKED',
        `the lease ${lease.name} is no longer held; the append made under it is refused`,
        { scope: 'ledger', details: { lock: lease.name } },
      );
    }
  }
}

class PostgresStore implements Store {
  readonly name = 'postgres';
  readonly capabilities: StoreCapabilities = { manyRunners: true };
  private readonly pool: pg.Pool;
  private readonly ownsPool: boolean;
  private readonly s: string;
  private readonly where: string;
  private readonly channel: string;
  private ready: Promise<void> | undefined;
  private listener: pg.Client | undefined;
  private readonly listeners = new Set<() => void>();
  private closed = false;

  constructor(private readonly opts: z.output<typeof postgresStoreOptionsSchema>) {
    this.s = quoted(opts.schema);
    this.where = describeConnection(opts.connectionString);
    this.channel = `ringmaster_${opts.schema}`;
    this.ownsPool = opts.pool === undefined;
    this.pool =
      opts.pool ??
      new pg.Pool({
        connectionString: opts.connectionString,
        max: opts.maxConnections,
        connectionTimeoutMillis: 10_000,
        // A server that vanished without a reset (a partition) must not hang a query forever,
        // nor may a statement wait on a lock for ever; and a runner stalled inside an append
        // (SIGSTOP, a long pause, a dead socket) holds the head lock for seconds, not hours:
        // the server ends its transaction, which then wrote nothing.
        query_timeout: 60_000,
        statement_timeout: 30_000,
        lock_timeout: 20_000,
        idle_in_transaction_session_timeout: 5_000,
        keepAlive: true,
        application_name: 'ringmaster',
      });
    // An idle connection the server closed (a restart, pg_terminate_backend) is dropped from
    // the pool; the next query opens a new one. It must not crash the process — nor may an
    // error a connection reports after it was given back or discarded: every connection keeps
    // a listener for its whole life (withClient watches for errors while it holds one).
    this.pool.on('error', () => {});
    this.pool.on('connect', (client) => client.on('error', () => {}));
  }

  /**
   * Runs `fn` on a pooled connection; a connection that failed is discarded, not reused. When
   * the failure is transient and `retry()` says the work may be done again — it wrote nothing,
   * or writing it twice is the same — it runs once more. A connection that turns out ended (the
   * server closed it during a restart, a failover or a `pg_terminate_backend`: reset at once,
   * not timed out) is tried again on the next one, up to the pool's size: the pool may hold
   * several that died idle, each dropped as it fails, and the last try opens a new one. A
   * timeout, or a connection that cannot be made, is tried once more only: a partition must not
   * hold a caller (a lease's renewal) for many timeouts.
   */
  private async withClient<T>(
    doing: string,
    fn: (client: pg.PoolClient) => Promise<T>,
    retry: () => boolean = () => true,
  ): Promise<T> {
    // A pool passed in may be any object with connect(); pg's own always has options.max.
    const deadAllowed = ((this.pool as { options?: { max?: number } }).options?.max ?? 10) + 1;
    for (let attempt = 1; ; attempt++) {
      const got = { connection: false };
      try {
        return await this.onClient(doing, fn, got);
      } catch (error) {
        const cause = (error as RingmasterError).cause ?? error;
        const dead = got.connection && isEndedConnection(cause);
        const again = dead ? attempt < deadAllowed : attempt === 1 && isTransient(cause);
        if (!again || !retry()) throw error;
      }
    }
  }

  private async onClient<T>(
    doing: string,
    fn: (client: pg.PoolClient) => Promise<T>,
    got: { connection: boolean } = { connection: false },
  ): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw storeError(error, doing, this.where, this.opts.schema);
    }
    got.connection = true;
    let broken: Error | undefined;
    const onError = (error: Error) => {
      broken = error;
    };
    client.on('error', onError);
    try {
      return await fn(client);
    } catch (error) {
      if (isConnectionError(error)) broken ??= error as Error;
      throw error instanceof RingmasterError ? error : storeError(error, doing, this.where, this.opts.schema);
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }

  /** Creates or migrates the schema once per handle; a failure is retried by the next call. */
  private init(): Promise<void> {
    this.ready ??= this.withClient(`open the ledger in schema "${this.opts.schema}"`, async (client) => {
      const found = await migrate(client, this.opts.schema);
      if (found > SCHEMA_VERSION) {
        throw new RingmasterError(
          'LEDGER',
          `the ledger in schema "${this.opts.schema}" at ${this.where} has schema version ${found}, newer than this @ringmaster/store-postgres knows (${SCHEMA_VERSION}); upgrade it before running against this database`,
          { scope: 'store-postgres', details: { found, supported: SCHEMA_VERSION } },
        );
      }
    }).catch((error: unknown) => {
      this.ready = undefined;
      throw error;
    });
    return this.ready;
  }

  async append(records: readonly NewRecord[], options: AppendOptions = {}): Promise<LedgerRecord[]> {
    await this.init();
    const appendId = randomUUID();
    let committing = false;
    try {
      return await this.withClient(
        'append to the ledger',
        async (client) => {
          await client.query('BEGIN');
          try {
            // One round trip: the head locked (seqs stay gapless, compare-and-set exact) and the
            // fencing leases read FOR SHARE (a takeover waits until this append has committed).
            const fence = options.fence ?? [];
            const head = await client.query<{ last_seq: string; leases: LeaseCheck[] | null }>(
              `WITH h AS (SELECT last_seq FROM ${this.s}.head WHERE id = 1 FOR UPDATE),
                    f AS (SELECT name, token::text AS token, expires_at > ${NOW_MS} AS live FROM ${this.s}.leases
                           WHERE name = ANY($1) FOR SHARE)
               SELECT h.last_seq, (SELECT json_agg(f) FROM f) AS leases FROM h`,
              [fence.map((l) => l.name)],
            );
            const last = Number(head.rows[0]!.last_seq);
            if (options.expectedSeq !== undefined && options.expectedSeq !== last) {
              throw new RingmasterError(
                'CONFLICT',
                `the ledger moved on: expected record ${options.expectedSeq} to be the last, found ${last}`,
                { scope: 'ledger', details: { expectedSeq: options.expectedSeq, lastSeq: last } },
              );
            }
            checkFence(fence, head.rows[0]!.leases ?? []);
            const stored = records.map((r, i) => ({
              seq: last + i + 1,
              type: r.type,
              time: r.time,
              data: r.data,
            }));
            if (stored.length > 0) {
              const encoded = stored.map(encodeRecord);
              // One round trip: the rows, the new head, and (delivered on commit, carrying
              // nothing) the NOTIFY that wakes other runners.
              await client.query(
                `WITH rows AS (
                   INSERT INTO ${this.s}.records (seq, type, json, checksum, append_id)
                   SELECT seq, type, json, checksum, $5 FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[])
                     AS t(seq, type, json, checksum)
                   RETURNING 1),
                 moved AS (UPDATE ${this.s}.head SET last_seq = $6 WHERE id = 1 RETURNING 1)
                 SELECT (SELECT count(*) FROM rows) AS n, CASE WHEN $7::text IS NULL THEN NULL ELSE pg_notify($7::text, '') END
                   FROM moved`,
                [
                  stored.map((r) => r.seq),
                  stored.map((r) => r.type),
                  encoded.map((e) => e.json),
                  encoded.map((e) => e.checksum),
                  appendId,
                  last + stored.length,
                  this.opts.notify ? this.channel : null,
                ],
              );
            }
            committing = true;
            await client.query('COMMIT');
            return stored;
          } catch (error) {
            if (!committing) await client.query('ROLLBACK').catch(() => {});
            throw error;
          }
          // Tried again on a new connection only if it broke before COMMIT: nothing was written.
        },
        () => !committing,
      );
    } catch (error) {
      if (!committing || !isConnectionError((error as RingmasterError).cause ?? error)) throw error;
      return this.resolveAppend(appendId, error as RingmasterError);
    }
  }

  /**
   * The connection dropped after COMMIT was sent: the append landed or it did not. Asked on a
   * new connection, after taking the head lock (so the old transaction has ended either way),
   * until `resolveMs` runs out.
   */
  private async resolveAppend(appendId: string, failure: RingmasterError): Promise<LedgerRecord[]> {
    const deadline = Date.now() + this.opts.resolveMs;
    for (let attempt = 0; ; attempt++) {
      try {
        const rows = await this.withClient(
          'ask whether an interrupted append landed',
          async (client) => {
            await client.query('BEGIN');
            try {
              await client.query(`SELECT last_seq FROM ${this.s}.head WHERE id = 1 FOR UPDATE`);
              const found = await client.query<{ seq: string; json: string; checksum: string }>(
                `SELECT seq, json, checksum FROM ${this.s}.records WHERE append_id = $1 ORDER BY seq`,
                [appendId],
              );
              return found.rows;
            } finally {
              await client.query('ROLLBACK').catch(() => {});
            }
          },
          () => false,
        );
        if (rows.length === 0) throw failure; // it did not land: nothing was written
        return rows.map((row) => this.decodeRow(row));
      } catch (error) {
        if (error === failure) throw failure;
        if (Date.now() + 250 > deadline || !isTransient((error as RingmasterError).cause ?? error)) {
          throw new RingmasterError(
            'LEDGER',
            `the connection to ${this.where} dropped while an append was committing, and whether it landed cannot be known until the database is back (${(error as Error).message}); the engine reads the ledger again before it decides anything`,
            {
              scope: 'store-postgres',
              cause: failure,
              details: { outcome: 'unknown', appendId, retryable: true },
            },
          );
        }
        await new Promise((r) => setTimeout(r, Math.min(250 * 2 ** attempt, 2_000)));
      }
    }
  }

  private decodeRow(row: { seq: string; json: string; checksum: string }): LedgerRecord {
    const seq = Number(row.seq);
    const record = decodeRecord(row.json, row.checksum, seq);
    if (typeof record === 'string') {
      throw new RingmasterError(
        'LEDGER',
        `${this.where} schema "${this.opts.schema}", record ${seq}: ${record}; the ledger is corrupt`,
        { scope: 'store-postgres', details: { seq, schema: this.opts.schema } },
      );
    }
    return record;
  }

  async read(afterSeq = 0): Promise<LedgerRecord[]> {
    await this.init();
    const rows = await this.withClient('read the ledger', (client) =>
      client.query<{ seq: string; json: string; checksum: string }>(
        `SELECT seq, json, checksum FROM ${this.s}.records WHERE seq > $1 ORDER BY seq`,
        [afterSeq],
      ),
    );
    const records: LedgerRecord[] = [];
    let expected = afterSeq + 1;
    for (const row of rows.rows) {
      if (Number(row.seq) !== expected) {
        throw new RingmasterError(
          'LEDGER',
          `${this.where} schema "${this.opts.schema}": record ${expected} is missing (found ${row.seq}); the ledger is corrupt`,
          { scope: 'store-postgres', details: { seq: expected, schema: this.opts.schema } },
        );
      }
      records.push(this.decodeRow(row));
      expected++;
    }
    return records;
  }

  async acquire(name: string, options: AcquireOptions): Promise<Lease | undefined> {
    await this.init();
    // This call's own id, the same on every try: withClient tries again on the next connection
    // when one dies (at once), or times out (once), and the row a lost try wrote is then known as
    // ours, not as a live holder's.
    const acquireId = randomUUID();
    return this.withClient(`take the lock ${name}`, async (client) => {
      const took = await client.query<{ token: string; expires_at: string }>(
        `INSERT INTO ${this.s}.leases AS l (name, token, owner, pid, hostname, pid_ns, acquired_at, expires_at, acquire_id)
         SELECT $1, nextval('${this.s}.fencing_tokens'), $2, $3, $4, $6, now_ms, now_ms + $5, $7
           FROM (SELECT ${NOW_MS} AS now_ms) AS clock
         ON CONFLICT (name) DO UPDATE
           SET token = EXCLUDED.token, owner = EXCLUDED.owner, pid = EXCLUDED.pid, hostname = EXCLUDED.hostname,
               pid_ns = EXCLUDED.pid_ns, acquired_at = EXCLUDED.acquired_at, expires_at = EXCLUDED.expires_at,
               acquire_id = EXCLUDED.acquire_id
           WHERE l.expires_at <= EXCLUDED.acquired_at
         RETURNING token, expires_at`,
        [name, options.owner, process.pid, HOST, options.ttlMs, PID_NS ?? null, acquireId],
      );
      if (took.rows[0]) return this.lease(name, options.owner, took.rows[0]);
      const held = await this.row(client, name);
      // Taken by this very call, on a connection that died before its answer came back. The row
      // must also still name this process: a runner of schema 1 taking it over after it expired
      // leaves the id in place.
      if (held && held.acquire_id === acquireId && isOurs(held, options.owner) && !isExpired(held)) {
        return this.lease(name, options.owner, held);
      }
      // Held and unexpired: taken over only when its holder ran here (this host, this PID
      // namespace) and its process is gone.
      if (!held || !isStale(held)) return undefined;
      const stolen = await client.query<{ token: string; expires_at: string }>(
        `UPDATE ${this.s}.leases
            SET token = nextval('${this.s}.fencing_tokens'), owner = $3, pid = $4, hostname = $5,
                pid_ns = $7, acquired_at = ${NOW_MS}, expires_at = ${NOW_MS} + $6, acquire_id = $8
          WHERE name = $1 AND token = $2
          RETURNING token, expires_at`,
        [name, held.token, options.owner, process.pid, HOST, options.ttlMs, PID_NS ?? null, acquireId],
      );
      return stolen.rows[0] ? this.lease(name, options.owner, stolen.rows[0]) : undefined;
    });
  }

  private lease(name: string, owner: string, row: { token: string; expires_at: string }): Lease {
    return { name, owner, token: row.token, expiresAt: Number(row.expires_at) };
  }

  private async row(client: pg.PoolClient, name: string): Promise<LeaseRow | undefined> {
    const found = await client.query<LeaseRow>(
      `SELECT token, owner, acquire_id, pid, hostname, pid_ns, acquired_at, expires_at, ${NOW_MS} AS now FROM ${this.s}.leases WHERE name = $1`,
      [name],
    );
    return found.rows[0];
  }

  async renew(lease: Lease, ttlMs: number): Promise<Lease> {
    await this.init();
    const renewed = await this.withClient(`renew the lock ${lease.name}`, (client) =>
      client.query<{ expires_at: string }>(
        `UPDATE ${this.s}.leases SET expires_at = ${NOW_MS} + $3
          WHERE name = $1 AND token = $2 AND expires_at > ${NOW_MS}
          RETURNING expires_at`,
        [lease.name, lease.token, ttlMs],
      ),
    );
    const row = renewed.rows[0];
    if (!row) {
      throw new RingmasterError(
        'LOCKED',
        `lost the lock ${lease.name}: it expired or another holder took it`,
        {
          scope: 'ledger',
          details: { lock: lease.name },
        },
      );
    }
    return { ...lease, expiresAt: Number(row.expires_at) };
  }

  async release(lease: Lease): Promise<void> {
    await this.init();
    await this.withClient(`release the lock ${lease.name}`, (client) =>
      client.query(`DELETE FROM ${this.s}.leases WHERE name = $1 AND token = $2`, [lease.name, lease.token]),
    );
  }

  async inspect(name: string): Promise<LockInfo | undefined> {
    await this.init();
    const row = await this.withClient(`inspect the lock ${name}`, (client) => this.row(client, name));
    if (!row || isStale(row)) return undefined;
    return {
      name,
      owner: row.owner,
      ...(row.pid ? { pid: row.pid } : {}),
      ...(row.hostname ? { hostname: row.hostname } : {}),
      acquiredAt: Number(row.acquired_at),
      expiresAt: Number(row.expires_at),
    };
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    if (this.listeners.size === 1) void this.listen(0);
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size > 0 || !this.listener) return;
      // Nobody listens any more: the LISTEN connection goes (a new subscriber opens another).
      const client = this.listener;
      this.listener = undefined;
      client.end().catch(() => {});
    };
  }

  /**
   * Keeps one connection LISTENing while anyone subscribes. When it drops, it reconnects with
   * a growing pause and wakes everyone once it is back (appends made meanwhile sent nothing).
   */
  private async listen(attempt: number): Promise<void> {
    if (this.closed || this.listeners.size === 0 || this.listener) return;
    const client = new pg.Client({
      ...(this.opts.connectionString
        ? { connectionString: this.opts.connectionString }
        : ((this.pool as unknown as { options: pg.ClientConfig }).options ?? {})),
      connectionTimeoutMillis: 10_000,
      keepAlive: true,
    });
    const retry = () => {
      if (this.listener === client) this.listener = undefined;
      client.end().catch(() => {});
      if (this.closed || this.listeners.size === 0) return;
      const pause = setTimeout(() => void this.listen(attempt + 1), Math.min(200 * 2 ** attempt, 5_000));
      pause.unref();
    };
    client.on('error', retry);
    client.on('notification', () => this.wake());
    try {
      this.listener = client;
      await client.connect();
      await client.query(`LISTEN ${this.channel}`);
      this.wake();
    } catch {
      retry();
    }
  }

  private wake(): void {
    for (const listener of this.listeners) listener();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    await this.listener?.end().catch(() => {});
    this.listener = undefined;
    if (this.ownsPool) await this.pool.end().catch(() => {});
  }
}

/**
 * The ledger in PostgreSQL, shared by several runners.
 *
 * @example
 * ```ts
 * import { postgresStore } from '@ringmaster/store-postgres';
 * const store = postgresStore({ connectionString: process.env.RINGMASTER_DATABASE_URL });
 * const engine = createEngine({ store, pipelines: [app] });
 * ```
 */
export function postgresStore(options: PostgresStoreOptions): Store {
  return new PostgresStore(
    parseOptions(postgresStoreOptionsSchema, options, 'store-postgres', 'postgresStore'),
  );
}
