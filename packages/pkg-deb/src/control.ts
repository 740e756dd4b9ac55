/**
 * The control file: validators for the fields a user writes (package name, relationships,
 * maintainer, architecture) and the renderer of the `control` file dpkg reads.
 */
import { versionProblem } from './version.js';

/**
 * Debian policy 5.6.1: lowercase letters, digits, `+ - .`, at least two characters, alphanumeric first.
 * @example
 * ```ts
 * DEBIAN_PACKAGE_NAME.test('foostat'); // true
 * DEBIAN_PACKAGE_NAME.test('Foo_Stat'); // false
 * ```
 */
export const DEBIAN_PACKAGE_NAME = /^[a-z0-9][a-z0-9+.-]+$/;
/** An architecture name as dpkg-architecture spells them (`all`, `amd64`, `arm64`, …). */
export const DEBIAN_ARCHITECTURE = /^[a-z0-9][a-z0-9-]*$/;
/** `Name <address>` on one line. */
export const MAINTAINER = /^[^<>\n\r,]*[^<>\n\r, ] <[^<>\s@]+@[^<>\s]+>$/;

const RELATION_OPERATORS = ['<<', '<=', '=', '>=', '>>'];

/**
 * Why `name` is not a valid package name, or undefined.
 *
 * @example
 * ```ts
 * packageNameProblem('My_App'); // 'must be lowercase …'
 * ```
 */
export function packageNameProblem(name: string): string | undefined {
  if (DEBIAN_PACKAGE_NAME.test(name)) return undefined;
  return `package name ${JSON.stringify(name)} is invalid: Debian package names are at least two characters of lowercase letters, digits, "+", "-" and ".", starting with a letter or digit (no uppercase, no "_")`;
}

/**
 * One alternative of a relationship entry, as written: `name[:arch] [(op version)] [[archs]]`.
 * The operator is kept as written (validated: one of `<< <= = >= >>`).
 */
export interface RelationAlternative {
  name: string;
  /** The architecture qualifier after `:` (`any`, `native`, `amd64`), when present. */
  arch?: string;
  operator?: string;
  version?: string;
  /**
   * The architecture restriction (`amd64 !i386` of `[amd64 !i386]`), when present. Source-package
   * syntax: {@link relationProblem} tolerates it for its existing callers, the relation checker
   * refuses it.
   */
  restriction?: string;
}

// name, :arch, (op version), [restriction], <profiles>…: each part optional after the name.
const ALTERNATIVE =
  /^([a-z0-9][a-z0-9+.-]+)(?::([a-z0-9][a-z0-9-]*))?(?:\s*\(\s*(<<|<=|=|>=|>>|<|>)\s*([^\s()]+)\s*\))?(?:\s*\[([^[\]]*)\])?((?:\s*<[^<>]*>)*)$/;
const RESTRICTION = /^\s*!?[a-z0-9][a-z0-9-]*(?:\s+!?[a-z0-9][a-z0-9-]*)*\s*$/;

/** dpkg reads the obsolete `<` as `<=` and `>` as `>=` (with a warning); we refuse them. */
const OBSOLETE_OPERATOR: Record<string, string> = {
  '<': 'operator "<" is obsolete (dpkg reads it as "<="): write "<<" for strictly earlier or "<=" for earlier or equal',
  '>': 'operator ">" is obsolete (dpkg reads it as ">="): write ">>" for strictly later or ">=" for later or equal',
};

function parseAlternative(text: string): RelationAlternative | string {
  const trimmed = text.trim();
  const m = ALTERNATIVE.exec(trimmed);
  if (!m || (m[5] !== undefined && !RESTRICTION.test(m[5]))) {
    return `${JSON.stringify(trimmed)} is not "name", "name (op version)" or "name:arch (op version) [archs]"`;
  }
  const [, name, arch, operator, version, restriction, profiles] = m;
  if (profiles) {
    return `build profiles (${JSON.stringify(profiles.trim())}) are source-package syntax (Build-Depends); a binary package's relations cannot have them`;
  }
  if (operator && !RELATION_OPERATORS.includes(operator)) {
    return (
      OBSOLETE_OPERATOR[operator] ?? `operator "${operator}" is not one of ${RELATION_OPERATORS.join(' ')}`
    );
  }
  if (version !== undefined) {
    const problem = versionProblem(version);
    if (problem) return `version ${JSON.stringify(version)}: ${problem}`;
  }
  const alternative: RelationAlternative = { name: name! };
  if (arch) alternative.arch = arch;
  if (operator) {
    alternative.operator = operator;
    alternative.version = version;
  }
  if (restriction !== undefined) alternative.restriction = restriction.trim();
  return alternative;
}

