/**
 * The Source contract: what the engine needs from a version-control adapter (svn, git, memory).
 * A source is stateless; the engine keeps the cursor (the last revision it has seen).
 */

/** One commit on a line of development. */
export interface Revision {
  /** The VCS's own id: an svn revision number as a string, a full git sha. */
  id: string;
  /** The line (branch or path) it was committed to, e.g. `trunk`, `main`. */
  line: string;
  author: string;
  /** The author's e-mail address, where the VCS records one (git does; svn does not). */
  email?: string;
  message: string;
  /** Commit time, ISO 8601 in UTC. */
  time: string;
  /**
   * A number that grows along the line: the svn revision number, a git commit count. Packagers
   * derive ordered versions from it.
   */
  number?: number;
  /** Paths the commit changed, where the source reports them. */
  paths?: string[];
}

/**
 * A request, made in the repository itself, to deploy a revision to a ring: Flipkart's
 * `svn copy trunk prod/2011-07-08-10:00`, or a git tag `deploy/prod/2011-07-08`.
 */
export interface DeployRequest {
  /** Stable id of the request (the copy's revision, the tag name). */
  id: string;
  /** The ring it asks for, e.g. `prod`. */
  ring: string;
  /** The revision id to deploy. */
  revision: string;
  /** Who made the request. */
  author: string;
  /** ISO 8601 time of the request. */
  time: string;
  message: string;
  /** The name the requester gave it (`2011-07-08-10:00`). */
  name: string;
}

/** Optional abilities a source announces. */
export interface SourceCapabilities {
  /** `deployRequests()` reads deploy requests from the repository. */
  deployRequests?: boolean;
  /** `requestDeploy()` can make one (server-side copy, pushed tag). */
  createDeployRequest?: boolean;
  /**
   * The repository's server sets each author from its own sign-in (svn over svn://, svn+ssh://
   * or http(s)://), so a deploy request's author is who made it. Not so for git, whose author and
   * tagger names are whatever the client says: with identities on, its deploy requests are not
   * counted as approvals.
   */
  authenticatedAuthors?: boolean;
}

export interface RequestDeployInput {
  ring: string;
  revision: string;
  /** Defaults to a UTC timestamp such as `2026-11-28-10-00-00`. */
  name?: string;
  message?: string;
}

/**
 * A repository adapter. `log` and `head` read the watched line; `checkout` materialises one
 * revision into an empty directory.
 *
 * Errors: `SOURCE` for anything the VCS refused (with the client's message, never a password);
 * `CURSOR_LOST` when `since` is no longer on the line (history rewritten under the cursor).
 */
export interface Source {
  readonly name: string;
  readonly capabilities?: SourceCapabilities;
  /** The newest revision on the watched line. */
  head(): Promise<Revision>;
  /**
   * Revisions committed after `since` (exclusive), oldest first, up to the head. Without
   * `since`, only the head.
   */
  log(since?: string): Promise<Revision[]>;
  /** Writes the tree of `revision` into `dir` (created if missing, expected empty). */
  checkout(revision: string, dir: string): Promise<void>;
  /** Deploy requests made after the one with id `since` (exclusive), oldest first. */
  deployRequests?(since?: string): Promise<DeployRequest[]>;
  /** Makes a deploy request in the repository: the seed's step 1. */
  requestDeploy?(input: RequestDeployInput): Promise<DeployRequest>;
  close?(): Promise<void>;
}
