/**
 * postgresStore against a real server that misbehaves: backends terminated mid-append, the
 * server restarted, a schema from the future, a user without permissions, a row changed behind
 * the store's back. The question each time: does what the store reported match what the
 * database holds?
 */
import { spawn } from 'node:child_process';
import { createServer, type Socket, connect as tcpConnect } from 'node:net';
import { isRingmasterError, type Store, seededRandom } from '@ringmaster/core/adapter';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isEndedConnection } from '../src/errors.js';
import { postgresStore, SCHEMA_VERSION } from '../src/index.js';
import { type PostgresCluster, startPostgres } from '../src/testing/index.js';

let cluster: PostgresCluster;
let n = 0;
const stores: Store[] = [];
async function freshStore(options: Partial<Parameters<typeof postgresStore>[0]> = {}) {
  const connectionString = await cluster.createDatabase(`faults_${++n}`);
  const store = postgresStore({ connectionString, ...options });
  stores.push(store);
  return { store, connectionString };
}
const rec = (i: number) => ({ type: 'test.record', time: new Date(0).toISOString(), data: { i } });

/** Runs SQL as the superuser in the database of `connectionString`: behind the store's back. */
async function asSuperuser<T extends Record<string, unknown>>(
  connectionString: string,
  text: string,
  values: unknown[] = [],
): Promise<T[]> {
  const database = new URL(connectionString).pathname.slice(1);
  const { default: pg } = await import('pg');
  const client = new pg.Client({
    connectionString: `postgres://postgres@127.0.0.1:${cluster.port}/${database}`,
  });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  cluster = await startPostgres();
});
afterAll(async () => {
  for (const s of stores) await s.close?.();
  await cluster?.destroy();
});

