#!/usr/bin/env node
// Lints every workspace package's manifest and built output with publint: the exports map
// points at files that exist, `types` come first, ESM/CJS formats match their extensions.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';

const packagesDir = new URL('../packages/', import.meta.url).pathname;
let failed = 0;
for (const name of readdirSync(packagesDir)) {
  const dir = join(packagesDir, name);
  if (!existsSync(join(dir, 'package.json'))) continue;
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const { messages } = await publint({ pkgDir: dir, level: 'warning', strict: true });
  for (const message of messages) {
    console.log(`${pkg.name}: ${message.type}: ${formatMessage(message, pkg)}`);
  }
  const bad = messages.filter((m) => m.type === 'error' || m.type === 'warning');
  failed += bad.length;
  if (bad.length === 0) console.log(`${pkg.name}: manifest ok`);
}
if (failed > 0) {
  console.error(`publint: ${failed} problem(s)`);
  process.exit(1);
}
