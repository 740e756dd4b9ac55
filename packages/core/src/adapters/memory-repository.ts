/**
 * A repository that keeps artifacts in memory: for simulations, benchmarks and tests where
 * publishing is not what is measured. It keeps the Repository contract (versions in order, the
 * same version never published with other bytes) but not the files: nothing survives the process.
 */
import type { Artifact, Repository } from '../contracts/artifact.js';
import { RingmasterError } from '../errors.js';
import { compareDotted } from './tarball.js';

/**
 * @param options.compareVersions orders versions (default: numeric dotted comparison)
 * @example
 * ```ts
 * const repository = memoryRepository();
 * ```
 */
export function memoryRepository(
  options: { compareVersions?: (a: string, b: string) => number } = {},
): Repository {
  const compare = options.compareVersions ?? compareDotted;
  const stored = new Map<string, Map<string, Artifact>>();
  return {
    name: 'memory',
    async publish(artifact) {
      const versions = stored.get(artifact.name) ?? new Map<string, Artifact>();
      stored.set(artifact.name, versions);
      const existing = versions.get(artifact.version);
      if (existing && existing.sha256 !== artifact.sha256) {
        throw new RingmasterError(
          'REPOSITORY',
          `${artifact.name} ${artifact.version} is already published with different bytes (sha256 ${existing.sha256}); publish a new version instead`,
          { scope: 'memory-repository', details: { name: artifact.name, version: artifact.version } },
        );
      }
      if (!existing) versions.set(artifact.version, artifact);
      return existing ?? artifact;
    },
    async versions(name) {
      return [...(stored.get(name)?.keys() ?? [])].sort(compare);
    },
    async find(name, version) {
      return stored.get(name)?.get(version);
    },
  };
}
