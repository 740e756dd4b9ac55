/**
 * `@ringmaster/store-postgres/testing`: a throwaway PostgreSQL cluster for tests and benchmarks.
 *
 * @module
 */
export { type PostgresCluster, postgresBinDir, startPostgres } from './cluster.js';
