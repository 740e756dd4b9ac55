#!/usr/bin/env node
// Builds every workspace package with tsup. A package starts once the workspace packages it
// depends on are built (their type declarations are read from dist/), as many at once as there
// are cores. tsup's own lines go to .build.log; the console gets one summary line, or, when a
// package fails to build, that package's output.
//
//   npm run build                (what `npm test` and `npm run demo` call)
//   npm run build -- --verbose   (tsup's output on the console as well)
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const verbose = process.argv.includes('--verbose');
const logFile = join(root, '.build.log');
const shown = relative(process.cwd(), logFile) || '.build.log';
const tsup = join(root, 'node_modules', '.bin', 'tsup');

const packages = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  .workspaces.map((workspace) => {
    const manifest = JSON.parse(readFileSync(join(root, workspace, 'package.json'), 'utf8'));
    const deps = Object.keys({
      ...manifest.dependencies,
      ...manifest.peerDependencies,
      ...manifest.devDependencies,
    });
    return { workspace, name: manifest.name, deps, buildable: Boolean(manifest.scripts?.build) };
  })
  .filter((p) => p.buildable);
const names = new Set(packages.map((p) => p.name));
for (const p of packages) p.deps = p.deps.filter((d) => names.has(d));

/** Runs tsup in one package; resolves with its exit status and output. */
function buildOne(p) {
  return new Promise((resolve) => {
    // NO_COLOR: the log is read in an editor, not a terminal.
    const child = spawn(tsup, [], { cwd: join(root, p.workspace), env: { ...process.env, NO_COLOR: '1' } });
    let output = '';
    child.stdout.on('data', (c) => (output += c));
    child.stderr.on('data', (c) => (output += c));
    child.on('error', (error) => resolve({ p, status: null, output: `${output}${error.message}\n` }));
    child.on('close', (status) => resolve({ p, status, output }));
  });
}

const started = performance.now();
const built = new Set();
const running = new Map();
const logs = new Map();
const failures = [];
let warnings = 0;
const settle = ({ p, status, output }) => {
  running.delete(p.name);
  logs.set(p.name, `── ${p.name} (${p.workspace})\n${output}\n`);
  warnings += output.match(/\bWARN\b|\[WARNING\]/g)?.length ?? 0;
  if (verbose) process.stdout.write(output);
  if (status === 0) built.add(p.name);
  else failures.push({ p, status, output });
};
// After a failure nothing new starts; what is running is let finish and logged.
while (failures.length === 0 && built.size < packages.length) {
  for (const p of packages) {
    if (running.size >= availableParallelism()) break;
    if (built.has(p.name) || running.has(p.name) || !p.deps.every((d) => built.has(d))) continue;
    running.set(p.name, buildOne(p));
  }
  if (running.size === 0) throw new Error('workspace packages depend on each other in a cycle');
  settle(await Promise.race(running.values()));
}
for (const result of await Promise.all(running.values())) settle(result);
writeFileSync(logFile, packages.map((p) => logs.get(p.name) ?? '').join(''));
if (failures.length > 0) {
  for (const { p, status, output } of failures) {
    if (!verbose) process.stderr.write(output);
    const why = status === null ? 'tsup could not run' : `exit ${status}`;
    process.stderr.write(`\nbuild of ${p.name} failed (${why}); log: ${shown}\n`);
  }
  process.exit(1);
}
const seconds = ((performance.now() - started) / 1000).toFixed(1);
const note = warnings > 0 ? `, ${warnings} warning${warnings === 1 ? '' : 's'}` : '';
console.log(`built ${packages.length} packages (ESM, CJS, types) in ${seconds} s${note}; log: ${shown}`);
