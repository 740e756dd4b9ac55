/**
 * `@ringmaster/vcs-svn`: a Ringmaster Source on Subversion — watch a line, check out revisions,
 * and read and make deploy requests (`svn copy trunk prod/<name>`) with the real svn client.
 *
 * @module
 */
export { DEPLOY_REQUEST_NAME, timestampName } from './deploy-requests.js';
export {
  type ResolvedSvnOptions,
  type SkippedDeployRequest,
  type SvnOptions,
  svnOptionsSchema,
} from './options.js';
export { type SvnSource, svn } from './source.js';
