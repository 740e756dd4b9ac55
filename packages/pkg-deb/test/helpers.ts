/** Test fixtures: temp dirs, build trees, revisions, a throwaway OpenPGP key and a tool runner. */

import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Artifact, Revision } from '@ringmaster/core/adapter';
import { runCommand } from '@ringmaster/core/adapter';
import { afterAll, beforeAll, expect } from 'vitest';
import { type DebOptions, deb } from '../src/index.js';

const made: string[] = [];

/** A fresh temp dir, removed by `cleanup()`. */
export async function tempDir(label = 'pkgdeb'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `${label}-`));
  made.push(dir);
  return dir;
}

export async function cleanup(): Promise<void> {
  for (const dir of made.splice(0)) await rm(dir, { recursive: true, force: true });
}

/** A revision as a source adapter would report it. */
export function revision(number: number | undefined, id = `r${number ?? 'x'}`): Revision {
  return {
    id,
    line: 'trunk',
    author: 'dev',
    message: 'change',
    time: '2026-11-01T10:00:00Z',
    ...(number === undefined ? {} : { number }),
  };
}

/** Files of a tree: path → content (string), or `{ link }` for a symlink, or `{ mode, content }`. */
export type TreeSpec = Record<string, string | Buffer | { link: string } | { content: string; mode: number }>;

/** Writes a tree spec under `dir`. */
export async function writeTree(dir: string, spec: TreeSpec): Promise<string> {
  for (const [path, value] of Object.entries(spec)) {
    const abs = join(dir, path);
    await mkdir(dirname(abs), { recursive: true });
    if (typeof value === 'string' || Buffer.isBuffer(value)) await writeFile(abs, value);
    else if ('link' in value) await symlink(value.link, abs);
    else {
      await writeFile(abs, value.content);
      await chmod(abs, value.mode);
    }
  }
  return dir;
}

/** Runs a tool and expects it to succeed; returns stdout. */
export async function ok(argv: string[], options: Parameters<typeof runCommand>[1] = {}): Promise<string> {
  const r = await runCommand(argv, { timeoutMs: 60_000, ...options });
  expect(r.exitCode, `${argv.join(' ')} failed:\n${r.stderr}\n${r.stdout}`).toBe(0);
  return r.stdout;
}

/** Catches the rejection of `promise` (fails the test if it resolves). */
export async function rejection(
  promise: Promise<unknown>,
): Promise<Error & { code?: string; path?: string }> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  expect(error, 'expected a rejection').toBeInstanceOf(Error);
  return error as Error & { code?: string; path?: string };
}

/** A throwaway signing key in a private GnuPG home; the public key exported for apt's signed-by. */
export interface TestKey {
  homedir: string;
  keyId: string;
  publicKeyFile: string;
  /** The secret key, armored, protected by `passphrase`. */
  secretKeyFile: string;
  passphrase: string;
  close(): Promise<void>;
}

/**
 * The test file's throwaway key: made before its tests, closed after them with every temp dir
 * (`cleanup()`). Its fields can be read once the tests run.
 */
export function fileKey(): TestKey {
  let key: TestKey | undefined;
  beforeAll(async () => {
    key = await makeKey();
  });
  afterAll(async () => {
    await key?.close();
    await cleanup();
  });
  const made = (): TestKey => {
    if (!key) throw new Error('the test key is made in beforeAll: read it inside a test or hook');
    return key;
  };
  return {
    get homedir() {
      return made().homedir;
    },
    get keyId() {
      return made().keyId;
    },
    get publicKeyFile() {
      return made().publicKeyFile;
    },
    get secretKeyFile() {
      return made().secretKeyFile;
    },
    get passphrase() {
      return made().passphrase;
    },
    close: () => made().close(),
  };
}

/** SHA-256 of some bytes, as hex. */
export const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

