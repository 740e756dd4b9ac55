/**
 * Reading svn's `--xml` output with a real XML parser. Text is kept exactly (no trimming, no
 * number coercion), and entities are decoded once, so a message such as `&amp;#13;` stays the
 * literal text it was.
 */
import { XMLParser } from 'fast-xml-parser';

/** One changed path of a log entry. */
export interface LogPath {
  path: string;
  action: string;
  kind?: string;
  copyFromPath?: string;
  copyFromRev?: number;
}

/** One `<logentry>` of `svn log --xml -v`. */
export interface LogEntry {
  revision: number;
  author: string;
  /** svn's date as given (microseconds, UTC), or '' when the revision has none. */
  date: string;
  message: string;
  paths: LogPath[];
}

/** One `<entry>` of `svn info --xml`. */
export interface InfoEntry {
  url: string;
  relativeUrl: string;
  root: string;
  revision: number;
  /** The last revision that changed the path at or before `revision`. */
  lastChangedRevision: number;
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  processEntities: true,
  // svn writes `\r` as `&#13;`; numeric references are decoded only with this on.
  htmlEntities: true,
  isArray: (name) => name === 'logentry' || name === 'path' || name === 'entry',
});

type Node = Record<string, unknown>;

function text(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && '#text' in value) return String((value as Node)['#text']);
  return '';
}

function int(value: unknown): number | undefined {
  const s = text(value);
  return /^\d+$/.test(s) ? Number(s) : undefined;
}

function root(xml: string, element: string): Node {
  const doc = parser.parse(xml) as Node;
  const node = doc[element];
  if (node === undefined) throw new Error(`svn output has no <${element}> element`);
  return node && typeof node === 'object' ? (node as Node) : {};
}

/** Parses `svn log --xml [-v]` output, in the order svn gave. */
export function parseLog(xml: string): LogEntry[] {
  const entries = (root(xml, 'log').logentry as Node[] | undefined) ?? [];
  return entries.map((e) => {
    const paths = (((e.paths as Node | undefined)?.path as unknown[] | undefined) ?? []).map((p) => {
      const node = (typeof p === 'object' && p ? p : { '#text': p }) as Node;
      const out: LogPath = { path: text(node), action: text(node.action) };
      if (node.kind !== undefined) out.kind = text(node.kind);
      if (node['copyfrom-path'] !== undefined) out.copyFromPath = text(node['copyfrom-path']);
      const rev = int(node['copyfrom-rev']);
      if (rev !== undefined) out.copyFromRev = rev;
      return out;
    });
    return {
      revision: int(e.revision) ?? 0,
      author: text(e.author),
      date: text(e.date),
      message: text(e.msg),
      paths,
    };
  });
}

/** Parses `svn info --xml` output, one entry per target. */
export function parseInfo(xml: string): InfoEntry[] {
  const entries = (root(xml, 'info').entry as Node[] | undefined) ?? [];
  return entries.map((e) => {
    const repository = (e.repository as Node | undefined) ?? {};
    return {
      url: text(e.url),
      relativeUrl: text(e['relative-url']),
      root: text(repository.root),
      revision: int(e.revision) ?? 0,
      lastChangedRevision: int((e.commit as Node | undefined)?.revision) ?? 0,
    };
  });
}
