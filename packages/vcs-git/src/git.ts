/**
 * The `git()` factory: validates the options once and returns a Source whose operations share
 * one cached mirror. Building it does nothing; the mirror is cloned on first use.
 */
import {
  type DeployRequest,
  parseOptions,
  type RequestDeployInput,
  type Source,
} from '@ringmaster/core/adapter';
import { checkout } from './checkout.js';
import { deployRequests } from './deploy-tags.js';
import { Mirror } from './mirror.js';
import { type GitOptions, gitOptionsSchema, resolveOptions } from './options.js';
import { redactor } from './redact.js';
import { requestDeploy } from './request-deploy.js';
import { History } from './revisions.js';
import { gitRunner, SCOPE } from './runner.js';

/**
 * A git Source: every optional operation of the contract is present.
 *
 * @example
 * ```ts
 * const source: GitSource = git({ url: '/srv/git/shop.git' });
 * const requests = await source.deployRequests();
 * ```
 */
export interface GitSource extends Source {
  readonly capabilities: { deployRequests: true; createDeployRequest: true };
  deployRequests(since?: string): Promise<DeployRequest[]>;
  requestDeploy(input: RequestDeployInput): Promise<DeployRequest>;
  /** Waits for git commands in flight. Nothing stays open, so there is nothing else to release. */
  close(): Promise<void>;
  /** Where the mirror lives (the resolved `cacheDir`). */
  readonly cacheDir: string;
}

/**
 * A Source on the real `git` client: polls `branch` of `url` through a cached bare mirror,
 * checks revisions out without a clone per build, and reads and makes deploy-request tags.
 *
 * @example
 * ```ts
 * import { git } from '@ringmaster/vcs-git';
 *
 * const source = git({ url: 'https://git.example.com/shop.git', branch: 'main' });
 * const head = await source.head();
 * const fresh = await source.log(previousHead.id); // oldest first
 * await source.checkout(head.id, '/var/build/shop');
 * await source.requestDeploy({ ring: 'prod', revision: head.id, message: 'deploying to prod' });
 * ```
 */
export function git(options: GitOptions): GitSource {
  const resolved = resolveOptions(parseOptions(gitOptionsSchema, options, SCOPE));
  const runner = gitRunner(resolved, resolved.timeoutMs, redactor(resolved.url));
  const mirror = new Mirror(runner, resolved);
  const history = new History(runner, mirror, resolved);
  return {
    name: 'git',
    capabilities: { deployRequests: true, createDeployRequest: true },
    cacheDir: resolved.cacheDir,
    head: () => history.head(),
    log: (since) => history.log(since),
    checkout: (revision, dir) => checkout(runner, mirror, resolved, revision, dir),
    deployRequests: (since) => deployRequests(runner, mirror, resolved, since),
    requestDeploy: (input) => requestDeploy(runner, mirror, resolved, input),
    close: () => mirror.idle(),
  };
}
