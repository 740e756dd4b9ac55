/**
 * A throwaway PostgreSQL cluster for tests and benchmarks: Debian's `postgresql` binaries,
 * `initdb` into a temp directory, `pg_ctl start` on a free port on 127.0.0.1 (and a private
 * socket directory), a `ringmaster` role and database. Stopped by the postmaster's PID, which is
 * also how a test restarts it mid-run. As root the server runs as the `postgres` user (initdb
 * refuses root).
 */
import { execFile } from 'node:child_process';
import { chmod, chown, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

export interface PostgresCluster {
  /** `postgres://ringmaster@127.0.0.1:<port>/ringmaster`: the role owns the database. */
  readonly connectionString: string;
  /** The same server as the `postgres` superuser, for harness work (terminating backends…). */
  readonly superuserConnectionString: string;
  readonly port: number;
  readonly dataDir: string;
  /** The postmaster's PID while it runs. */
  readonly pid: number;
  /** Runs SQL as the superuser; resolves with the rows. */
  sql<T extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<T[]>;
  /** Creates a database owned by `ringmaster` and returns its connection string. */
  createDatabase(name: string): Promise<string>;
  /** Stops the server by PID (SIGINT: fast shutdown; SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
  /** Stops it and removes its files. */
  destroy(): Promise<void>;
}

/** The newest Debian PostgreSQL's bin directory (`/usr/lib/postgresql/<v>/bin`). */
export async function postgresBinDir(): Promise<string> {
  const root = '/usr/lib/postgresql';
  const versions = (await readdir(root).catch(() => [] as string[]))
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a));
  if (!versions[0]) {
    throw new Error(`no PostgreSQL server under ${root}: install Debian's postgresql (npm test does it)`);
  }
  return join(root, versions[0], 'bin');
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts a throwaway cluster. Call `destroy()` when done (an `afterAll`).
 *
 * @example
 * ```ts
 * const cluster = await startPostgres();
 * const store = postgresStore({ connectionString: cluster.connectionString });
 * ```
 */
export async function startPostgres(
  options: { settings?: Record<string, string> } = {},
): Promise<PostgresCluster> {
  const bin = await postgresBinDir();
  const root = await mkdtemp(join(tmpdir(), 'rm-pg-'));
  const dataDir = join(root, 'data');
  const socketDir = join(root, 'socket');
  const asRoot = process.getuid?.() === 0;
  // The server runs as `postgres` when we are root; its directories must be its own.
  const asServer = (command: string, args: string[]) =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', command, ...args]) : run(command, args);
  await chmod(root, 0o755);
  await run('mkdir', ['-p', dataDir, socketDir]);
  if (asRoot) {
    const { uid, gid } = await postgresIds();
    await chown(dataDir, uid, gid);
    await chown(socketDir, uid, gid);
    await chown(root, uid, gid);
  }
  await asServer(join(bin, 'initdb'), [
    '-D',
    dataDir,
    '-U',
    'postgres',
    '--auth=trust',
    '-E',
    'UTF8',
    '--no-sync',
    '--no-instructions',
  ]);
  const port = await freePort();
  const settings = {
    listen_addresses: "'127.0.0.1'",
    port: String(port),
    unix_socket_directories: `'${socketDir}'`,
    max_connections: '200',
    fsync: 'on',
    ...options.settings,
  };
  await writeFile(
    join(dataDir, 'postgresql.auto.conf'),
    `${Object.entries(settings)
      .map(([k, v]) => `${k} = ${v}`)
      .join('\n')}\n`,
  );
  if (asRoot) {
    const { uid, gid } = await postgresIds();
    await chown(join(dataDir, 'postgresql.auto.conf'), uid, gid);
  }
  const log = join(root, 'server.log');
  let pid = 0;
  const start = async () => {
    await asServer(join(bin, 'pg_ctl'), ['-D', dataDir, '-l', log, '-w', '-t', '60', 'start']).catch(
      async (error: Error) => {
        const tail = await readFile(log, 'utf8').catch(() => '');
        throw new Error(`pg_ctl start failed: ${error.message}\n${tail.split('\n').slice(-15).join('\n')}`);
      },
    );
    pid = Number((await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  };
  await start();

  const superuserConnectionString = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const sql = async <T extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<T[]> => {
    const client = new pg.Client({ connectionString: superuserConnectionString });
    client.on('error', () => {});
    await client.connect();
    try {
      return (await client.query<T>(text, values)).rows;
    } finally {
      await client.end().catch(() => {});
    }
  };
  await sql('CREATE ROLE ringmaster LOGIN');
  await sql('CREATE DATABASE ringmaster OWNER ringmaster');

  const stop = async (graceMs = 30_000) => {
    if (!pid || !alive(pid)) return;
    process.kill(pid, 'SIGINT');
    const deadline = Date.now() + graceMs;
    while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    if (alive(pid)) {
      process.kill(pid, 'SIGKILL');
      for (let i = 0; i < 200 && alive(pid); i++) await new Promise((r) => setTimeout(r, 25));
    }
  };

  return {
    connectionString: `postgres://ringmaster@127.0.0.1:${port}/ringmaster`,
    superuserConnectionString,
    port,
    dataDir,
    get pid() {
      return pid;
    },
    sql,
    async createDatabase(name: string) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain database name: ${name}`);
      await sql(`CREATE DATABASE ${name} OWNER ringmaster`);
      return `postgres://ringmaster@127.0.0.1:${port}/${name}`;
    },
    stop,
    start,
    async destroy() {
      await stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}

async function postgresIds(): Promise<{ uid: number; gid: number }> {
  const { stdout } = await run('id', ['postgres']).catch(() => {
    throw new Error(`no "postgres" user (running as ${userInfo().username}): install Debian's postgresql`);
  });
  const uid = Number(/uid=(\d+)/.exec(stdout)?.[1]);
  const gid = Number(/gid=(\d+)/.exec(stdout)?.[1]);
  return { uid, gid };
}
