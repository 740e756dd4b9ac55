/** lintian, Debian's package checker, finds no errors in a well-formed package we build. */
import { gzipSync } from 'node:zlib';
import { runCommand } from '@ringmaster/core/adapter';
import { afterAll, describe, expect, it } from 'vitest';
import { deb } from '../src/index.js';
import { cleanup, revision, tempDir, writeTree } from './helpers.js';

afterAll(cleanup);

const COPYRIGHT = `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: foostat

Files: *
Copyright: 2026 Ringmaster
License: MIT
 Permission is hereby granted, free of charge, to any person obtaining a copy.
`;

const CHANGELOG = `foostat (0.0.42) unstable; urgency=medium

  * Build 42.

 -- Ops Team <ops@example.com>  Sun, 01 Nov 2026 10:00:00 +0000
`;

describe('lintian', () => {
  it('reports no errors on a well-formed package (conffile, symlink, scripts, docs)', async () => {
    const tree = await writeTree(await tempDir('tree'), {
      'usr/share/doc/foostat/copyright': COPYRIGHT,
      'usr/share/doc/foostat/changelog.gz': gzipSync(CHANGELOG, { level: 9 }).subarray(0),
      'usr/lib/foostat/foostat': { content: '#!/bin/sh\necho foostat\n', mode: 0o755 },
      'usr/lib/foostat/run': { link: 'foostat' },
      'etc/foostat/foostat.conf': 'port = 8080\n',
    });
    const artifact = await deb({
      name: 'foostat',
      maintainer: 'Ops Team <ops@example.com>',
      description: 'widget service for the home page\nRenders the widget and serves it on port 8080.',
      section: 'web',
      homepage: 'https://example.com/foostat',
      depends: ['adduser'],
      postinst: '#!/bin/sh\nset -e\necho "configured $1"\n',
      postrm: '#!/bin/sh\nset -e\n',
    }).package({ dir: tree, revision: revision(42), outDir: await tempDir('out') });
    const r = await runCommand(
      ['lintian', '--no-cfg', '--allow-root', '--display-level', '>=warning', artifact.file],
      {
        timeoutMs: 120_000,
      },
    );
    const errors = r.stdout.split('\n').filter((line) => line.startsWith('E:'));
    expect(errors, r.stdout).toEqual([]);
    expect(r.stderr).not.toMatch(/error/i);
  }, 120_000);
});
