import { describeStore } from '@ringmaster/core/testing';
import { afterAll, beforeAll } from 'vitest';
import { postgresStore } from '../src/index.js';
import { type PostgresCluster, startPostgres } from '../src/testing/index.js';

let cluster: PostgresCluster;
let databases = 0;
beforeAll(async () => {
  cluster = await startPostgres();
});
afterAll(async () => {
  await cluster?.destroy();
});

describeStore('postgresStore on a real PostgreSQL server', {
  async create() {
    // A database per test: every test starts on an empty ledger.
    const connectionString = await cluster.createDatabase(`conformance_${++databases}`);
    return { open: async () => postgresStore({ connectionString }) };
  },
});
