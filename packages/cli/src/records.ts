/** Every ledger record as a person reads it: kept in core, where the web page reads it too. */
export { describeRecord, isFailure } from '@ringmaster/core';
