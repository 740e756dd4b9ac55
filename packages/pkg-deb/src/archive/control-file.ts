/**
 * A binary package's control file, parsed as strictly as dpkg parses it (deb822(5), dpkg's
 * parsedb): one paragraph, every field name once (names are case-insensitive), field names of
 * printable US-ASCII without a colon that do not start with `#` or `-`, continuation lines
 * starting with a space or a tab, no control characters, valid UTF-8. Anything dpkg would refuse
 * is refused here, so the repository can never validate one value while apt reads another.
 */

/** Fields the repository computes itself: an uploaded package may not claim them. */
const COMPUTED = ['Filename', 'Size', 'MD5sum', 'SHA1', 'SHA256', 'SHA512'];

/** A field name: printable US-ASCII but the colon and space, not starting with `#` or `-`. */
const FIELD_NAME = /^[!-"$-,.-9;-~][!-9;-~]*$/;

export class ControlFileError extends Error {}

/** The first control character of a line (a tab is allowed: it starts continuation lines). */
function controlCharacter(line: string): string | undefined {
  for (const ch of line) {
    const code = ch.charCodeAt(0);
    if ((code < 0x20 && ch !== '\t') || code === 0x7f) return ch;
  }
  return undefined;
}

/**
 * Parses the control file into its fields, in file order, names as written, continuation lines
 * kept with their newline. Throws a ControlFileError naming the line and what is wrong.
 */
export function parseControlFile(bytes: Buffer | string): [string, string][] {
  let text: string;
  try {
    text = typeof bytes === 'string' ? bytes : new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ControlFileError('the control file is not valid UTF-8');
  }
  const fields: [string, string][] = [];
  const seen = new Map<string, string>();
  const lines = text.split('\n');
  // A file ending with a newline splits into a last empty string: not a line of its own.
  if (lines.at(-1) === '') lines.pop();
  let ended = false;
  for (const [i, line] of lines.entries()) {
    const at = `line ${i + 1}`;
    const control = controlCharacter(line);
    if (control !== undefined)
      throw new ControlFileError(`${at}: control character ${JSON.stringify(control)}`);
    if (line.trim() === '') {
      // A blank line ends the paragraph; only more blank lines may follow it.
      if (fields.length > 0) ended = true;
      continue;
    }
    if (ended) {
      throw new ControlFileError(
        `${at}: a second paragraph; a binary package's control file holds exactly one (dpkg refuses several)`,
      );
    }
    if (line.startsWith(' ') || line.startsWith('\t')) {
      const last = fields.at(-1);
      if (!last) throw new ControlFileError(`${at}: a continuation line before any field`);
      last[1] += `\n${line}`;
      continue;
    }
    const colon = line.indexOf(':');
    const name = colon === -1 ? line : line.slice(0, colon);
    if (colon <= 0 || !FIELD_NAME.test(name)) {
      throw new ControlFileError(
        `${at}: ${JSON.stringify(line.slice(0, 60))} is not a field (a name of printable characters, a colon, a value)`,
      );
    }
    const key = name.toLowerCase();
    if (seen.has(key)) {
      throw new ControlFileError(
        `${at}: field ${name} appears twice (first as ${seen.get(key)}); dpkg refuses duplicates`,
      );
    }
    if (COMPUTED.some((c) => c.toLowerCase() === key)) {
      throw new ControlFileError(
        `${at}: field ${name} is computed by the repository and may not be set by the package`,
      );
    }
    seen.set(key, name);
    fields.push([name, line.slice(colon + 1).trim()]);
  }
  if (fields.length === 0) throw new ControlFileError('the control file is empty');
  return fields;
}

/** The value of a field, by its case-insensitive name. */
export function fieldOf(fields: readonly [string, string][], name: string): string | undefined {
  const key = name.toLowerCase();
  return fields.find(([k]) => k.toLowerCase() === key)?.[1];
}
