/**
 * The seed's step 1 in git: make an annotated tag `deploy/<ring>/<name>` on a revision in the
 * mirror and push it to the remote. If the push is refused the local tag is removed again, so
 * the mirror never shows a request the remote does not have.
 */
import {
  assertMatches,
  type DeployRequest,
  type RequestDeployInput,
  RingmasterError,
  SAFE_NAME,
} from '@ringmaster/core/adapter';
import { compilePattern, REQUEST_NAME, readTags } from './deploy-tags.js';
import type { Mirror } from './mirror.js';
import type { ResolvedOptions } from './options.js';
import { resolveCommit } from './resolve.js';
import { type GitRunner, gitError, SCOPE } from './runner.js';

/** `2026-11-28-10-00-00`: the default request name, in UTC. */
export function timestampName(date: Date): string {
  return date.toISOString().slice(0, 19).replace(/[T:]/g, '-');
}

/** Creates and pushes the deploy-request tag; returns the request as `deployRequests()` reads it. */
export async function requestDeploy(
  git: GitRunner,
  mirror: Mirror,
  options: ResolvedOptions,
  input: RequestDeployInput,
): Promise<DeployRequest> {
  const ring = assertMatches(input.ring, SAFE_NAME, 'ring', SCOPE);
  const name = assertMatches(
    input.name ?? timestampName(new Date()),
    REQUEST_NAME,
    'deploy request name',
    SCOPE,
  );
  const message = input.message ?? `deploying to ${ring}`;
  if (typeof message !== 'string' || message.includes('\0')) {
    throw new RingmasterError('UNSAFE_INPUT', 'the deploy request message must be text without NUL bytes', {
      scope: SCOPE,
    });
  }
  const sha = await resolveCommit(git, mirror, options, input.revision);
  const tag = compilePattern(options.deployTags).format(ring, name);
  const ref = `refs/tags/${tag}`;

  await git.run(
    ['-c', 'tag.gpgSign=false', 'tag', '--annotate', '--file=-', '--cleanup=verbatim', tag, sha],
    {
      operation: `creating deploy-request tag ${tag}`,
      gitDir: mirror.dir,
      input: message,
      env: { GIT_COMMITTER_NAME: options.author.name, GIT_COMMITTER_EMAIL: options.author.email },
      hint: 'If the tag already exists, give the request another name.',
    },
  );
  const pushArgs = [
    '-c',
    'remote.origin.mirror=false',
    'push',
    '--quiet',
    '--porcelain',
    'origin',
    `${ref}:${ref}`,
  ];
  const pushed = await git.run(pushArgs, {
    operation: `pushing deploy-request tag ${tag} to ${git.redact(options.url)}`,
    gitDir: mirror.dir,
    allowFailure: true,
    remote: true,
  });
  if (pushed.exitCode !== 0) {
    await git.run(['tag', '--delete', tag], {
      operation: `removing the unpushed tag ${tag}`,
      gitDir: mirror.dir,
      allowFailure: true,
    });
    throw gitError(
      {
        operation: `pushing deploy-request tag ${tag} to ${git.redact(options.url)}`,
        hint: 'Check push rights on the remote, and that no tag of that name exists there.',
      },
      pushArgs,
      pushed,
      git.redact,
    );
  }
  const made = (await readTags(git, mirror, options)).find((r) => r.tag === tag)?.request;
  if (!made) {
    throw new RingmasterError('SOURCE', `tag ${tag} was pushed but cannot be read back as a deploy request`, {
      scope: SCOPE,
    });
  }
  return made;
}
