/**
 * `deb(options)`: the Packager that turns a build directory into a reproducible .deb. Options are
 * validated here, once; nothing is read or written until `package()` is called.
 */
import { join } from 'node:path';
import type {
  Artifact,
  ArtifactRelations,
  PackageInput,
  Packager,
  RelationCheck,
  RelationProblem,
  Revision,
} from '@ringmaster/core/adapter';
import { parseOptions, RingmasterError, toRingmasterError } from '@ringmaster/core/adapter';
import { findCompressor } from './archive/compress.js';
import { buildDeb } from './build.js';
import { deriveVersion } from './derive.js';
import { type DebOptions, debOptionsSchema, type ResolvedDebOptions, resolvedLevel } from './options.js';
import { relationProblems } from './relations.js';
import { walkTree } from './tree.js';
import { compareVersions, versionForFileName } from './version.js';

const SCOPE = 'pkg-deb';

/** The Packager `deb()` returns, with the resolved options for inspection. */
export interface DebPackager extends Packager {
  readonly name: 'deb';
  readonly options: Readonly<ResolvedDebOptions>;
  /** Checks relations with dpkg's rules: see `relationProblems()`. */
  relationProblems(check: RelationCheck): RelationProblem[];
}

/** The Artifact's relations: the relation fields of the options that have entries. */
function artifactRelations(options: ResolvedDebOptions): ArtifactRelations {
  const relations: ArtifactRelations = {};
  if (options.preDepends.length > 0) relations.preDepends = [...options.preDepends];
  if (options.depends.length > 0) relations.depends = [...options.depends];
  if (options.breaks.length > 0) relations.breaks = [...options.breaks];
  if (options.conflicts.length > 0) relations.conflicts = [...options.conflicts];
  if (options.provides.length > 0) relations.provides = [...options.provides];
  return relations;
}

/** `SOURCE_DATE_EPOCH` from the option, else the environment, else the revision's time. */
function sourceDateEpoch(options: ResolvedDebOptions, revision: Revision): number {
  if (options.sourceDateEpoch !== undefined) return options.sourceDateEpoch;
  const env = process.env.SOURCE_DATE_EPOCH;
  if (env !== undefined && env !== '') {
    if (!/^[0-9]+$/.test(env)) {
      throw new RingmasterError(
        'PACKAGE',
        `SOURCE_DATE_EPOCH=${JSON.stringify(env)} is not a number of seconds`,
        {
          scope: SCOPE,
        },
      );
    }
    return Number(env);
  }
  const time = Date.parse(revision.time);
  if (Number.isNaN(time)) {
    throw new RingmasterError(
      'PACKAGE',
      `revision ${revision.id} has no valid time; set the sourceDateEpoch option`,
      {
        scope: SCOPE,
      },
    );
  }
  return Math.floor(time / 1000);
}

/**
 * Creates a Debian packager. The build directory becomes the package's file tree under
 * `prefix`; regular files under `/etc` are conffiles; every timestamp is `SOURCE_DATE_EPOCH`,
 * so the same tree and revision give the same bytes.
 *
 * @example
 * ```ts
 * import { deb } from '@ringmaster/pkg-deb';
 * const packager = deb({
 *   name: 'foostat',
 *   maintainer: 'Ops <ops@example.com>',
 *   description: 'Foostat widget service',
 *   prefix: '/opt/foostat',
 *   depends: ['nodejs (>= 20)'],
 *   postinst: '#!/bin/sh\nset -e\nsystemctl restart foostat || true\n',
 * });
 * const artifact = await packager.package({ dir: 'build', revision, outDir: 'out' });
 * ```
 */
export function deb(options: DebOptions): DebPackager {
  const parsed = parseOptions(debOptionsSchema, options, SCOPE);
  const resolved: ResolvedDebOptions = { ...parsed, compressionLevel: resolvedLevel(parsed) };
  const prefix = resolved.prefix.replace(/^\/+|\/+$/g, '');

  const versionFor = (revision: Revision) => deriveVersion(revision, resolved.version);

  return {
    name: 'deb',
    options: resolved,
    packageName: resolved.name,
    versionFor,
    compareVersions,
    relationProblems,
    async package(input: PackageInput): Promise<Artifact> {
      const version = versionFor(input.revision);
      const mtime = sourceDateEpoch(resolved, input.revision);
      try {
        // xz and zstd run the system binaries: one that is missing fails here, before the tree is read.
        const compressor = await findCompressor(resolved.compression, resolved.compressionLevel);
        const entries = await walkTree(input.dir, { prefix, keepModes: resolved.keepModes });
        const files = new Set(entries.filter((e) => e.type === 'file').map((e) => `/${e.path}`));
        for (const conffile of resolved.conffiles) {
          if (!files.has(conffile)) {
            throw new RingmasterError(
              'PACKAGE',
              `conffile ${conffile} is not a regular file in the package`,
              {
                scope: SCOPE,
                details: { path: conffile },
              },
            );
          }
        }
        const conffiles = [
          ...new Set([...[...files].filter((f) => f.startsWith('/etc/')), ...resolved.conffiles]),
        ].sort();
        const fileName = `${resolved.name}_${versionForFileName(version)}_${resolved.architecture}.deb`;
        const built = await buildDeb({
          control: {
            package: resolved.name,
            version,
            architecture: resolved.architecture,
            maintainer: resolved.maintainer,
            description: resolved.description,
            section: resolved.section,
            priority: resolved.priority,
            homepage: resolved.homepage,
            preDepends: resolved.preDepends,
            depends: resolved.depends,
            recommends: resolved.recommends,
            suggests: resolved.suggests,
            breaks: resolved.breaks,
            conflicts: resolved.conflicts,
            replaces: resolved.replaces,
            provides: resolved.provides,
          },
          entries,
          conffiles,
          scripts: {
            preinst: resolved.preinst,
            postinst: resolved.postinst,
            prerm: resolved.prerm,
            postrm: resolved.postrm,
          },
          mtime,
          compression: resolved.compression,
          level: resolved.compressionLevel,
          compressor,
          outFile: join(input.outDir, fileName),
        });
        return {
          name: resolved.name,
          version,
          architecture: resolved.architecture,
          dependencies: [...resolved.preDepends, ...resolved.depends],
          file: built.file,
          sha256: built.sha256,
          size: built.size,
          format: 'deb',
          relations: artifactRelations(resolved),
        };
      } catch (error) {
        throw toRingmasterError(error, 'PACKAGE', SCOPE, `cannot build ${resolved.name} ${version}`);
      }
    },
  };
}
