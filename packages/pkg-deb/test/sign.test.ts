/**
 * The signer: one text-mode detached signature per Release, which is Release.gpg and, wrapped
 * around the Release, InRelease's (gpgv verifies both, dash-escaped lines included); a Release
 * it cannot sign that way is refused before gpg sees it, and its process killed; and gpg runs on
 * the Releases given to it only, never on an empty input when this process dies first.
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clearSigned, Signer } from '../src/repository/sign.js';
import { cleanup, makeKey, ok, rejection, type TestKey, tempDir } from './helpers.js';

let key: TestKey;
beforeAll(async () => {
  key = await makeKey();
});
/** The Node processes the tests started: none outlives them, even a test that failed. */
const children: ReturnType<typeof spawn>[] = [];
afterAll(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await key?.close();
  await cleanup();
});

const src = (path: string) => fileURLToPath(new URL(path, import.meta.url));

/** The gpg processes signing with the test key (its agent, which outlives them by design, aside). */
async function signers(): Promise<string[]> {
  const ps = await ok(['ps', '-eo', 'pid=,args=']);
  return ps
    .split('\n')
    .filter(
      (line) => line.includes(key.homedir) && line.includes('--detach-sign') && !line.includes(' ps -eo'),
    );
}

describe('Signer', () => {
  it('makes one signature that gpgv verifies as Release.gpg and as InRelease, dash-escaped lines included', async () => {
    const dir = await tempDir('sign');
    const signer = new Signer({ homedir: key.homedir, keyId: key.keyId, passphrase: key.passphrase });
    const release = Buffer.from(
      'Origin: Test\n-----BEGIN PGP SIGNATURE-----\n- a line with a dash\nLast: line\n',
    );
    const { inRelease, detached } = await (await signer.prepare()).sign(release);
    await writeFile(join(dir, 'Release'), release);
    await writeFile(join(dir, 'Release.gpg'), detached);
    await writeFile(join(dir, 'InRelease'), inRelease);
    expect(inRelease).toEqual(clearSigned(release, detached));
    expect(inRelease.toString()).toContain('\n- -----BEGIN PGP SIGNATURE-----\n- - a line with a dash\n');
    await ok(['gpgv', '--keyring', key.publicKeyFile, join(dir, 'Release.gpg'), join(dir, 'Release')]);
    // What the clear-signed message says is the Release (gpgv takes the dashes off again).
    const message = await ok([
      'gpgv',
      '--keyring',
      key.publicKeyFile,
      '--output',
      '-',
      join(dir, 'InRelease'),
    ]);
    expect(message.replace(/\n$/, '')).toBe(release.toString());
    await signer.close();
  });

  it('refuses a Release with trailing whitespace, which a clear-signed message does not sign', async () => {
    const signer = new Signer({ homedir: key.homedir, keyId: key.keyId, passphrase: key.passphrase });
    const pending = await signer.prepare();
    const error = await rejection(pending.sign(Buffer.from('Origin: Test \nLabel: x\n')));
    expect(error.message).toContain('a line ends with whitespace');
    await pending.cancel();
    await signer.close();
  });

  it('refuses a Release that is not valid UTF-8 or has a carriage return, and escapes only lines after \\n', async () => {
    const signer = new Signer({ homedir: key.homedir, keyId: key.keyId, passphrase: key.passphrase });
    for (const [bytes, why] of [
      [Buffer.from([0x4f, 0x3a, 0x20, 0xff, 0x0a]), 'not valid UTF-8'],
      [Buffer.from('Origin: a\rb\n'), 'carriage return'],
    ] as const) {
      const error = await rejection((await signer.prepare()).sign(bytes));
      expect(error.message).toContain(why);
    }
    // U+2028 and U+2029 end no line: what follows them is not dash-escaped.
    const release = Buffer.from('Origin: a\u2028-b\u2029-c\n-d\n');
    expect(clearSigned(release, Buffer.alloc(0)).toString()).toContain('Origin: a\u2028-b\u2029-c\n- -d\n');
    await signer.close();
  });

  /**
   * Runs `script` (with `Signer` imported) in a Node process whose gpg is a shim that records the
   * size of every input gpg is given, then signs it with the real gpg.
   */
  async function inChild(
    script: string,
    args: string[],
  ): Promise<{ child: ReturnType<typeof spawn>; out: () => string; log: string }> {
    const work = await tempDir('sign-child');
    await build({
      entryPoints: [src('../src/repository/sign.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      outfile: join(work, 'sign.mjs'),
      alias: { '@ringmaster/core/adapter': src('../../core/src/adapter.ts') },
      logLevel: 'silent',
    });
    await writeFile(join(work, 'child.mjs'), `import { Signer } from './sign.mjs';\n${script}`);
    const gpg = (await ok(['sh', '-c', 'command -v gpg'])).trim();
    const log = join(work, 'inputs.log');
    await mkdir(join(work, 'bin'));
    await writeFile(
      join(work, 'bin/gpg'),
      `#!/bin/sh\ncat > "${log}.$$"\nwc -c < "${log}.$$" >> "${log}"\nexec ${gpg} "$@" < "${log}.$$"\n`,
      { mode: 0o755 },
    );
    await writeFile(log, '');
    const child = spawn(process.execPath, [join(work, 'child.mjs'), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PATH: `${join(work, 'bin')}:${process.env.PATH}` },
    });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
    });
    return { child, out: () => out, log };
  }

  /** Waits until no process signs with the test key any more. */
  async function noSigners(): Promise<void> {
    const deadline = Date.now() + 10_000;
    while ((await signers()).length > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(await signers()).toEqual([]);
  }

  it('runs gpg on the Releases given to it only: a refused one leaves nothing running that keeps the process alive', async () => {
    const { child, out, log } = await inChild(
      `const [homedir, keyId, passphrase] = process.argv.slice(2);
const signer = new Signer({ homedir, keyId, passphrase });
await (await signer.prepare()).sign(Buffer.from('Origin: Test \\n')).catch((e) => console.log(e.message));
await (await signer.prepare()).sign(Buffer.from('Origin: Test\\n'));
console.log('signed');
// No close(): the refused Release's process must not keep this one alive.
`,
      [key.homedir, key.keyId, key.passphrase],
    );
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(out().trim().split('\n')).toEqual([
      'cannot sign this Release as InRelease: a line ends with whitespace',
      'signed',
    ]);
    expect(code).toBe(0);
    await noSigners();
    expect((await readFile(log, 'utf8')).trim().split('\n')).toEqual(['13']);
  }, 60_000);

  it('never signs an empty input when the process dies while its gpg waits for the Release', async () => {
    const { child, out, log } = await inChild(
      `const [homedir, keyId, passphrase] = process.argv.slice(2);
const signer = new Signer({ homedir, keyId, passphrase });
await signer.prepare();
console.log('waiting');
`,
      [key.homedir, key.keyId, key.passphrase],
    );
    const exited = new Promise((resolve) => child.on('exit', resolve));
    try {
      while (!out().includes('waiting') && child.exitCode === null) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(out()).toContain('waiting');
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    await noSigners();
    expect(await readFile(log, 'utf8')).toBe('');
  }, 60_000);
});
