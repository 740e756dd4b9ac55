/**
 * Conformance suite for Target adapters: install, read back, downgrade, run commands, refuse
 * bad input. The fixture supplies real hosts and artifacts of the format the target installs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Artifact } from '../contracts/artifact.js';
import type { Target, TargetCapabilities } from '../contracts/target.js';
import { isRingmasterError } from '../errors.js';

export interface TargetFixture {
  /** A target with at least two hosts, none of which has `packageName` installed. */
  target: Target;
  /** The package name the fixture's artifacts carry. */
  packageName: string;
  /** An installable artifact of `packageName` at `version`, e.g. `1.0.1`. */
  artifact(version: string): Promise<Artifact>;
  cleanup?(): Promise<void>;
}

export interface DescribeTargetOptions {
  create(): Promise<TargetFixture>;
  capabilities?: TargetCapabilities;
  additionalTests?(fixture: () => TargetFixture): void;
}

/**
 * Registers the Target contract tests. The fixture is created once for the suite (hosts are
 * expensive); tests use versions that only go up, except the explicit downgrade.
 */
export function describeTarget(name: string, options: DescribeTargetOptions): void {
  describe(`Target conformance: ${name}`, () => {
    let fixture: TargetFixture;
    beforeAll(async () => {
      fixture = await options.create();
    });
    afterAll(async () => {
      await fixture?.target.close?.();
      await fixture?.cleanup?.();
    });
    const hosts = () => fixture.target.hosts.map((h) => h.name);

    it('has at least two uniquely named hosts', () => {
      expect(hosts().length).toBeGreaterThanOrEqual(2);
      expect(new Set(hosts()).size).toBe(hosts().length);
    });

    it('reports nothing installed before the first install', async () => {
      expect(await fixture.target.installed(hosts()[0]!, fixture.packageName)).toBeUndefined();
    });

    it('installs on one host only, and reads the version back', async () => {
      const [a, b] = hosts();
      await fixture.target.install(a!, await fixture.artifact('1.0.1'));
      expect(await fixture.target.installed(a!, fixture.packageName)).toEqual({
        version: '1.0.1',
        status: 'installed',
      });
      expect(await fixture.target.installed(b!, fixture.packageName)).toBeUndefined();
    });

    it('upgrades and downgrades (rollback by version)', async () => {
      const [a] = hosts();
      await fixture.target.install(a!, await fixture.artifact('1.0.2'));
      expect((await fixture.target.installed(a!, fixture.packageName))?.version).toBe('1.0.2');
      await fixture.target.install(a!, await fixture.artifact('1.0.1'));
      expect((await fixture.target.installed(a!, fixture.packageName))?.version).toBe('1.0.1');
    });

    it('runs an argv command and returns exit code and output, with no shell in between', async () => {
      const [a] = hosts();
      const ok = await fixture.target.run(a!, ['echo', 'hello; echo injected']);
      expect(ok.exitCode).toBe(0);
      expect(ok.stdout.trim()).toBe('hello; echo injected');
      const bad = await fixture.target.run(a!, ['sh', '-c', 'echo oops >&2; exit 3']);
      expect(bad.exitCode).toBe(3);
      expect(bad.stderr).toContain('oops');
    });

    it('refuses an unknown host with TARGET', async () => {
      const error = await fixture.target.installed('no-such-host', fixture.packageName).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isRingmasterError(error, 'TARGET')).toBe(true);
      expect((error as Error).message).toContain('no-such-host');
    });

    it('refuses a hostile version before it reaches the host', async () => {
      const [a] = hosts();
      const artifact = { ...(await fixture.artifact('1.0.3')), version: '1.0;touch /tmp/pwned' };
      const error = await fixture.target.install(a!, artifact).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isRingmasterError(error)).toBe(true);
      expect((await fixture.target.installed(a!, fixture.packageName))?.version).not.toBe(artifact.version);
    });

    if (options.capabilities?.remove)
      it('removes a package', async () => {
        const [, b] = hosts();
        await fixture.target.install(b!, await fixture.artifact('1.0.1'));
        await fixture.target.remove!(b!, fixture.packageName);
        expect(await fixture.target.installed(b!, fixture.packageName)).toBeUndefined();
      });

    if (options.capabilities?.inventory)
      it('lists the installed packages in the inventory', async () => {
        const [a] = hosts();
        const inventory = await fixture.target.inventory!(a!);
        expect(inventory[fixture.packageName]).toBe(
          (await fixture.target.installed(a!, fixture.packageName))?.version,
        );
      });

    options.additionalTests?.(() => fixture);
  });
}
