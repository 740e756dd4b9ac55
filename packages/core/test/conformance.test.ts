/** The reference adapters pass the same conformance suites as the real ones. */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Volume } from 'memfs';
import type { FsLike } from '../src/index.js';
import {
  fileStore,
  localRepository,
  localTarget,
  memoryRepository,
  memorySource,
  memoryStore,
  simulatedTarget,
  tarball,
} from '../src/index.js';
import {
  describePackager,
  describeRepository,
  describeSource,
  describeStore,
  describeTarget,
} from '../src/testing/index.js';

const made: string[] = [];
const temp = async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rm-conf-'));
  made.push(dir);
  return dir;
};
const cleanup = async () => {
  await Promise.all(made.splice(0).map((d) => rm(d, { recursive: true, force: true })));
};

/** A tarball artifact of `name` at `version`; `variant` changes its content. */
async function artifactOf(name: string, version: string, variant = '') {
  const dir = await temp();
  const tree = join(dir, 'tree');
  await mkdir(tree);
  await writeFile(join(tree, 'VERSION'), `${version}${variant}\n`);
  return tarball({ name })
    .package({
      dir: tree,
      revision: { id: 'x', line: 'main', author: 'a', message: 'm', time: '2026-01-01T00:00:00Z', number: 1 },
      outDir: join(dir, 'out'),
    })
    .then((a) => ({ ...a, version }));
}

describeSource('memory', {
  async create() {
    const source = memorySource({ commits: [{ files: { README: 'hi\n' }, message: 'init' }] });
    return { source, commit: (files, message, author) => source.commit(files, message, author) };
  },
});

describeTarget('local', {
  async create() {
    const root = await temp();
    return {
      target: localTarget({ root, hosts: ['h1', 'h2'] }),
      packageName: 'confpkg',
      artifact: (version) => artifactOf('confpkg', version),
      cleanup,
    };
  },
});

describeTarget('local, with a health check', {
  async create() {
    const root = await temp();
    return {
      target: localTarget({ root, hosts: ['h1', 'h2'], healthCheck: { run: ['test', '-f', 'VERSION'] } }),
      packageName: 'confpkg',
      artifact: (version) => artifactOf('confpkg', version),
      cleanup,
    };
  },
});

describeTarget('simulated', {
  async create() {
    return {
      target: simulatedTarget({ hosts: ['h1', 'h2'], latencyMs: [1, 3] }),
      packageName: 'confpkg',
      artifact: (version) => artifactOf('confpkg', version),
      cleanup,
    };
  },
});

describePackager('tarball', {
  async create() {
    return { packager: tarball({ name: 'confpkg' }) };
  },
});

describeRepository('local', {
  async create() {
    const dir = await temp();
    return {
      repository: localRepository({ dir: join(dir, 'repo') }),
      artifact: (name, version, variant) => artifactOf(name, version, variant),
      orderedVersions: ['1.0.9', '1.0.10', '2.0.0'],
      cleanup,
    };
  },
});

describeRepository('memory', {
  async create() {
    return {
      repository: memoryRepository(),
      artifact: (name, version, variant) => artifactOf(name, version, variant),
      orderedVersions: ['1.0.9', '1.0.10', '2.0.0'],
      cleanup,
    };
  },
});

describeStore('memory', {
  async create() {
    const shared = memoryStore();
    return { open: async () => shared.open() };
  },
});

describeStore('file (disk)', {
  async create() {
    const dir = await temp();
    return { open: async () => fileStore({ dir: join(dir, 'ledger') }), cleanup };
  },
});

describeStore('file (memfs)', {
  async create() {
    const vol = new Volume();
    const fs = vol.promises as unknown as FsLike;
    return { open: async () => fileStore({ dir: '/ledger', fs }) };
  },
});
