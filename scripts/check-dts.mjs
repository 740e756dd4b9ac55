#!/usr/bin/env node
// Meta-test against drift between the sources and what we publish: a consumer project that
// imports every package's public entry points by name type-checks against the BUILT .d.ts
// files (as ESM with NodeNext resolution, as a user's project would).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const specs = [];
for (const dir of readdirSync(join(root, 'packages'))) {
  const manifest = join(root, 'packages', dir, 'package.json');
  if (!existsSync(manifest)) continue;
  const pkg = JSON.parse(readFileSync(manifest, 'utf8'));
  for (const sub of Object.keys(pkg.exports ?? {})) {
    if (sub.endsWith('package.json')) continue;
    specs.push(sub === '.' ? pkg.name : `${pkg.name}/${sub.slice(2)}`);
  }
}
const dir = mkdtempSync(join(root, 'node_modules', '.check-dts-'));
try {
  // The same entry points as an ES module and as CommonJS, each through its own .d.ts.
  writeFileSync(
    join(dir, 'consumer.mts'),
    specs.map((s, i) => `import * as m${i} from '${s}';\nvoid m${i};`).join('\n'),
  );
  writeFileSync(
    join(dir, 'consumer.cts'),
    specs.map((s, i) => `import m${i} = require('${s}');\nvoid m${i};`).join('\n'),
  );
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        target: 'ES2022',
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        types: ['node'],
      },
      files: ['consumer.mts', 'consumer.cts'],
    }),
  );
  execFileSync(join(root, 'node_modules', '.bin', 'tsc'), ['-p', dir], { stdio: 'inherit' });
  console.log(
    `built .d.ts files type-check as ESM and CJS for ${specs.length} entry points: ${specs.join(', ')}`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