describe('postgresStore under faults', () => {
  for (const seed of [11, 29, 47]) {
    it(`backends terminated while appends run (seed ${seed}): every append reported written is in the ledger once, every failed one is not`, async () => {
      const { store, connectionString } = await freshStore({ resolveMs: 10_000 });
      const database = new URL(connectionString).pathname.slice(1);
      const rand = seededRandom(seed);
      const reported = new Map<number, number[]>(); // payload i → seqs the store returned
      const failed = new Set<number>();
      let i = 0;
      const writer = async () => {
        for (let k = 0; k < 60; k++) {
          const mine = [i++, i++];
          try {
            const stored = await store.append([rec(mine[0]!), rec(mine[1]!)]);
            reported.set(
              mine[0]!,
              stored.map((r) => r.seq),
            );
          } catch (error) {
            expect(isRingmasterError(error, 'LEDGER')).toBe(true);
            failed.add(mine[0]!);
          }
        }
      };
      let terminating = true;
      let terminated = 0;
      const killer = (async () => {
        while (terminating) {
          await new Promise((r) => setTimeout(r, 1 + Math.floor(rand() * 15)));
          const rows = await cluster.sql<{ t: boolean }>(
            `SELECT pg_terminate_backend(pid) AS t FROM pg_stat_activity
              WHERE datname = $1 AND application_name = 'ringmaster' AND pid <> pg_backend_pid()`,
            [database],
          );
          terminated += rows.filter((r) => r.t).length;
        }
      })();
      await Promise.all([writer(), writer(), writer()]);
      terminating = false;
      await killer;
      expect(terminated).toBeGreaterThan(0);

      const all = await store.read();
      // Gapless, and each append's two records are adjacent and whole.
      expect(all.map((r) => r.seq)).toEqual(all.map((_, k) => k + 1));
      const firsts = all.filter((r) => (r.data.i as number) % 2 === 0).map((r) => r.data.i as number);
      expect(new Set(firsts).size).toBe(firsts.length); // no append landed twice
      for (const [first, seqs] of reported) {
        expect(all.find((r) => r.data.i === first)?.seq).toBe(seqs[0]);
        expect(all.find((r) => r.data.i === first + 1)?.seq).toBe(seqs[1]);
      }
      for (const first of failed) expect(all.some((r) => r.data.i === first)).toBe(false);
      expect(all.length).toBe(reported.size * 2);
    }, 120_000);
  }

  it('only a connection ended at once is tried on the next one; a timeout (a partition) is not', () => {
    const err = (message: string, code?: string) => Object.assign(new Error(message), code ? { code } : {});
    for (const ended of [
      err('read ECONNRESET', 'ECONNRESET'),
      err('terminating connection due to administrator command', '57P01'),
      err('Connection terminated unexpectedly'),
    ]) {
      expect(isEndedConnection(ended), ended.message).toBe(true);
    }
    for (const cut of [
      err('connect ETIMEDOUT', 'ETIMEDOUT'),
      err('Query read timeout'),
      err('Connection terminated due to connection timeout'),
      err('connect ECONNREFUSED', 'ECONNREFUSED'),
    ]) {
      expect(isEndedConnection(cut), cut.message).toBe(false);
    }
  });

  it('every pooled connection dead while idle (a failover): the next read and append go through on a new one', async () => {
    // A proxy in front of the server. A connection made before `deadBefore` was raised is dead
    // the moment it is used (the client's next bytes reset it, as a connection to a server that
    // failed over is); connections made since pass.
    let generation = 0;
    let deadBefore = 0;
    let resets = 0;
    const proxy = createServer((client) => {
      const born = generation;
      const upstream = tcpConnect(cluster.port, '127.0.0.1');
      client.on('data', (chunk) => {
        if (born >= deadBefore) upstream.write(chunk);
        else {
          resets++;
          client.resetAndDestroy();
          upstream.destroy();
        }
      });
      upstream.on('data', (chunk) => client.write(chunk));
      for (const [a, b] of [
        [client, upstream],
        [upstream, client],
      ] as const) {
        a.on('error', () => {}).on('close', () => b.destroy());
      }
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      const url = new URL(await cluster.createDatabase(`faults_${++n}`));
      url.port = String((proxy.address() as { port: number }).port);
      const store = postgresStore({ connectionString: url.toString(), maxConnections: 4 });
      stores.push(store);
      await store.append([rec(0), rec(1)]);
      // Four connections in the pool, all idle; then all dead.
      await Promise.all(Array.from({ length: 4 }, () => store.read()));
      deadBefore = ++generation;
      expect((await store.read()).map((r) => r.data.i)).toEqual([0, 1]);
      // All four were tried and found dead (the fifth try, on a new connection, read it).
      expect(resets).toBe(4);
      // Again, for an append (which writes nothing on a dead one).
      await Promise.all(Array.from({ length: 4 }, () => store.read()));
      deadBefore = ++generation;
      expect((await store.append([rec(2)])).map((r) => r.seq)).toEqual([3]);
      expect(resets).toBe(8);
    } finally {
      proxy.close();
    }
  }, 60_000);

  /** A simple-query message ('Q') whose text is COMMIT. */
  const isCommit = (chunk: Buffer) => chunk[0] === 0x51 && chunk.includes('COMMIT');

  /**
   * A TCP proxy in front of the server that, once armed, cuts the connection that sends COMMIT
   * (or the first message `match` picks): `after` forwards it and drops the server's answer (the
   * transaction commits, the client never hears it); `before` drops it (the server aborts).
   */
  async function statementCutter() {
    let armed: { how: 'after' | 'before'; match: (chunk: Buffer) => boolean } | undefined;
    let cuts = 0;
    const sockets = new Set<Socket>();
    const server = createServer((client) => {
      const upstream = tcpConnect(cluster.port, '127.0.0.1');
      sockets.add(client).add(upstream);
      let cut = false;
      client.on('data', (chunk) => {
        if (cut) return;
        if (armed?.match(chunk)) {
          const { how } = armed;
          armed = undefined;
          cut = true;
          cuts++;
          if (how === 'after') upstream.write(chunk);
          setTimeout(() => {
            client.destroy();
            upstream.destroy();
          }, 200);
          return;
        }
        upstream.write(chunk);
      });
      upstream.on('data', (chunk) => {
        if (!cut) client.write(chunk);
      });
      for (const s of [client, upstream]) {
        s.on('error', () => {});
        s.on('close', () => {
          client.destroy();
          upstream.destroy();
        });
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    return {
      port,
      arm(how: 'after' | 'before', match = isCommit) {
        armed = { how, match };
      },
      get cuts() {
        return cuts;
      },
      async close() {
        for (const s of sockets) s.destroy();
        await new Promise((r) => server.close(r));
      },
    };
  }

  it('a connection cut after COMMIT was sent: the append that landed is reported written, with its seqs; one cut before COMMIT is reported failed and is absent', async () => {
    const { connectionString } = await freshStore();
    const cutter = await statementCutter();
    const url = new URL(connectionString);
    url.port = String(cutter.port);
    const store = postgresStore({ connectionString: url.toString(), resolveMs: 10_000 });
    stores.push(store);
    try {
      await store.append([rec(1)]);
      cutter.arm('after');
      const landed = await store.append([rec(2), rec(3)]);
      expect(landed.map((r) => [r.seq, r.data.i])).toEqual([
        [2, 2],
        [3, 3],
      ]);
      cutter.arm('before');
      const lost = await store.append([rec(4)]).catch((e: unknown) => e);
      expect(isRingmasterError(lost, 'LEDGER')).toBe(true);
      await store.append([rec(5)]);
      expect((await store.read()).map((r) => [r.seq, r.data.i])).toEqual([
        [1, 1],
        [2, 2],
        [3, 3],
        [4, 5],
      ]);
    } finally {
      await cutter.close();
    }
  }, 60_000);

  it('an acquire whose answer is lost (the connection cut after the row was written) holds the lease once it is asked again: not "held by a live process"', async () => {
    const { connectionString } = await freshStore();
    const cutter = await statementCutter();
    const url = new URL(connectionString);
    url.port = String(cutter.port);
    const store = postgresStore({ connectionString: url.toString() });
    stores.push(store);
    const other = postgresStore({ connectionString });
    stores.push(other);
    try {
      await store.append([rec(1)]); // the schema is made before the cutter is armed
      // pg sends the INSERT (extended protocol: Parse, Bind, Describe, Execute, Sync) in one write.
      cutter.arm('after', (chunk) => chunk.includes('INSERT INTO') && chunk.includes('.leases'));
      const lease = await store.acquire('ring:prod', { owner: 'me', ttlMs: 60_000 });
      expect(cutter.cuts).toBe(1);
      expect(lease).toBeDefined();
      // The lost try wrote the row (fencing token 1); the try again drew token 2 and found it.
      expect(lease!.token).toBe('1');
      expect(
        await asSuperuser(connectionString, 'SELECT last_value::text AS last FROM ringmaster.fencing_tokens'),
      ).toEqual([{ last: '2' }]);
      // The lease is the row the lost try wrote: its token, renewable, and it fences appends.
      expect(
        await asSuperuser(
          connectionString,
          `SELECT token, owner FROM ringmaster.leases WHERE name = 'ring:prod'`,
        ),
      ).toEqual([{ token: lease!.token, owner: 'me' }]);
      const renewed = await store.renew(lease!, 60_000);
      await store.append([rec(2)], { fence: [renewed] });
      expect(await other.acquire('ring:prod', { owner: 'you', ttlMs: 60_000 })).toBeUndefined();
      await store.release(renewed);
      expect(await other.acquire('ring:prod', { owner: 'you', ttlMs: 60_000 })).toBeDefined();
      expect((await store.read()).map((r) => r.data.i)).toEqual([1, 2]);
    } finally {
      await cutter.close();
    }
  }, 60_000);

  it('a restart of the server: appends while it is down fail as retryable and write nothing; the ledger goes on after it', async () => {
    const { store } = await freshStore({ resolveMs: 0 });
    await store.append([rec(1)]);
    const lease = await store.acquire('ring:prod', { owner: 'me', ttlMs: 60_000 });
    await cluster.stop();
    const down = await store.append([rec(2)], { fence: [lease!] }).catch((e: unknown) => e);
    expect(isRingmasterError(down, 'LEDGER')).toBe(true);
    expect((down as { details: { retryable: boolean } }).details.retryable).toBe(true);
    expect((down as Error).message).toMatch(/cannot be reached/);
    await cluster.start();
    // The lease outlived the restart (it is a row), so the holder goes on.
    await store.append([rec(3)], { fence: [lease!] });
    expect((await store.read()).map((r) => r.data.i)).toEqual([1, 3]);
  }, 60_000);

  it('refuses a schema from a newer version, naming both versions, and writes nothing', async () => {
    const { store, connectionString } = await freshStore();
    await store.append([rec(1)]);
    await asSuperuser(
      connectionString,
      `UPDATE ringmaster.meta SET value = $1 WHERE key = 'schema_version'`,
      [String(SCHEMA_VERSION + 1)],
    );
    const later = postgresStore({ connectionString });
    stores.push(later);
    const error = await later.append([rec(2)]).catch((e: unknown) => e);
    expect(isRingmasterError(error, 'LEDGER')).toBe(true);
    expect((error as Error).message).toContain(`schema version ${SCHEMA_VERSION + 1}, newer than`);
    expect((error as Error).message).toContain(`(${SCHEMA_VERSION})`);
  });

  it('migrates a version 1 schema, keeping its records and a live lease (whose row names no acquire call)', async () => {
    const { store, connectionString } = await freshStore();
    await store.append([rec(1)]);
    const held = await store.acquire('ring:prod', { owner: 'old', ttlMs: 60_000 });
    // Back to what version 1 made: no acquire_id column.
    await asSuperuser(
      connectionString,
      `ALTER TABLE ringmaster.leases DROP COLUMN acquire_id;
       UPDATE ringmaster.meta SET value = '1' WHERE key = 'schema_version'`,
    );
    const later = postgresStore({ connectionString });
    stores.push(later);
    expect((await later.read()).map((r) => r.data.i)).toEqual([1]);
    expect(
      await asSuperuser(connectionString, `SELECT value FROM ringmaster.meta WHERE key = 'schema_version'`),
    ).toEqual([{ value: String(SCHEMA_VERSION) }]);
    expect(await later.acquire('ring:prod', { owner: 'new', ttlMs: 60_000 })).toBeUndefined();
    await later.append([rec(2)], { fence: [held!] });
    expect(await later.acquire('ring:eng', { owner: 'new', ttlMs: 60_000 })).toBeDefined();
  });

  it('a wrong port or database, or a user without permissions, is a clear error before any work', async () => {
    const wrongPort = postgresStore({ connectionString: 'postgres://ringmaster@127.0.0.1:1/ringmaster' });
    stores.push(wrongPort);
    const refused = await wrongPort.read().catch((e: unknown) => e);
    expect((refused as Error).message).toMatch(/127\.0\.0\.1:1.* cannot be reached/);

    const noDb = postgresStore({ connectionString: `postgres://ringmaster@127.0.0.1:${cluster.port}/nope` });
    stores.push(noDb);
    expect(((await noDb.read().catch((e: unknown) => e)) as Error).message).toMatch(
      /database "nope" does not exist.*createdb/,
    );

    await cluster.sql('CREATE ROLE visitor LOGIN');
    await cluster.sql('CREATE DATABASE locked_out OWNER postgres');
    await cluster.sql('REVOKE CREATE ON DATABASE locked_out FROM PUBLIC');
    const visitor = postgresStore({
      connectionString: `postgres://visitor@127.0.0.1:${cluster.port}/locked_out`,
    });
    stores.push(visitor);
    const denied = await visitor.read().catch((e: unknown) => e);
    expect(isRingmasterError(denied, 'LEDGER')).toBe(true);
    expect((denied as Error).message).toMatch(/lacks a permission.*CREATE on the database/);
  });

  it('once its schema exists, the store needs no CREATE on the database: that right can be revoked', async () => {
    await cluster.sql('CREATE ROLE starter LOGIN');
    await cluster.sql('CREATE DATABASE handover OWNER postgres');
    await cluster.sql('GRANT CREATE ON DATABASE handover TO starter');
    const url = `postgres://starter@127.0.0.1:${cluster.port}/handover`;
    const first = postgresStore({ connectionString: url });
    stores.push(first);
    await first.append([rec(1)]);
    await cluster.sql('REVOKE CREATE ON DATABASE handover FROM starter');
    await cluster.sql('REVOKE CREATE ON DATABASE handover FROM PUBLIC');
    const later = postgresStore({ connectionString: url });
    stores.push(later);
    await later.append([rec(2)]);
    expect((await later.read()).map((r) => r.data.i)).toEqual([1, 2]);
  });

  it('a row changed behind the store is corruption, named by its seq', async () => {
    const { store, connectionString } = await freshStore();
    await store.append([rec(1), rec(2), rec(3)]);
    await asSuperuser(
      connectionString,
      `UPDATE ringmaster.records SET json = replace(json, '"i":2', '"i":9') WHERE seq = 2`,
    );
    const error = await store.read().catch((e: unknown) => e);
    expect(isRingmasterError(error, 'LEDGER')).toBe(true);
    expect((error as Error).message).toMatch(/record 2: checksum mismatch/);
  });

  it('a lease held by a process on this host that died is taken over at once; a live one is not', async () => {
    const { store, connectionString } = await freshStore();
    // A child takes the lease and is killed without releasing it.
    const script = `
      const { postgresStore } = await import(${JSON.stringify(new URL('../src/index.ts', import.meta.url).pathname)});
      const s = postgresStore({ connectionString: ${JSON.stringify(connectionString)} });
      const l = await s.acquire('ring:x', { owner: 'child', ttlMs: 600000 });
      console.log(l ? 'held' : 'refused');
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const said = await new Promise<string>((resolve) =>
      child.stdout!.once('data', (d) => resolve(String(d))),
    );
    expect(said.trim()).toBe('held');
    expect(await store.acquire('ring:x', { owner: 'me', ttlMs: 60_000 })).toBeUndefined();
    expect((await store.inspect('ring:x'))?.owner).toBe('child');
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const taken = await store.acquire('ring:x', { owner: 'me', ttlMs: 60_000 });
    expect(taken?.owner).toBe('me');
  }, 60_000);

  it('NOTIFY wakes a subscriber after an append by another handle, carrying nothing; with notify off there is no wake-up', async () => {
    const { store, connectionString } = await freshStore();
    const woken: number[] = [];
    const stop = store.subscribe!(() => woken.push(Date.now()));
    // The first wake-up comes once LISTEN is in place.
    for (let i = 0; i < 200 && woken.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    const before = woken.length;
    const other = postgresStore({ connectionString });
    stores.push(other);
    await other.append([rec(1)]);
    for (let i = 0; i < 200 && woken.length === before; i++) await new Promise((r) => setTimeout(r, 10));
    expect(woken.length).toBe(before + 1);

    const quiet = postgresStore({ connectionString, notify: false });
    stores.push(quiet);
    await quiet.append([rec(2)]);
    await new Promise((r) => setTimeout(r, 300));
    expect(woken.length).toBe(before + 1);
    stop();
  });
});
