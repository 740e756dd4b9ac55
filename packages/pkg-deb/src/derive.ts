/**
 * Version derivation: the Debian version a packager gives a revision. The default sorts in commit
 * order for both svn and git: `0.0.<number>` when the source numbers its revisions (svn revision,
 * git commit count), else `0.0.0+<UTC yyyymmddhhmmss>.<short id>`.
 */
import type { Revision } from '@ringmaster/core/adapter';
import { RingmasterError } from '@ringmaster/core/adapter';
import { versionProblem } from './version.js';

/** A version scheme: a template string or a function of the revision. */
export type VersionScheme = string | ((revision: Revision) => string);

/**
 * The default template when the revision has a number.
 * @example
 * ```ts
 * deriveVersion({ ...rev, number: 42 }); // '0.0.42'
 * ```
 */
export const NUMBERED_TEMPLATE = '0.0.{number}';
/**
 * The default template otherwise.
 * @example
 * ```ts
 * deriveVersion({ ...rev, number: undefined, id: 'abcdef123', time: '2026-11-28T05:13:00Z' });
 * // '0.0.0+20261128051300.abcdef1'
 * ```
 */
export const TIMESTAMPED_TEMPLATE = '0.0.0+{timestamp}.{shortid}';

/**
 * `2026-11-28T05:13:00Z` → `20261128051300`, always UTC, so it sorts as a number.
 * @example
 * ```ts
 * utcStamp('2026-11-28T07:13:00+02:00'); // '20261128051300'
 * ```
 */
export function utcStamp(time: string): string {
  const date = new Date(time);
  if (Number.isNaN(date.getTime())) {
    throw new RingmasterError('PACKAGE', `revision time ${JSON.stringify(time)} is not a date`, {
      scope: 'pkg-deb',
    });
  }
  return date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

/** The first 7 characters of the id, reduced to what a version may hold. */
function shortId(id: string): string {
  return id
    .replace(/[^A-Za-z0-9]/g, '')
    .slice(0, 7)
    .toLowerCase();
}

/**
 * Expands a template: `{number}`, `{timestamp}` (UTC yyyymmddhhmmss), `{shortid}` (7 characters
 * of the id, alphanumeric), `{id}` (the id reduced to alphanumerics).
 */
function expand(template: string, revision: Revision): string {
  return template.replace(/\{(number|timestamp|shortid|id)\}/g, (_, key: string) => {
    switch (key) {
      case 'number':
        if (revision.number === undefined) {
          throw new RingmasterError(
            'PACKAGE',
            `version template ${JSON.stringify(template)} uses {number} but revision ${revision.id} has no number; use {timestamp} or a function`,
            { scope: 'pkg-deb' },
          );
        }
        return String(revision.number);
      case 'timestamp':
        return utcStamp(revision.time);
      case 'shortid':
        return shortId(revision.id);
      default:
        return revision.id.replace(/[^A-Za-z0-9]/g, '');
    }
  });
}

/**
 * The version of `revision` under `scheme` (default: numbered or timestamped, see the module
 * header). Throws `PACKAGE` if the result is not a valid Debian version.
 *
 * @example
 * ```ts
 * deriveVersion({ id: '1234', number: 1234, line: 'trunk', author: 'a', message: '', time: '2026-01-01T00:00:00Z' });
 * // '0.0.1234'
 * deriveVersion(rev, '1.2.{number}'); // '1.2.1234'
 * ```
 */
export function deriveVersion(revision: Revision, scheme?: VersionScheme): string {
  let version: string;
  if (typeof scheme === 'function') version = scheme(revision);
  else if (typeof scheme === 'string') version = expand(scheme, revision);
  else version = expand(revision.number !== undefined ? NUMBERED_TEMPLATE : TIMESTAMPED_TEMPLATE, revision);
  const problem = versionProblem(version);
  if (problem) {
    throw new RingmasterError(
      'PACKAGE',
      `the version derived for revision ${revision.id} is ${JSON.stringify(version)}: ${problem}; fix the "version" option`,
      { scope: 'pkg-deb', details: { version, revision: revision.id } },
    );
  }
  return version;
}
