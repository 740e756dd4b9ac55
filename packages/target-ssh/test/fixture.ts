/**
 * Test fixture: real sshd hosts (from ./testing) and real .deb artifacts built with dpkg-deb.
 */
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Artifact, type Packager, runCommand } from '@ringmaster/core/adapter';
import { type SshOptions, ssh } from '../src/index.js';
import { startTestHosts, type TestHosts } from '../src/testing/index.js';

export interface DebSpec {
  name: string;
  version: string;
  /** Shell script body of DEBIAN/postinst. */
  postinst?: string;
  /** Extra payload bytes (random, stored uncompressed) in /opt/<name>/payload. */
  payloadBytes?: number;
}

/** Builds a .deb with dpkg-deb that installs /opt/<name>/VERSION. */
export async function buildDeb(workDir: string, spec: DebSpec): Promise<Artifact> {
  const root = await mkdtemp(join(workDir, 'pkg-'));
  await mkdir(join(root, 'DEBIAN'), { recursive: true });
  await mkdir(join(root, 'opt', spec.name), { recursive: true });
  await writeFile(
    join(root, 'DEBIAN', 'control'),
    [
      `Package: ${spec.name}`,
      `Version: ${spec.version}`,
      'Architecture: all',
      'Maintainer: Ringmaster Tests <tests@ringmaster.invalid>',
      'Description: test package for target-ssh',
      '',
    ].join('\n'),
  );
  if (spec.postinst) {
    await writeFile(join(root, 'DEBIAN', 'postinst'), `#!/bin/sh\nset -e\n${spec.postinst}\n`);
    await chmod(join(root, 'DEBIAN', 'postinst'), 0o755);
  }
  await writeFile(join(root, 'opt', spec.name, 'VERSION'), `${spec.version}\n`);
  if (spec.payloadBytes) {
    const { randomBytes } = await import('node:crypto');
    await writeFile(join(root, 'opt', spec.name, 'payload'), randomBytes(spec.payloadBytes));
  }
  const file = join(workDir, `${spec.name}_${spec.version}_all.deb`);
  const built = await runCommand(['dpkg-deb', '--root-owner-group', '-Znone', '--build', root, file], {
    timeoutMs: 60_000,
  });
  if (built.exitCode !== 0) throw new Error(`dpkg-deb failed: ${built.stderr}`);
  await rm(root, { recursive: true, force: true });
  const bytes = await readFile(file);
  return {
    name: spec.name,
    version: spec.version,
    architecture: 'all',
    dependencies: [],
    file,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    size: bytes.length,
    format: 'deb',
  };
}

/**
 * A packager of real .debs for engine tests: revision N is version 1.0.N, and 1.0.2 carries
 * `brokenPostinst` (a postinst that fails where the test says a host is broken).
 */
export function failingSecondRelease(pkg: string, brokenPostinst: string): Packager {
  return {
    name: 'test-deb',
    packageName: pkg,
    versionFor: (r) => `1.0.${r.number}`,
    compareVersions: (a, b) => Number(a.split('.')[2]) - Number(b.split('.')[2]),
    async package({ revision, outDir }) {
      await mkdir(outDir, { recursive: true });
      const version = `1.0.${revision.number}`;
      return buildDeb(outDir, {
        name: pkg,
        version,
        ...(version === '1.0.2' ? { postinst: brokenPostinst } : {}),
      });
    },
  };
}

export interface Lab {
  lab: TestHosts;
  work: string;
  /** A target over every lab host, plus `extra` options. */
  target(extra?: Partial<SshOptions>): ReturnType<typeof ssh>;
  hostOptions(): SshOptions['hosts'];
  stop(): Promise<void>;
}

/** Starts `count` hosts and a scratch directory. */
export async function startLab(count = 3, sshdConfig: string[] = []): Promise<Lab> {
  const lab = await startTestHosts({ count, sshdConfig });
  const work = await mkdtemp(join(tmpdir(), 'ringmaster-ssh-test-'));
  const targets: ReturnType<typeof ssh>[] = [];
  const hostOptions = () =>
    lab.hosts.map((h) => ({ name: h.name, address: h.address, port: h.port, user: 'root' }));
  return {
    lab,
    work,
    hostOptions,
    target(extra = {}) {
      const t = ssh({
        hosts: hostOptions(),
        privateKey: lab.clientKeyFile,
        knownHosts: [lab.knownHostsFile],
        ...extra,
      });
      targets.push(t);
      return t;
    },
    async stop() {
      await Promise.allSettled(targets.map((t) => t.close()));
      await lab.stop();
      await rm(work, { recursive: true, force: true });
    },
  };
}

/** The rejection of a promise (fails the test if it resolves). */
export async function rejectionOf(
  promise: Promise<unknown>,
): Promise<Error & { code?: string; details?: Record<string, unknown> }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a rejection, got a resolution');
}