/** Which relationship fields accept alternatives (`a | b`) and version operators. */
export type RelationKind = 'depends' | 'provides' | 'conflicts';

/**
 * Parses one relationship entry (one comma-separated item of `Depends:`) into its alternatives,
 * or says why it is malformed. `kind` applies the field's extra rules: no `|` in
 * Provides/Conflicts/Replaces, only `=` in Provides.
 *
 * @example
 * ```ts
 * parseRelationEntry('bar:any (>= 2.0) | baz', 'depends');
 * // [{ name: 'bar', arch: 'any', operator: '>=', version: '2.0' }, { name: 'baz' }]
 * ```
 */
export function parseRelationEntry(entry: string, kind: RelationKind): RelationAlternative[] | string {
  if (/[\n\r,]/.test(entry)) return 'one entry per array item: no commas or newlines';
  const texts = entry.split('|');
  if (texts.length > 1 && kind !== 'depends')
    return 'alternatives ("|") are only allowed in Depends-like fields';
  const alternatives: RelationAlternative[] = [];
  for (const text of texts) {
    const parsed = parseAlternative(text);
    if (typeof parsed === 'string') return parsed;
    if (kind === 'provides' && parsed.operator && parsed.operator !== '=') {
      return 'Provides only accepts "(= version)"';
    }
    alternatives.push(parsed);
  }
  return alternatives;
}

/**
 * Why one relationship entry (one comma-separated item of `Depends:`) is malformed, or
 * undefined. `kind` applies the field's extra rules: no `|` in Provides/Conflicts/Replaces,
 * only `=` in Provides.
 *
 * @example
 * ```ts
 * relationProblem('libc6 (>= 2.36) | libc6-compat', 'depends'); // undefined
 * relationProblem('libc6 (>= 2.36', 'depends'); // '"libc6 (>= 2.36" is not …'
 * ```
 */
export function relationProblem(entry: string, kind: RelationKind): string | undefined {
  const parsed = parseRelationEntry(entry, kind);
  return typeof parsed === 'string' ? parsed : undefined;
}

/** Fields of the binary control file, already validated. */
export interface ControlFields {
  package: string;
  version: string;
  architecture: string;
  maintainer: string;
  description: string;
  installedSize: number;
  section?: string;
  priority?: string;
  homepage?: string;
  preDepends?: readonly string[];
  depends?: readonly string[];
  recommends?: readonly string[];
  suggests?: readonly string[];
  conflicts?: readonly string[];
  breaks?: readonly string[];
  provides?: readonly string[];
  replaces?: readonly string[];
}

/**
 * Formats a description as control-file continuation lines: the first line is the synopsis, the
 * rest the extended description with each line indented and empty lines written as ` .`.
 */
export function formatDescription(description: string): string {
  const [synopsis = '', ...rest] = description.replace(/\r\n?/g, '\n').trimEnd().split('\n');
  const extended = rest.map((line) => (line.trim() === '' ? ' .' : ` ${line.trimEnd()}`));
  return [synopsis.trim(), ...extended].join('\n');
}

/**
 * Renders the control file, fields in dpkg's usual order, ending with a newline.
 *
 * @example
 * ```ts
 * renderControl({ package: 'app', version: '1.0', architecture: 'all', maintainer: 'A <a@b.c>', description: 'An app', installedSize: 4 });
 * ```
 */
export function renderControl(fields: ControlFields): string {
  const lines: string[] = [
    `Package: ${fields.package}`,
    `Version: ${fields.version}`,
    `Architecture: ${fields.architecture}`,
    `Maintainer: ${fields.maintainer}`,
    `Installed-Size: ${fields.installedSize}`,
  ];
  const relation = (name: string, values?: readonly string[]) => {
    if (values && values.length > 0) lines.push(`${name}: ${values.map((v) => v.trim()).join(', ')}`);
  };
  relation('Pre-Depends', fields.preDepends);
  relation('Depends', fields.depends);
  relation('Recommends', fields.recommends);
  relation('Suggests', fields.suggests);
  relation('Breaks', fields.breaks);
  relation('Conflicts', fields.conflicts);
  relation('Replaces', fields.replaces);
  relation('Provides', fields.provides);
  if (fields.section) lines.push(`Section: ${fields.section}`);
  if (fields.priority) lines.push(`Priority: ${fields.priority}`);
  if (fields.homepage) lines.push(`Homepage: ${fields.homepage}`);
  lines.push(`Description: ${formatDescription(fields.description)}`);
  return `${lines.join('\n')}\n`;
}
