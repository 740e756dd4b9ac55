/**
 * `@ringmaster/core`: the model, the engine, the ledger, rollout strategies, promotion
 * policies, adapter contracts and the reference adapters.
 *
 * @module
 */
export * from './adapter.js';
