/**
 * Conformance suite for Target adapters: install, read back, downgrade, run commands, refuse
 * bad input, the capabilities the adapter declares (checked against the methods it has, and
 * exercised), and `close()`. The fixture supplies real hosts and artifacts of the format the
 * target installs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Artifact } from '../contracts/artifact.js';
import type { Target } from '../contracts/target.js';
import { isRingmasterError } from '../errors.js';

export interface TargetFixture<T extends Target = Target> {
  /** A target with at least two hosts, none of which has `packageName` installed. */
  target: T;
  /** The package name the fixture's artifacts carry. */
  packageName: string;
  /** An installable artifact of `packageName` at `version`, e.g. `1.0.1`. */
  artifact(version: string): Promise<Artifact>;
  cleanup?(): Promise<void>;
}

export interface DescribeTargetOptions<T extends Target = Target> {
  create(): Promise<TargetFixture<T>>;
  /** More tests, registered before the `close()` cases, with the fixture as the adapter's own type. */
  additionalTests?(fixture: () => TargetFixture<T>): void;
}

/**
 * Registers the Target contract tests. The fixture is created once for the suite (hosts are
 * expensive); tests use versions that only go up, except the explicit downgrade. What the suite
 * checks of capabilities comes from the adapter itself, never from the test file.
 *
 * @example
 * ```ts
 * describeTarget('ssh', { create: async () => ({ target: ssh(options), packageName: 'app', artifact }) });
 * ```
 */
export function describeTarget<T extends Target>(name: string, options: DescribeTargetOptions<T>): void {
  describe(`Target conformance: ${name}`, () => {
    let fixture: TargetFixture<T>;
    beforeAll(async () => {
      fixture = await options.create();
    });
    afterAll(async () => {
      await fixture?.target.close?.();
      await fixture?.cleanup?.();
    });
    const hosts = () => fixture.target.hosts.map((h) => h.name);
    const version = async (host: string) =>
      (await fixture.target.installed(host, fixture.packageName))?.version;

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
      expect(await version(a!)).toBe('1.0.2');
      await fixture.target.install(a!, await fixture.artifact('1.0.1'));
      expect(await version(a!)).toBe('1.0.1');
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

    it('run() with env, where declared, gives the command the variables as they are', async () => {
      const [a] = hosts();
      if (!fixture.target.capabilities?.env) {
        expect(fixture.target.capabilities?.env).toBeFalsy();
        return;
      }
      // Spaces, quotes, a newline, shell syntax and non-ASCII: all must arrive byte for byte.
      const value = `s3cret 'q' "dq" $(id) \`x\` ; *\nline two é`;
      const r = await fixture.target.run(
        a!,
        ['sh', '-c', 'printf "[%s][%s]" "$RM_CONFORMANCE" "$RM_PLAIN"'],
        {
          env: { RM_CONFORMANCE: value, RM_PLAIN: 'plain' },
        },
      );
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toBe(`[${value}][plain]`);
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
      expect(await version(a!)).not.toBe(artifact.version);
    });

    it('declares exactly the capabilities its methods provide', () => {
      const caps = fixture.target.capabilities ?? {};
      expect(typeof fixture.target.remove === 'function').toBe(Boolean(caps.remove));
      expect(typeof fixture.target.inventory === 'function').toBe(Boolean(caps.inventory));
      // A health check may be a method that is there but not configured; declared means it exists.
      if (caps.healthCheck) expect(typeof fixture.target.healthCheck).toBe('function');
    });

    it('remove(), where declared, uninstalls a package', async () => {
      const [, b] = hosts();
      if (!fixture.target.capabilities?.remove) {
        expect(fixture.target.remove).toBeUndefined();
        return;
      }
      await fixture.target.install(b!, await fixture.artifact('1.0.1'));
      await fixture.target.remove!(b!, fixture.packageName);
      expect(await fixture.target.installed(b!, fixture.packageName)).toBeUndefined();
    });

    it('inventory(), where declared, lists what installed() reports', async () => {
      const [a] = hosts();
      if (!fixture.target.capabilities?.inventory) {
        expect(fixture.target.inventory).toBeUndefined();
        return;
      }
      const inventory = await fixture.target.inventory!(a!);
      expect(inventory[fixture.packageName]).toBe(await version(a!));
    });

    it('healthCheck(), where declared, passes on a host that runs the package', async () => {
      const [a] = hosts();
      if (!fixture.target.capabilities?.healthCheck) {
        expect(fixture.target.capabilities?.healthCheck).toBeFalsy();
        return;
      }
      await expect(fixture.target.healthCheck!(a!)).resolves.toBeUndefined();
    });

    options.additionalTests?.(() => fixture);

    it('close() may be called twice, and a target used after it works again or fails with a RingmasterError', async () => {
      await fixture.target.close?.();
      await fixture.target.close?.();
      const [a] = hosts();
      const after = await fixture.target.run(a!, ['true']).then(
        (r) => r,
        (e: unknown) => e,
      );
      if (after instanceof Error) expect(isRingmasterError(after)).toBe(true);
      else expect((after as { exitCode: number }).exitCode).toBe(0);
    });
  });
}
