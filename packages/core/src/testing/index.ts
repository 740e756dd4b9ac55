/**
 * `@ringmaster/core/testing`: conformance suites an adapter package (ours or a third party's)
 * runs under vitest to prove it keeps its contract.
 *
 * @module
 */
export { type DescribePackagerOptions, describePackager, type PackagerFixture } from './packager.js';
export { type DescribeRepositoryOptions, describeRepository, type RepositoryFixture } from './repository.js';
export { type DescribeSourceOptions, describeSource, type SourceFixture } from './source.js';
export { type DescribeStoreOptions, describeStore, recordAppends, type StoreFixture } from './store.js';
export { type DescribeTargetOptions, describeTarget, type TargetFixture } from './target.js';
export { inSmallTmpfs } from './tmpfs.js';
