/**
 * The CLI, unchanged, on a shared ledger in a real PostgreSQL: two `watch --once` runners at
 * the same time on real sshd hosts deploy each host once, `status --live` and `promote` work as
 * on a file ledger, idle passes write nothing, and `ledger copy` / `ledger verify` move the
 * ledger to files and back keeping every seq and checksum, refuse a non-empty target, and
 * catch a row changed behind the store.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TypedRecord } from '@ringmaster/core';
import { postgresStore } from '@ringmaster/store-postgres';
import { type PostgresCluster, startPostgres } from '@ringmaster/store-postgres/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RealProject, realProject, shopConfig } from './lab.js';

const CONFIG = `${shopConfig({
  head: `import { postgresStore } from '@ringmaster/store-postgres';
const db = JSON.parse(readFileSync(new URL('./db.json', import.meta.url), 'utf8'));
`,
})}
  store: postgresStore({ connectionString: db.url }),
};
`;

let cluster: PostgresCluster;
let w: RealProject;
let db: string;

beforeAll(async () => {
  cluster = await startPostgres();
  db = await cluster.createDatabase('shared_cli');
  w = await realProject('shared', 3, CONFIG);
  await writeFile(join(w.dir, 'db.json'), JSON.stringify({ url: db }));
}, 120_000);
afterAll(async () => {
  await w?.stop();
  await cluster?.destroy();
});

const records = async () => {
  const store = postgresStore({ connectionString: db });
  try {
    return (await store.read()) as TypedRecord[];
  } finally {
    await store.close?.();
  }
};

describe('the CLI on a shared PostgreSQL ledger', () => {
  it('two runners at once deploy each host once; status, promote and idle passes work as on a file ledger', {
    timeout: 180_000,
  }, async () => {
    w.commit({ 'index.html': '<h1>shop</h1>\n' }, 'First shop page');
    // Two runners started together: no LOCKED for the second, one build and one rollout per ring.
    const [a, b] = await Promise.all([w.run('watch', '--once'), w.run('watch', '--once')]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    // A runner that found a ring taken skipped it; a further pass finishes whatever is left.
    for (let i = 0; i < 3; i++) expect((await w.run('watch', '--once')).code).toBe(0);
    let ledger = await records();
    expect(ledger.filter((r) => r.type === 'release.created')).toHaveLength(1);
    expect(ledger.filter((r) => r.type === 'build.finished')).toHaveLength(1);
    const deploys = ledger.filter((r) => r.type === 'host.finished').map((r) => r.data);
    expect(deploys.map((d) => (d as { host: string }).host).sort()).toEqual([
      w.lab.hosts[0]!.name,
      w.lab.hosts[1]!.name,
    ]);
    expect(await w.versions('shop')).toEqual(['1.0.1', '1.0.1', null]);

    const status = await w.run('status', '--live');
    expect(status.code, status.stdout + status.stderr).toBe(0);
    expect(status.stdout).toMatch(/sandbox.*1\.0\.1/);

    const promote = await w.run('promote', 'shop', 'prod', '--by', 'oncall');
    expect(promote.code, promote.stdout + promote.stderr).toBe(0);
    expect(await w.versions('shop')).toEqual(['1.0.1', '1.0.1', '1.0.1']);

    // Passes with nothing to do write nothing: the ledger grows with the work, not the polling.
    expect((await w.run('watch', '--once')).code).toBe(0);
    ledger = await records();
    const before = ledger.length;
    for (let i = 0; i < 3; i++) expect((await w.run('watch', '--once')).code).toBe(0);
    expect((await records()).length).toBe(before);
  });

  it('ledger copy to files and back keeps every seq and checksum; verify checks it, refuses nothing silently', {
    timeout: 120_000,
  }, async () => {
    const files = join(w.dir, 'ledger-copy');
    const copy = await w.run('ledger', 'copy', '--from', 'config', '--to', files);
    expect(copy.code, copy.stderr).toBe(0);
    const count = (await records()).length;
    expect(copy.stdout).toContain(`copied ${count} records`);
    expect(copy.stdout).toContain('every seq and checksum checks out');

    // Back into another schema of the database: the same records, seq by seq.
    const back = `${db}?schema=restored`;
    const restore = await w.run('ledger', 'copy', '--from', files, '--to', back, '--json');
    expect(restore.code, restore.stderr).toBe(0);
    expect(JSON.parse(restore.stdout)).toMatchObject({
      records: count,
      verified: { ok: true, records: count },
    });
    const verify = await w.run('ledger', 'verify', '--store', back, '--against', 'config');
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect(verify.stdout).toContain('pipelines: shop');

    // A target that is not empty is refused, and keeps what it had.
    const again = await w.run('ledger', 'copy', '--from', 'config', '--to', files);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`already holds ${count} records`);

    // A row changed behind the store: verify names it and exits 1.
    await cluster.sql('SELECT 1'); // the server is up
    const { default: pg } = await import('pg');
    const client = new pg.Client({
      connectionString: `postgres://postgres@127.0.0.1:${cluster.port}/shared_cli`,
    });
    await client.connect();
    await client.query(`UPDATE restored.records SET json = replace(json, 'shop', 'shoq') WHERE seq = 3`);
    await client.end();
    const bad = await w.run('ledger', 'verify', '--store', back);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/record 3: checksum mismatch/);
  });

  it('a database that cannot be reached, or a user without permissions, is said before any work, with exit 1', {
    timeout: 60_000,
  }, async () => {
    const good = JSON.stringify({ url: db });
    try {
      await writeFile(
        join(w.dir, 'db.json'),
        JSON.stringify({ url: 'postgres://ringmaster@127.0.0.1:1/ringmaster' }),
      );
      const down = await w.run('watch', '--once');
      expect(down.code).toBe(1);
      expect(down.stderr).toMatch(/127\.0\.0\.1:1\/ringmaster cannot be reached/);
      expect(down.stdout).not.toMatch(/build|deploy/);

      await cluster.sql('CREATE ROLE outsider LOGIN');
      await cluster.sql('CREATE DATABASE closed OWNER postgres');
      await cluster.sql('REVOKE CREATE ON DATABASE closed FROM PUBLIC');
      await writeFile(
        join(w.dir, 'db.json'),
        JSON.stringify({ url: `postgres://outsider@127.0.0.1:${cluster.port}/closed` }),
      );
      const denied = await w.run('status');
      expect(denied.code).toBe(1);
      expect(denied.stderr).toMatch(/lacks a permission .*CREATE on the database/);
    } finally {
      await writeFile(join(w.dir, 'db.json'), good);
    }
  });
});
