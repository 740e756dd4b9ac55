/**
 * `@ringmaster/vcs-git`: the git source adapter for Ringmaster.
 *
 * @module
 */
export { type GitSource, git } from './git.js';
export { type GitOptions, gitOptionsSchema, type SkippedTag } from './options.js';