export async function makeKey(): Promise<TestKey> {
  const homedir = await mkdtemp(join(tmpdir(), 'gpgk-'));
  made.push(homedir);
  // A test key needs no expensive KDF; the default costs seconds per signature on a small VM.
  await writeFile(join(homedir, 'gpg-agent.conf'), 's2k-count 65536\n');
  const passphrase = 'correct horse $(battery) staple';
  const keyId = 'repo@ringmaster.invalid';
  await ok(
    [
      'gpg',
      '--homedir',
      homedir,
      '--batch',
      '--pinentry-mode',
      'loopback',
      '--passphrase-fd',
      '0',
      '--quick-gen-key',
      `Ringmaster Test Repo <${keyId}>`,
      'ed25519',
      'sign',
      'never',
    ],
    { input: passphrase },
  );
  const publicKeyFile = join(homedir, 'repo.gpg');
  const secretKeyFile = join(homedir, 'secret.asc');
  await ok(['gpg', '--homedir', homedir, '--batch', '--output', publicKeyFile, '--export', keyId]);
  await ok(
    [
      'gpg',
      '--homedir',
      homedir,
      '--batch',
      '--pinentry-mode',
      'loopback',
      '--passphrase-fd',
      '0',
      '--armor',
      '--output',
      secretKeyFile,
      '--export-secret-keys',
      keyId,
    ],
    { input: passphrase },
  );
  return {
    homedir,
    keyId,
    publicKeyFile,
    secretKeyFile,
    passphrase,
    close: async () => {
      await runCommand(['gpgconf', '--homedir', homedir, '--kill', 'gpg-agent'], { timeoutMs: 10_000 });
    },
  };
}

/** A well-formed package tree: copyright and changelog where lintian looks for them. */
export function wellFormedTree(name: string): TreeSpec {
  return {
    [`usr/share/doc/${name}/copyright`]: `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: ${name}\n\nFiles: *\nCopyright: 2026 Ringmaster\nLicense: MIT\n Permission is hereby granted, free of charge, to any person obtaining a copy.\n`,
    [`usr/bin/${name}`]: { content: `#!/bin/sh\necho ${name}\n`, mode: 0o755 },
    [`etc/${name}/${name}.conf`]: 'port = 8080\n',
  };
}

/**
 * apt-get (or apt-cache, with `tool`) reading the one source line `source`, with every state,
 * cache and configuration path private to `root`: it never touches the machine's apt.
 */
export async function aptTool(
  root: string,
  source: string,
  args: string[],
  options: { cwd?: string; tool?: string } = {},
) {
  await mkdir(join(root, 'state/lists/partial'), { recursive: true });
  await mkdir(join(root, 'cache/archives/partial'), { recursive: true });
  await mkdir(join(root, 'empty.d'), { recursive: true });
  await writeFile(join(root, 'status'), '');
  await writeFile(join(root, 'sources.list'), `${source}\n`);
  const config = {
    'Dir::Etc::SourceList': join(root, 'sources.list'),
    'Dir::Etc::SourceParts': join(root, 'empty.d'),
    'Dir::Etc::Parts': '/dev/null',
    'Dir::Etc::Preferences': '/dev/null',
    'Dir::Etc::PreferencesParts': join(root, 'empty.d'),
    'Dir::Etc::Trusted': '/dev/null',
    'Dir::Etc::TrustedParts': join(root, 'empty.d'),
    'Dir::State': join(root, 'state'),
    'Dir::State::status': join(root, 'status'),
    'Dir::Cache': join(root, 'cache'),
    'APT::Sandbox::User': 'root',
    'Debug::NoLocking': '1',
    'Acquire::Languages': 'none',
  };
  const argv = [
    options.tool ?? 'apt-get',
    '-q',
    ...Object.entries(config).flatMap(([k, v]) => ['-o', `${k}=${v}`]),
    ...args,
  ];
  return runCommand(argv, {
    cwd: options.cwd ?? root,
    timeoutMs: 60_000,
    env: { DEBIAN_FRONTEND: 'noninteractive' },
  });
}

/** A small package `name` at `version` (a VERSION file under /usr/share/<name>), built with `deb()`. */
export async function buildVersion(
  name: string,
  version: string,
  more: Partial<DebOptions> = {},
): Promise<Artifact> {
  const tree = await writeTree(await tempDir('tree'), { [`usr/share/${name}/VERSION`]: `${version}\n` });
  return deb({
    name,
    version: () => version,
    maintainer: 'Ops <ops@example.com>',
    description: `The ${name} package`,
    ...more,
  }).package({ dir: tree, revision: revision(1), outDir: await tempDir('out') });
}
