/**
 * A simulated fleet for scale tests and benchmarks: hosts that exist only in memory, each
 * install taking a configurable time and failing at a configurable (seeded) rate. Several
 * targets made with one `fleet` share it, which is how several runners in one process reach
 * the same hosts. Not for deploying anything: it installs nothing anywhere, and `run` runs its
 * command on this machine.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Artifact, Packager } from '../contracts/artifact.js';
import type { CommandResult, HostInfo, InstalledPackage, RunOptions, Target } from '../contracts/target.js';
import { parseOptions, RingmasterError } from '../errors.js';
import { assertMatches, PACKAGE_NAME, PACKAGE_VERSION } from '../exec/quote.js';
import { runCommand } from '../exec/run.js';
import { seededRandom } from '../model/random.js';

/** What the simulated hosts run: host → package → installed version. */
export type SimulatedFleet = Map<string, Map<string, InstalledPackage>>;

export const simulatedTargetOptionsSchema = z
  .object({
    /** Host names, or how many (`sim-1` …). */
    hosts: z.union([z.array(z.string().min(1)), z.number().int().min(0)]),
    /** How long an install takes, ms: a fixed time or a [min, max] range. @default 0 */
    latencyMs: z.union([z.number().min(0), z.tuple([z.number().min(0), z.number().min(0)])]).default(0),
    /** How long reading what a host runs takes, ms. @default 0 */
    readLatencyMs: z.number().min(0).default(0),
    /** The share of installs that fail (0–1), drawn from `seed`. @default 0 */
    failureRate: z.number().min(0).max(1).default(0),
    /** @default 1 */
    seed: z.number().int().default(1),
    /** Shared host state: targets given one fleet see each other's installs. @default a new one */
    fleet: z.custom<SimulatedFleet>((v) => v instanceof Map, 'expected a Map (a SimulatedFleet)').optional(),
    /** Names the target in messages. @default 'simulated' */
    name: z.string().default('simulated'),
  })
  .strict();
export type SimulatedTargetOptions = z.input<typeof simulatedTargetOptionsSchema>;

const sleep = (ms: number) => (ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve());

/**
 * A target of simulated hosts.
 *
 * @example
 * ```ts
 * const fleet = new Map();
 * const target = simulatedTarget({ hosts: 1000, latencyMs: [20, 80], failureRate: 0.01, fleet });
 * ```
 */
export function simulatedTarget(
  options: SimulatedTargetOptions,
): Target & { readonly fleet: SimulatedFleet } {
  const opts = parseOptions(simulatedTargetOptionsSchema, options, 'simulated-target', 'simulatedTarget');
  const names =
    typeof opts.hosts === 'number'
      ? Array.from({ length: opts.hosts }, (_, i) => `sim-${i + 1}`)
      : opts.hosts;
  const hosts: HostInfo[] = names.map((name) => ({ name }));
  const fleet: SimulatedFleet = opts.fleet ?? new Map();
  const random = seededRandom(opts.seed);
  const known = new Set(names);
  const latency = () =>
    typeof opts.latencyMs === 'number'
      ? opts.latencyMs
      : opts.latencyMs[0] + random() * (opts.latencyMs[1] - opts.latencyMs[0]);
  const check = (host: string) => {
    if (!known.has(host))
      throw new RingmasterError('TARGET', `unknown host ${host}`, { scope: opts.name, details: { host } });
  };
  const on = (host: string) => {
    const packages = fleet.get(host) ?? new Map<string, InstalledPackage>();
    fleet.set(host, packages);
    return packages;
  };
  return {
    name: opts.name,
    hosts,
    fleet,
    capabilities: { remove: true, env: true },
    async installed(host: string, pkg: string) {
      check(host);
      await sleep(opts.readLatencyMs);
      return fleet.get(host)?.get(pkg);
    },
    async install(host: string, artifact: Artifact) {
      check(host);
      assertMatches(artifact.name, PACKAGE_NAME, 'package name', opts.name);
      assertMatches(artifact.version, PACKAGE_VERSION, 'version', opts.name);
      const fails = random() < opts.failureRate;
      await sleep(latency());
      if (fails) {
        throw new RingmasterError('TARGET', `[${host}] simulated install failure of ${artifact.version}`, {
          scope: opts.name,
          details: { host },
        });
      }
      on(host).set(artifact.name, { version: artifact.version, status: 'installed' });
    },
    async remove(host: string, pkg: string) {
      check(host);
      await sleep(latency());
      fleet.get(host)?.delete(pkg);
    },
    /** A simulated host has no shell of its own: the command runs here (argv, no shell). */
    async run(host: string, argv: readonly string[], runOptions: RunOptions = {}): Promise<CommandResult> {
      check(host);
      const r = await runCommand(argv, {
        timeoutMs: runOptions.timeoutMs ?? 60_000,
        ...(runOptions.env ? { env: runOptions.env } : {}),
      });
      return { exitCode: r.timedOut ? 124 : r.exitCode, stdout: r.stdout, stderr: r.stderr };
    },
  };
}

/**
 * A packager for simulations: artifacts that are only a name and a version (`1.0.<n>` for the
 * revision's number), made instantly, for the simulated hosts above. Nothing is written, so it
 * does not pass `describePackager` (which checks the file it made) and is for nothing else.
 *
 * @example
 * ```ts
 * pipeline({ name: 'svc', source, packager: simulatedPackager({ name: 'svc' }), repository: memoryRepository(), rings })
 * ```
 */
export function simulatedPackager(options: { name: string }): Packager {
  const name = assertMatches(options.name, PACKAGE_NAME, 'package name', 'simulated-packager');
  return {
    name: 'simulated',
    packageName: name,
    versionFor: (revision) => `1.0.${revision.number}`,
    compareVersions: (a, b) => Number(a.split('.')[2]) - Number(b.split('.')[2]),
    package: async ({ revision }) => ({
      name,
      version: `1.0.${revision.number}`,
      architecture: 'all',
      dependencies: [],
      file: `/nonexistent/simulated/${name}_1.0.${revision.number}`,
      sha256: createHash('sha256').update(`${name} ${revision.id}`).digest('hex'),
      size: 0,
      format: 'simulated',
    }),
  };
}
