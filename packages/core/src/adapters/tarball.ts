/**
 * The reference Packager: a reproducible `.tar.gz` of the build tree, made by GNU tar with
 * sorted names, fixed owners and a fixed mtime. Versions come from the revision number.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { z } from 'zod';
import type { Artifact, Packager } from '../contracts/artifact.js';
import type { Revision } from '../contracts/source.js';
import { parseOptions, RingmasterError } from '../errors.js';
import { assertMatches, PACKAGE_NAME, PACKAGE_VERSION } from '../exec/quote.js';
import { runCommand, tail } from '../exec/run.js';

export const tarballOptionsSchema = z
  .object({
    /** Package name (Debian rules: lowercase, digits, `+ - .`). */
    name: z.string().regex(PACKAGE_NAME, 'expected a lowercase package name such as "foostat"'),
    /** Version for a revision. @default `1.0.<revision number>` */
    version: z
      .custom<(revision: Revision) => string>((v) => typeof v === 'function', 'expected a function')
      .optional(),
  })
  .strict();
export type TarballOptions = z.input<typeof tarballOptionsSchema>;

/** Compares dotted versions numerically segment by segment (`1.0.10` > `1.0.9`). */
export function compareDotted(a: string, b: string): number {
  const pa = a.split(/[.+~-]/);
  const pb = b.split(/[.+~-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '';
    const y = pb[i] ?? '';
    const nx = /^\d+$/.test(x) ? Number(x) : Number.NaN;
    const ny = /^\d+$/.test(y) ? Number(y) : Number.NaN;
    if (!Number.isNaN(nx) && !Number.isNaN(ny)) {
      if (nx !== ny) return nx - ny;
    } else if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * A `.tar.gz` packager for the local target.
 *
 * @example
 * ```ts
 * tarball({ name: 'foostat' })
 * ```
 */
export function tarball(options: TarballOptions): Packager {
  const opts = parseOptions(tarballOptionsSchema, options, 'tarball', 'tarball');
  const versionFor = (revision: Revision) => {
    const version = opts.version
      ? opts.version(revision)
      : `1.0.${revision.number ?? Math.floor(Date.parse(revision.time) / 1000)}`;
    return assertMatches(version, PACKAGE_VERSION, 'version', 'tarball');
  };
  return {
    name: 'tarball',
    packageName: opts.name,
    versionFor,
    compareVersions: compareDotted,
    async package({ dir, revision, outDir }): Promise<Artifact> {
      const version = versionFor(revision);
      await mkdir(outDir, { recursive: true });
      const file = join(outDir, `${opts.name}_${version}.tar.gz`);
      const mtime = Math.floor(Date.parse(revision.time) / 1000) || 0;
      const plain = `${file}.tar.tmp`;
      const result = await runCommand(
        [
          'tar',
          '--sort=name',
          `--mtime=@${mtime}`,
          '--owner=0',
          '--group=0',
          '--numeric-owner',
          '--format=gnu',
          '-cf',
          plain,
          '-C',
          dir,
          '.',
        ],
        { timeoutMs: 600_000 },
      );
      if (result.exitCode !== 0) {
        await rm(plain, { force: true });
        throw new RingmasterError('PACKAGE', `tar failed for ${dir}: ${tail(result.stderr, 5)}`, {
          scope: 'tarball',
        });
      }
      // node:zlib writes no name and a zero mtime in the gzip header: the bytes depend on the tree only.
      await pipeline(createReadStream(plain), createGzip({ level: 6 }), createWriteStream(file));
      await rm(plain, { force: true });
      return {
        name: opts.name,
        version,
        architecture: 'all',
        dependencies: [],
        file,
        sha256: await sha256File(file),
        size: (await stat(file)).size,
        format: 'tar',
      };
    },
  };
}
