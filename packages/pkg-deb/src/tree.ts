/**
 * Reads a build tree into the sorted list of entries a .deb's data.tar holds, refusing what must
 * never reach a package: device files, FIFOs and sockets, names with control characters, and
 * symlinks that point outside the package (absolute into the builder's filesystem, or `..`
 * escaping the tree).
 */
import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { lstat, realpath } from 'node:fs/promises';
import { posix } from 'node:path';
import { RingmasterError } from '@ringmaster/core/adapter';
import { hasControlCharacter } from './text.js';

/** One entry of the package's file tree. */
export interface TreeEntry {
  /** Installed path without a leading slash: `opt/app/bin/run`; directories too (`opt/app`). */
  path: string;
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  size: number;
  /** The file on the builder's disk (regular files only). */
  source?: string;
  linkname?: string;
}

/** Entries read between two turns of the event loop. */
const BATCH = 512;

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Sorts entries bytewise by their UTF-8 path, as dpkg-deb does. JavaScript's string order is
 * UTF-16's, which differs from UTF-8's only between a surrogate (U+D800–DFFF) and U+E000–FFFF:
 * paths without either compare as strings, the others by their bytes.
 */
function sortByBytes(entries: TreeEntry[]): TreeEntry[] {
  if (entries.every((e) => !/[\ud800-\uffff]/.test(e.path))) {
    return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }
  const keys = new Map(entries.map((e) => [e, Buffer.from(e.path, 'utf8')]));
  return entries.sort((a, b) => Buffer.compare(keys.get(a)!, keys.get(b)!));
}

function refuse(message: string, path: string): never {
  throw new RingmasterError('PACKAGE', message, { scope: 'pkg-deb', details: { path } });
}

/** Modes as packages want them, independent of the builder's umask. */
function normalMode(type: TreeEntry['type'], mode: number): number {
  if (type === 'dir') return 0o755;
  if (type === 'symlink') return 0o777;
  return mode & 0o111 ? 0o755 : 0o644;
}

export interface WalkOptions {
  /** Install location of the tree's root, without leading or trailing slash (`''` for `/`). */
  prefix: string;
  /** Keep the builder's permission bits instead of 0755/0644. */
  keepModes: boolean;
}

/**
 * Walks `dir` and returns every entry, parents before children, sorted bytewise by path as
 * dpkg-deb does. The prefix's own directories are included.
 */
export async function walkTree(dir: string, options: WalkOptions): Promise<TreeEntry[]> {
  let root: string;
  try {
    root = await realpath(dir);
    if (!(await lstat(root)).isDirectory()) refuse(`build directory ${dir} is not a directory`, dir);
  } catch (error) {
    if (error instanceof RingmasterError) throw error;
    refuse(`cannot read build directory ${dir}: ${(error as Error).message}`, dir);
  }
  const entries: TreeEntry[] = [];
  const prefixParts = options.prefix ? options.prefix.split('/') : [];
  for (let i = 1; i <= prefixParts.length; i++) {
    entries.push({ path: prefixParts.slice(0, i).join('/'), type: 'dir', mode: 0o755, size: 0 });
  }
  const install = (rel: string) =>
    options.prefix ? (rel ? `${options.prefix}/${rel}` : options.prefix) : rel;
  const links: TreeEntry[] = [];

  // Depth-first over real directories only (symlinks are never followed), so the walk ends with the
  // tree. Synchronous calls in batches: a build tree was just written and its inodes are cached, so
  // an lstat costs microseconds, far less than a round trip through the thread pool; the event loop
  // gets a turn after every batch.
  const pending = [''];
  let sinceTurn = 0;
  while (pending.length > 0) {
    const rel = pending.pop()!;
    const abs = rel ? `${root === '/' ? '' : root}/${rel}` : root;
    const names = readdirSync(abs);
    for (const name of names) {
      const childRel = rel ? `${rel}/${name}` : name;
      if (hasControlCharacter(name)) {
        refuse(
          `build tree path ${JSON.stringify(childRel)} contains a newline or control character`,
          childRel,
        );
      }
    }
    for (const name of names) {
      const childRel = rel ? `${rel}/${name}` : name;
      const source = `${abs === '/' ? '' : abs}/${name}`;
      const stat = lstatSync(source);
      const path = install(childRel);
      const keep = (type: TreeEntry['type']) =>
        options.keepModes ? stat.mode & 0o7777 : normalMode(type, stat.mode);
      if (stat.isDirectory()) {
        entries.push({ path, type: 'dir', mode: keep('dir'), size: 0 });
        pending.push(childRel);
      } else if (stat.isFile()) {
        entries.push({ path, type: 'file', mode: keep('file'), size: stat.size, source });
      } else if (stat.isSymbolicLink()) {
        const target = readlinkSync(source);
        if (hasControlCharacter(target)) {
          refuse(`symlink ${childRel} has a target with a newline or control character`, childRel);
        }
        if (!target.startsWith('/')) {
          const resolved = posix.normalize(posix.join(posix.dirname(childRel), target));
          if (resolved === '..' || resolved.startsWith('../')) {
            refuse(
              `symlink ${childRel} -> ${target} escapes the build tree; point it inside the package`,
              childRel,
            );
          }
        }
        const entry: TreeEntry = { path, type: 'symlink', mode: 0o777, size: 0, linkname: target };
        entries.push(entry);
        links.push(entry);
      } else {
        const kind = stat.isFIFO()
          ? 'a FIFO'
          : stat.isSocket()
            ? 'a socket'
            : stat.isCharacterDevice() || stat.isBlockDevice()
              ? 'a device file'
              : 'not a regular file';
        refuse(
          `build tree path ${childRel} is ${kind}; packages hold only files, directories and symlinks`,
          childRel,
        );
      }
    }
    sinceTurn += names.length + 1;
    if (sinceTurn >= BATCH) {
      sinceTurn = 0;
      await turn();
    }
  }

  // An absolute target must name something this package ships, or it points into the builder's disk.
  const shipped = new Set(entries.map((e) => `/${e.path}`));
  for (const link of links) {
    const target = link.linkname!;
    const resolved = posix.normalize(target).replace(/\/$/, '');
    if (target.startsWith('/') && (resolved === `/${link.path}` || !shipped.has(resolved))) {
      refuse(
        `symlink /${link.path} -> ${target} points outside the package; use a relative target or ship ${target}`,
        link.path,
      );
    }
  }
  return sortByBytes(entries);
}
