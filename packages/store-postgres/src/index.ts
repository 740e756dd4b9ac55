/**
 * `@ringmaster/store-postgres`: the ledger in PostgreSQL, for several runners on one ledger.
 *
 * @module
 */

export { SCHEMA_VERSION } from './schema.js';
export { type PostgresStoreOptions, postgresStore, postgresStoreOptionsSchema } from './store.js';
