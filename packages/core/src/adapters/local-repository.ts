/**
 * The reference Repository: artifacts stored as files in a directory, one folder per package
 * with an `index.json`, written atomically (temp file + rename).
 */
import { copyFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { z } from 'zod';
import type { Artifact, Repository } from '../contracts/artifact.js';
import { parseOptions, RingmasterError } from '../errors.js';
import { assertMatches, PACKAGE_NAME, PACKAGE_VERSION } from '../exec/quote.js';
import { compareDotted, sha256File } from './tarball.js';

export const localRepositoryOptionsSchema = z
  .object({
    dir: z.string().min(1),
    /** Orders versions. @default numeric dotted comparison */
    compareVersions: z.custom<(a: string, b: string) => number>((v) => typeof v === 'function').optional(),
  })
  .strict();
export type LocalRepositoryOptions = z.input<typeof localRepositoryOptionsSchema>;

/**
 * A repository in a local directory.
 *
 * @example
 * ```ts
 * localRepository({ dir: '.ringmaster/repo' })
 * ```
 */
export function localRepository(options: LocalRepositoryOptions): Repository {
  const opts = parseOptions(localRepositoryOptionsSchema, options, 'local-repository', 'localRepository');
  const compare = opts.compareVersions ?? compareDotted;
  const indexPath = (name: string) =>
    join(opts.dir, assertMatches(name, PACKAGE_NAME, 'package name', 'local-repository'), 'index.json');

  const readIndex = async (name: string): Promise<Record<string, Artifact>> => {
    try {
      return JSON.parse(await readFile(indexPath(name), 'utf8')) as Record<string, Artifact>;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw error;
    }
  };

  return {
    name: 'local',
    async publish(artifact) {
      assertMatches(artifact.version, PACKAGE_VERSION, 'version', 'local-repository');
      const index = await readIndex(artifact.name);
      const existing = index[artifact.version];
      if (existing) {
        if (existing.sha256 === artifact.sha256) return existing;
        throw new RingmasterError(
          'REPOSITORY',
          `${artifact.name} ${artifact.version} is already published with different bytes (sha256 ${existing.sha256}); publish a new version instead`,
          { scope: 'local-repository' },
        );
      }
      if ((await sha256File(artifact.file)) !== artifact.sha256) {
        throw new RingmasterError('REPOSITORY', `${artifact.file} does not match its sha256`, {
          scope: 'local-repository',
        });
      }
      const folder = join(opts.dir, artifact.name);
      await mkdir(folder, { recursive: true });
      const file = join(folder, basename(artifact.file));
      await copyFile(artifact.file, `${file}.tmp`);
      await rename(`${file}.tmp`, file);
      const stored = { ...artifact, file };
      index[artifact.version] = stored;
      await writeFile(`${indexPath(artifact.name)}.tmp`, JSON.stringify(index, null, 2));
      await rename(`${indexPath(artifact.name)}.tmp`, indexPath(artifact.name));
      return stored;
    },
    async versions(name) {
      return Object.keys(await readIndex(name)).sort(compare);
    },
    async find(name, version) {
      return (await readIndex(name))[version];
    },
  };
}
