#!/usr/bin/env node
// Lints every workspace package's manifest and built output with publint: the exports map
// points at files that exist, `types` come first, ESM/CJS formats match their extensions. And
// what `npm pack` would publish carries the project's LICENSE and the package's README.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';

const packagesDir = new URL('../packages/', import.meta.url).pathname;
const license = readFileSync(new URL('../LICENSE', import.meta.url), 'utf8');
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
  const unpublished = [];
  const [packed] = JSON.parse(
    execFileSync('npm', ['pack', '--dry-run', '--json'], {
      cwd: dir,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }),
  );
  const published = new Set(packed.files.map((f) => f.path));
  for (const file of ['LICENSE', 'README.md']) {
    if (!published.has(file)) unpublished.push(`npm pack would publish no ${file}`);
  }
  if (published.has('LICENSE') && readFileSync(join(dir, 'LICENSE'), 'utf8') !== license) {
    unpublished.push("LICENSE differs from the project's LICENSE");
  }
  for (const problem of unpublished) console.log(`${pkg.name}: error: ${problem}`);
  failed += bad.length + unpublished.length;
  if (bad.length + unpublished.length === 0) console.log(`${pkg.name}: manifest ok`);
}
if (failed > 0) {
  console.error(`manifests: ${failed} problem(s)`);
  process.exit(1);
}
