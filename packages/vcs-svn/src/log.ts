/**
 * `head()` and `log(since)`: each one `svn log --xml -v` request on the watched line, so a poll
 * of a 10,000-revision repository with one new commit reads one small log, not the history.
 */
import { type Revision, RingmasterError } from '@ringmaster/core/adapter';
import { SCOPE, type SvnClient } from './client.js';
import { revisionNumber, toRevision } from './revision.js';
import { target } from './url.js';
import { type LogEntry, parseLog } from './xml.js';

/** Parses `svn log --xml` output, naming `operation` if it cannot be read. */
export function parseLogOutput(operation: string, xml: string): LogEntry[] {
  try {
    return parseLog(xml);
  } catch (error) {
    throw new RingmasterError('SOURCE', `${operation}: cannot read svn's XML output (${String(error)})`, {
      scope: SCOPE,
      cause: error,
    });
  }
}

/** Runs `svn log --xml -v` and parses it, naming `operation` in any error. */
async function readLog(client: SvnClient, operation: string, args: string[]): Promise<LogEntry[]> {
  const { stdout } = await client.run(operation, ['log', '--xml', '-v', ...args]);
  return parseLogOutput(operation, stdout);
}

/** The newest revision that changed `line`. */
export async function head(client: SvnClient, line: string): Promise<Revision> {
  const operation = `head of ${client.url}/${line}`;
  const [entry] = await readLog(client, operation, ['-l', '1', target(client.url, line)]);
  if (!entry) {
    throw new RingmasterError('SOURCE', `${operation}: the line has no revisions`, { scope: SCOPE });
  }
  return toRevision(entry, line);
}

/**
 * Revisions of `line` after `since`, oldest first. The range starts at `since` itself (not
 * `since + 1`) so a poll at the head is an empty answer rather than svn's "No such revision";
 * the entry for `since`, when it is there, is dropped.
 */
export async function log(client: SvnClient, line: string, since?: string): Promise<Revision[]> {
  if (since === undefined) return [await head(client, line)];
  const operation = `log of ${client.url}/${line} since r${since}`;
  const from = revisionNumber(since, operation);
  const outcome = await client.tryRun(['log', '--xml', '-v', '-r', `${from}:HEAD`, target(client.url, line)]);
  if (!outcome.ok) {
    if (outcome.codes.includes('E160006')) {
      throw new RingmasterError(
        'CURSOR_LOST',
        `${operation}: r${from} is newer than the repository's youngest revision; the repository was replaced or reloaded, so reset the cursor to head()`,
        { scope: SCOPE, details: { since } },
      );
    }
    throw client.error(operation, outcome);
  }
  return parseLogOutput(operation, outcome.result.stdout)
    .filter((e) => e.revision > from)
    .map((e) => toRevision(e, line));
}
