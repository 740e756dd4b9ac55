/**
 * `@ringmaster/web`: the team's page. Every ring of a project on one screen, live (Server-Sent
 * Events from the ledger); the release timeline with its commits; each host's version and last
 * step; history with CSV and JSON export; and actions (approve, promote, roll back, lock,
 * unlock, allow again), each previewed first, behind sign-in, permissions per ring and CSRF.
 *
 * @module
 */
export {
  type ActionRequest,
  type ActionResult,
  type Actor,
  type Commit,
  PERMISSION,
  type Preview,
  perform,
  preview,
  WEB_ACTIONS,
  type WebAction,
} from './actions.js';
export { createWebApp, type WebAppOptions } from './app.js';
export { LOGIN_LIMIT } from './auth.js';
export {
  commitsByRelease,
  type HostView,
  type PipelineView,
  type ProjectView,
  projectView,
  type ReleaseView,
  type RingView,
} from './model.js';
export { type ServeOptions, serveWeb, type WebServer } from './server.js';
