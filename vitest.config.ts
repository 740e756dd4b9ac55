import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      { find: /^@ringmaster\/core$/, replacement: src('./packages/core/src/index.ts') },
      { find: /^@ringmaster\/core\/adapter$/, replacement: src('./packages/core/src/adapter.ts') },
      { find: /^@ringmaster\/core\/testing$/, replacement: src('./packages/core/src/testing/index.ts') },
    ],
  },
  test: {
    // Fails the run if a test wrote to the machine's own root or apt configuration.
    globalSetup: ['test/global-setup.ts'],
    include: ['packages/*/test/**/*.test.ts', 'examples/**/*.test.ts', 'test/**/*.test.ts'],
    // Two test files at a time: most of a file's time is waiting on real processes (sshd hosts,
    // PostgreSQL, dpkg, Chromium), so two fit on two cores; more starve the timing-sensitive ones.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    typecheck: { enabled: true, include: ['packages/*/test/**/*.test-d.ts'], tsconfig: './tsconfig.json' },
  },
});
