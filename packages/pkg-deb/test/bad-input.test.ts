/** Bad options fail at the factory with a ConfigError naming the field; bad build trees fail with PACKAGE naming the path. */
import { mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, isRingmasterError } from '@ringmaster/core/adapter';
import { afterAll, describe, expect, it } from 'vitest';
import { aptRepository, type DebOptions, deb } from '../src/index.js';
import { cleanup, ok, rejection, revision, tempDir, writeTree } from './helpers.js';

afterAll(cleanup);

const base: DebOptions = { name: 'app', maintainer: 'Ops <ops@example.com>', description: 'An app' };

function configError(options: unknown): ConfigError {
  try {
    deb(options as DebOptions);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('deb() accepted bad options');
}

describe('deb() refuses bad options with a ConfigError naming the field and the rule', () => {
  it.each([
    [{ name: 'MyApp' }, 'name', 'lowercase'],
    [{ name: 'my_app' }, 'name', 'no "_"'],
    [{ name: 'a' }, 'name', 'at least two characters'],
    [{ name: '-app' }, 'name', 'starting with a letter or digit'],
    [{ maintainer: undefined }, 'maintainer', 'required'],
    [{ maintainer: 'ops@example.com' }, 'maintainer', 'Name <email>'],
    [{ maintainer: 'Ops <ops@example.com>\nX-Evil: 1' }, 'maintainer', 'Name <email>'],
    [{ description: undefined }, 'description', 'required'],
    [{ description: '\nno synopsis' }, 'description', 'synopsis'],
    [{ depends: ['libc6 (>= 2.36'] }, 'depends[0]', 'malformed relationship'],
    [{ depends: ['ok', 'foo (=> 1.0)'] }, 'depends[1]', 'malformed relationship'],
    [{ depends: ['foo (>= 1.0 beta)'] }, 'depends[0]', 'malformed relationship'],
    [{ depends: ['foo (>= $(reboot))'] }, 'depends[0]', 'malformed relationship'],
    [{ depends: ['foo, bar'] }, 'depends[0]', 'no commas'],
    [{ depends: ['Foo'] }, 'depends[0]', 'malformed relationship'],
    // What dpkg refuses in a binary package, so the engine could never check it: refused at config.
    [{ depends: ['foo [amd64]'] }, 'depends[0]', 'malformed relationship'],
    [{ breaks: ['foo:source'] }, 'breaks[0]', 'malformed relationship'],
    [{ provides: ['foo:native'] }, 'provides[0]', 'malformed relationship'],
    [{ conflicts: ['a | b'] }, 'conflicts[0]', 'alternatives'],
    [{ provides: ['virt (>= 1.0)'] }, 'provides[0]', 'Provides only accepts'],
    [{ version: '1.0 beta' }, 'version', 'invalid character " "'],
    [{ version: '1.{number};rm -rf /' }, 'version', 'invalid character'],
    [{ version: '$(reboot)' }, 'version', 'does not start with a digit'],
    [{ version: '-{number}' }, 'version', 'upstream version number is empty'],
    [{ architecture: 'any' }, 'architecture', 'binary package'],
    [{ architecture: 'AMD64' }, 'architecture', 'Debian architecture'],
    [{ prefix: 'opt/app' }, 'prefix', 'absolute'],
    [{ prefix: '/opt/../etc' }, 'prefix', '".."'],
    [{ conffiles: ['/etc/app\n/etc/passwd'] }, 'conffiles[0]', 'newlines'],
    [{ postinst: 'systemctl restart app' }, 'postinst', 'interpreter line'],
    [{ homepage: 'javascript:alert(1)' }, 'homepage', 'http(s) URL'],
    [{ compressionLevel: 11 }, 'compressionLevel', ''],
    [{ unknownOption: true }, '', 'unknownOption'],
  ])('%j → %s', (patch, path, rule) => {
    const error = configError({ ...base, ...patch });
    expect(error.code).toBe('CONFIG');
    if (path) expect(error.path).toBe(path);
    expect(error.message).toContain('[pkg-deb]');
    expect(error.message).toContain(rule);
  });

  it('refuses bad repository options the same way', () => {
    expect(() => aptRepository({ dir: '/tmp/x', suite: 'stable/../../etc' })).toThrow(/suite/);
    expect(() => aptRepository({ dir: '/tmp/x', architectures: ['all'] })).toThrow(/architectures\[0\]/);
    expect(() => aptRepository({ dir: '/tmp/x', protect: ['app 1.0'] })).toThrow(/protect/);
    expect(() => aptRepository({ dir: '/tmp/x', keep: 0 })).toThrow(/keep/);
  });
});

describe('deb() refuses unsafe build trees with a PACKAGE error naming the path', () => {
  const build = async (tree: string) => {
    const out = await tempDir('out');
    const error = await rejection(deb(base).package({ dir: tree, revision: revision(1), outDir: out }));
    expect(await readdir(out)).toEqual([]);
    expect(isRingmasterError(error, 'PACKAGE')).toBe(true);
    return error;
  };

  it('refuses a FIFO', async () => {
    const tree = await writeTree(await tempDir('t'), { 'bin/app': 'x' });
    await ok(['mkfifo', join(tree, 'bin/pipe')]);
    const error = await build(tree);
    expect(error.message).toContain('bin/pipe');
    expect(error.message).toContain('FIFO');
  });

  it('refuses a device file', async () => {
    const tree = await writeTree(await tempDir('t'), { 'bin/app': 'x' });
    await ok(['mknod', join(tree, 'null'), 'c', '1', '3']);
    const error = await build(tree);
    expect(error.message).toContain('null is a device file');
  });

  it('refuses a name with a newline', async () => {
    const tree = await writeTree(await tempDir('t'), { 'bin/app': 'x' });
    await writeFile(join(tree, 'bin', 'evil\nname'), 'x');
    const error = await build(tree);
    expect(error.message).toContain('bin/evil\\nname');
  });

  it('refuses an absolute symlink into the builder filesystem', async () => {
    for (const [path, link] of [
      ['etc/shadow', '/etc/shadow'],
      ['etc/self', '/etc/self'],
      ['bin/ssh', '/root/.ssh/../.ssh/id_rsa'],
    ]) {
      const tree = await writeTree(await tempDir('t'), { 'bin/app': 'x', [path!]: { link: link! } });
      const error = await build(tree);
      expect(error.message).toContain(`/${path} -> ${link} points outside the package`);
    }
  });

  it('refuses a relative symlink escaping the tree with ..', async () => {
    const tree = await writeTree(await tempDir('t'), {
      'bin/app': 'x',
      'bin/up': { link: '../../../root/.ssh/id_rsa' },
    });
    const error = await build(tree);
    expect(error.message).toContain('bin/up -> ../../../root/.ssh/id_rsa escapes the build tree');
  });

  it('accepts symlinks that stay inside the package, absolute ones included', async () => {
    const tree = await writeTree(await tempDir('t'), {
      'opt/app/bin/app': 'x',
      'usr/bin/app': { link: '/opt/app/bin/app' },
      'opt/app/current': { link: 'bin' },
    });
    const artifact = await deb(base).package({
      dir: tree,
      revision: revision(1),
      outDir: await tempDir('o'),
    });
    expect(await ok(['dpkg-deb', '--contents', artifact.file])).toContain(
      './usr/bin/app -> /opt/app/bin/app',
    );
  });

  it('never follows a symlinked directory out of the tree', async () => {
    const outside = await writeTree(await tempDir('secret'), { 'key.pem': 'PRIVATE' });
    const tree = await writeTree(await tempDir('t'), { 'bin/app': 'x' });
    await mkdir(join(tree, 'data'));
    await symlink(outside, join(tree, 'data', 'keys'));
    const error = await build(tree);
    expect(error.message).toContain('data/keys');
  });

  it('refuses a declared conffile the package does not ship', async () => {
    const tree = await writeTree(await tempDir('t'), { 'bin/app': 'x' });
    const error = await rejection(
      deb({ ...base, conffiles: ['/etc/app.conf'] }).package({
        dir: tree,
        revision: revision(1),
        outDir: await tempDir('o'),
      }),
    );
    expect(isRingmasterError(error, 'PACKAGE')).toBe(true);
    expect(error.message).toContain('/etc/app.conf');
  });

  it('refuses a build directory that does not exist', async () => {
    const error = await build(join(await tempDir('t'), 'missing'));
    expect(error.message).toContain('missing');
  });
});
