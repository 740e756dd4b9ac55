export { authenticatedOnly } from './authenticated.js';
export {
  auto,
  countedApprovals,
  inGroup,
  type ManualOptions,
  manual,
  manualOptionsSchema,
  soak,
} from './basic.js';
export { all, any } from './combine.js';
export { type FreezeOptions, freeze, freezeOptionsSchema } from './freeze.js';
export type { Decision, Policy, PolicyApproval, PolicyContext, PolicyRelease } from './types.js';
export { isPolicy } from './types.js';
export { type WindowOptions, window, windowOptionsSchema } from './window.js';
