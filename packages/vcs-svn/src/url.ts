/**
 * Building svn URLs and targets: repository paths are percent-encoded segment by segment, and
 * every target carries an explicit peg revision so an `@` inside a path is never read as one.
 */

/** Encodes one repository path for a URL: `branches/my feature` → `branches/my%20feature`. */
export function encodePath(path: string): string {
  return path
    .split('/')
    .map((segment) => encodeURIComponent(segment).replace(/%3A/gi, ':').replace(/%40/g, '@'))
    .join('/');
}

/** `url` + `path` with a peg revision: `file:///r/trunk@42`, `svn://h/r/trunk@HEAD`. */
export function target(url: string, path: string, peg: string | number = 'HEAD'): string {
  return `${url}/${encodePath(path)}@${peg}`;
}

/** A local path as an svn target: the trailing `@` stops svn reading `a@b` as a peg revision. */
export function localTarget(path: string): string {
  return `${path}@`;
}

/** The repository-absolute form svn's log uses for a path: `/trunk`, `/project/prod/x`. */
export function absolutePath(prefix: string, path: string): string {
  return `${prefix}/${path}`.replace(/\/+/g, '/');
}
