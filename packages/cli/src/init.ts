/** `ringmaster init`: writes a starting config a team edits into its own fk-ops-build. */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EXIT, type Io } from './output.js';

export const TEMPLATE = `// Ringmaster project: every pipeline (one per package) and the rings it flows through.
// Then: \`ringmaster watch --once\`, \`ringmaster status\`, \`ringmaster explain app prod\`.
import { defineConfig } from '@ringmaster/cli';
import { auto, consoleNotifier, localRepository, localTarget, manual, memorySource, oneAtATime, pipeline, tarball } from '@ringmaster/core';

const hosts = (ring: string, n: number) =>
  localTarget({ root: \`.ringmaster/hosts/\${ring}\`, hosts: Array.from({ length: n }, (_, i) => \`\${ring}-\${i + 1}\`) });

const app = pipeline({
  name: 'app',
  // Replace with git({ url, branch }) from @ringmaster/vcs-git or svn({ url, line }) from @ringmaster/vcs-svn.
  source: memorySource({ commits: [{ files: { 'index.html': '<h1>hello</h1>\\n' }, message: 'first', author: 'me' }] }),
  build: { steps: [], output: '.' },
  // Replace with deb({ … }) and aptRepository({ … }) from @ringmaster/pkg-deb.
  packager: tarball({ name: 'app' }),
  repository: localRepository({ dir: '.ringmaster/repository' }),
  rings: [
    { name: 'eng', target: hosts('eng', 1), policy: auto() },
    { name: 'sandbox', target: hosts('sandbox', 2), policy: auto() },
    // Other policies: soak('24h'), window({ days: ['mon-thu'], hours: '10:00-16:00', timeZone: 'UTC' }),
    // freeze({ reason }), and all(…) / any(…) to combine them.
    { name: 'prod', target: hosts('prod', 3), rollout: oneAtATime(), policy: manual() },
  ],
  notifiers: [consoleNotifier()],
});

export default defineConfig({ pipelines: [app], interval: '30s' });
`;

export async function initProject(cwd: string, force: boolean, io: Io): Promise<number> {
  const file = join(cwd, 'ringmaster.config.ts');
  if (existsSync(file) && !force) {
    io.err(`${file} exists; pass --force to overwrite it`);
    return EXIT.USAGE;
  }
  await writeFile(file, TEMPLATE);
  io.out(`wrote ${file}; try: ringmaster watch --once && ringmaster status`);
  return EXIT.OK;
}
