/**
 * Debian version rules, exactly as dpkg applies them (lib/dpkg/version.c and parsehelp.c):
 * `[epoch:]upstream[-revision]`, compared epoch first (numerically), then upstream and revision
 * with dpkg's alternating non-digit/digit algorithm where `~` sorts before everything, even the
 * end of the string, and letters sort before other characters.
 */

/** A parsed Debian version. */
export interface DebianVersion {
  /** The epoch, 0 when absent. */
  epoch: number;
  /** The upstream part (never empty, starts with a digit). */
  upstream: string;
  /** The Debian revision, `''` when absent. */
  revision: string;
}

/** dpkg refuses epochs above INT_MAX. */
const MAX_EPOCH = 2147483647;

/**
 * Why `version` is not a valid Debian version, or undefined when it is. Stricter than dpkg in one
 * way: what dpkg only warns about (an upstream not starting with a digit, a bad character) is
 * refused too, since a package we publish must never trigger either.
 *
 * @example
 * ```ts
 * versionProblem('1.0-1'); // undefined
 * versionProblem('1.0;rm'); // 'invalid character ";" in upstream version'
 * ```
 */
export function versionProblem(version: string): string | undefined {
  if (typeof version !== 'string' || version.length === 0) return 'version is empty';
  if (version.length > 256) return 'version is longer than 256 characters';
  let rest = version;
  const colon = rest.indexOf(':');
  if (colon >= 0) {
    const epoch = rest.slice(0, colon);
    if (epoch.length === 0) return 'epoch in version is empty';
    if (!/^[0-9]+$/.test(epoch)) return 'epoch in version is not a number';
    if (Number(epoch) > MAX_EPOCH) return 'epoch in version is too big';
    rest = rest.slice(colon + 1);
  }
  const hyphen = rest.lastIndexOf('-');
  let upstream = rest;
  if (hyphen >= 0) {
    const revision = rest.slice(hyphen + 1);
    upstream = rest.slice(0, hyphen);
    if (revision.length === 0) return 'revision number is empty';
    const bad = /[^A-Za-z0-9.+~]/.exec(revision);
    if (bad) return `invalid character ${JSON.stringify(bad[0])} in revision number`;
  }
  if (upstream.length === 0) return 'upstream version number is empty';
  if (!/^[0-9]/.test(upstream)) return 'upstream version number does not start with a digit';
  const bad = /[^A-Za-z0-9.+~:-]/.exec(upstream);
  if (bad) return `invalid character ${JSON.stringify(bad[0])} in upstream version`;
  return undefined;
}

/**
 * True when `version` is a valid Debian version (see {@link versionProblem}).
 *
 * @example
 * ```ts
 * isValidVersion('1:2.0~rc1-3'); // true
 * isValidVersion('$(reboot)'); // false
 * ```
 */
export function isValidVersion(version: string): boolean {
  return versionProblem(version) === undefined;
}

/**
 * Splits a version into epoch, upstream and revision. Throws a plain `Error` naming the rule
 * when it is invalid (callers wrap it into the error their context needs).
 *
 * @example
 * ```ts
 * parseVersion('2:1.0-3'); // { epoch: 2, upstream: '1.0', revision: '3' }
 * ```
 */
export function parseVersion(version: string): DebianVersion {
  const problem = versionProblem(version);
  if (problem) throw new Error(`${JSON.stringify(version)}: ${problem}`);
  let rest = version;
  let epoch = 0;
  const colon = rest.indexOf(':');
  if (colon >= 0) {
    epoch = Number(rest.slice(0, colon));
    rest = rest.slice(colon + 1);
  }
  const hyphen = rest.lastIndexOf('-');
  if (hyphen < 0) return { epoch, upstream: rest, revision: '' };
  return { epoch, upstream: rest.slice(0, hyphen), revision: rest.slice(hyphen + 1) };
}

const CODE_0 = 48;
const CODE_9 = 57;
const TILDE = 126;

function isDigit(code: number): boolean {
  return code >= CODE_0 && code <= CODE_9;
}

function isAlpha(code: number): boolean {
  return (code >= 65 && code <= 90) || (code >= 97 && code <= 122);
}

/** dpkg's `order()`: digits 0, letters themselves, `~` -1, other characters after letters, end 0. */
function order(code: number): number {
  if (Number.isNaN(code) || isDigit(code)) return 0;
  if (isAlpha(code)) return code;
  if (code === TILDE) return -1;
  return code + 256;
}

/** dpkg's `verrevcmp()` on one part (upstream or revision). */
function compareParts(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    let firstDiff = 0;
    while ((i < a.length && !isDigit(a.charCodeAt(i))) || (j < b.length && !isDigit(b.charCodeAt(j)))) {
      const ac = order(a.charCodeAt(i));
      const bc = order(b.charCodeAt(j));
      if (ac !== bc) return ac - bc;
      i++;
      j++;
    }
    while (a.charCodeAt(i) === CODE_0) i++;
    while (b.charCodeAt(j) === CODE_0) j++;
    while (isDigit(a.charCodeAt(i)) && isDigit(b.charCodeAt(j))) {
      if (!firstDiff) firstDiff = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (isDigit(a.charCodeAt(i))) return 1;
    if (isDigit(b.charCodeAt(j))) return -1;
    if (firstDiff) return firstDiff;
  }
  return 0;
}

/**
 * Orders two Debian versions as `dpkg --compare-versions` does: negative when `a` sorts before
 * `b`, 0 when equal (`1.0` equals `0:1.0` and `1.00`), positive otherwise. Throws on an invalid
 * version.
 *
 * @example
 * ```ts
 * compareVersions('1.0~rc1', '1.0') < 0; // true: ~ sorts before the end
 * ['1.10', '1:0.1', '1.9'].sort(compareVersions); // ['1.9', '1.10', '1:0.1']
 * ```
 */
export function compareVersions(a: string, b: string): number {
  const va = parseVersion(a);
  const vb = parseVersion(b);
  if (va.epoch !== vb.epoch) return va.epoch > vb.epoch ? 1 : -1;
  const upstream = compareParts(va.upstream, vb.upstream);
  if (upstream !== 0) return Math.sign(upstream);
  return Math.sign(compareParts(va.revision, vb.revision));
}

/**
 * The file-name form of a version: dpkg and the archive tools drop the epoch from `.deb` file
 * names (`foo_1.0-1_amd64.deb` for `2:1.0-1`).
 *
 * @example
 * ```ts
 * versionForFileName('2:1.0-1'); // '1.0-1'
 * ```
 */
export function versionForFileName(version: string): string {
  const colon = version.indexOf(':');
  return colon >= 0 ? version.slice(colon + 1) : version;
}
