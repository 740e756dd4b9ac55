/**
 * The repository's own catalogue: one small JSON record per stored package (its Packages stanza
 * already rendered, its pool path and checksums), so adding a package never rehashes the pool.
 * Records live in `<dir>/.ringmaster/packages/`, which the HTTP server never exposes.
 */
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { compareVersions, versionForFileName } from '../version.js';
import { writeFileAtomic } from './fs-atomic.js';

/** One stored package. */
export interface PackageRecord {
  name: string;
  version: string;
  architecture: string;
  dependencies: string[];
  /** Pool path relative to the repository root (the `Filename:` field). */
  filename: string;
  sha256: string;
  size: number;
  /** The Packages stanza, without the trailing blank line. */
  stanza: string;
}

/** `pool/main/f/foo/foo_1.0_amd64.deb`, with `lib` packages under `libf/` as Debian does. */
export function poolPath(component: string, name: string, version: string, architecture: string): string {
  const initial = name.startsWith('lib') && name.length > 3 ? name.slice(0, 4) : name[0]!;
  return `pool/${component}/${initial}/${name}/${name}_${versionForFileName(version)}_${architecture}.deb`;
}

/** Renders the Packages stanza: the control fields, then Filename, Size and SHA256 before Description. */
export function renderStanza(
  fields: [string, string][],
  filename: string,
  size: number,
  sha256: string,
): string {
  const lines: string[] = [];
  const pool = [`Filename: ${filename}`, `Size: ${size}`, `SHA256: ${sha256}`];
  let placed = false;
  for (const [key, value] of fields) {
    if (key === 'Filename' || key === 'Size' || key === 'SHA256' || key === 'MD5sum' || key === 'SHA1')
      continue;
    if (key === 'Description' && !placed) {
      lines.push(...pool);
      placed = true;
    }
    lines.push(`${key}: ${value}`);
  }
  if (!placed) lines.push(...pool);
  return lines.join('\n');
}

function recordFile(dir: string, name: string, version: string, architecture: string): string {
  return join(dir, `${name}_${version}_${architecture}.json`);
}

/** The catalogue directory's operations. */
export class Catalogue {
  constructor(readonly dir: string) {}

  async all(): Promise<PackageRecord[]> {
    const names = await readdir(this.dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [] as string[];
      throw error;
    });
    const records = await Promise.all(
      names
        .filter((n) => n.endsWith('.json'))
        .map(async (n) => JSON.parse(await readFile(join(this.dir, n), 'utf8')) as PackageRecord),
    );
    return records.sort(
      (a, b) =>
        (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) ||
        compareVersions(a.version, b.version) ||
        (a.architecture < b.architecture ? -1 : a.architecture > b.architecture ? 1 : 0),
    );
  }

  async get(name: string, version: string, architecture: string): Promise<PackageRecord | undefined> {
    try {
      return JSON.parse(
        await readFile(recordFile(this.dir, name, version, architecture), 'utf8'),
      ) as PackageRecord;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async put(record: PackageRecord): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await writeFileAtomic(
      recordFile(this.dir, record.name, record.version, record.architecture),
      JSON.stringify(record),
    );
  }

  async remove(record: PackageRecord): Promise<void> {
    await rm(recordFile(this.dir, record.name, record.version, record.architecture), { force: true });
  }
}
