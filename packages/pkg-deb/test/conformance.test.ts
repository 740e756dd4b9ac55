/** The core conformance suites: Packager against deb() (its default and a timestamped version), Repository against aptRepository(). */
import { describePackager, describeRepository } from '@ringmaster/core/testing';
import { afterAll } from 'vitest';
import { aptRepository, deb } from '../src/index.js';
import { cleanup, revision, tempDir, writeTree } from './helpers.js';

afterAll(cleanup);

describeRepository('apt', {
  async create() {
    const dir = await tempDir('conformance');
    return {
      repository: aptRepository({ dir }),
      // Debian order: ~ before the release, an epoch after everything.
      orderedVersions: ['1.0~rc1', '1.0', '1:0.1'],
      async artifact(name, version, variant = 'base') {
        const tree = await writeTree(await tempDir('tree'), {
          [`usr/share/${name}/variant`]: `${variant}\n`,
        });
        return deb({
          name,
          version: () => version,
          maintainer: 'Ops <ops@example.com>',
          description: `Conformance package ${name}`,
        }).package({ dir: tree, revision: revision(1), outDir: await tempDir('out') });
      },
    };
  },
});

describePackager('deb', {
  async create() {
    return {
      packager: deb({ name: 'conformance', maintainer: 'Ops <ops@example.com>', description: 'Conformance' }),
    };
  },
});

describePackager('deb, with an upstream version and a revision', {
  async create() {
    return {
      packager: deb({
        name: 'conformance-up',
        version: '2.4.{number}-1',
        maintainer: 'Ops <ops@example.com>',
        description: 'Conformance',
      }),
    };
  },
});
