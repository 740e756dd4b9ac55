/**
 * Loads the project config: `ringmaster.config.ts` (or `.mts`, `.js`, `.mjs`) exporting the
 * pipelines (the seed's fk-ops-build: one config describing every package and environment).
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import {
  type Access,
  type accessOptionsSchema,
  ConfigError,
  createAccess,
  createEngine,
  type Engine,
  fileStore,
  isPolicy,
  type Notifier,
  type Pipeline,
  type Policy,
  parseOptions,
  type Store,
} from '@ringmaster/core';
import { createJiti } from 'jiti';
import { z } from 'zod';

export const CONFIG_NAMES = [
  'ringmaster.config.ts',
  'ringmaster.config.mts',
  'ringmaster.config.js',
  'ringmaster.config.mjs',
];

export const projectConfigSchema = z
  .object({
    /** The pipelines, one per package. */
    pipelines: z
      .array(
        z.custom<Pipeline>(
          (v) => typeof v === 'object' && v !== null && 'rings' in v,
          'expected a pipeline(…)',
        ),
      )
      .min(1, 'expected at least one pipeline'),
    /** Ledger directory (relative to the config file). @default '.ringmaster/ledger' */
    ledger: z.string().default('.ringmaster/ledger'),
    /** A Store to use instead of the file ledger. */
    store: z
      .custom<Store>((v) => typeof (v as Store | null)?.append === 'function', 'expected a Store')
      .optional(),
    /** Scratch space (relative to the config file). @default '.ringmaster/work' */
    workDir: z.string().default('.ringmaster/work'),
    notifiers: z
      .array(
        z.custom<Notifier>(
          (v) => typeof (v as Notifier | null)?.notify === 'function',
          'expected a Notifier',
        ),
      )
      .default([]),
    /** Named policies to try with `ringmaster replay <pipeline> <ring> --policy NAME`. */
    policies: z
      .record(z.string(), z.custom<Policy>(isPolicy, 'expected a policy such as soak("24h")'))
      .default({}),
    /** Poll interval of `watch`. @default '30s' */
    interval: z.union([z.string(), z.number()]).default('30s'),
    /**
     * Who may do what: users and groups, their tokens (`ringmaster user add`), permissions per
     * ring and action. With it, the CLI needs `RINGMASTER_TOKEN` for every change, the page a
     * sign-in, and approvals count only from people who signed in. Without it, the CLI records
     * the operating-system user and the page is read-only.
     */
    access: z
      .custom<z.input<typeof accessOptionsSchema>>(
        (v) => typeof v === 'object' && v !== null,
        'expected { users, permissions }',
      )
      .optional(),
    /** The team's page. `url`: its address as people reach it, for the links in notifications. */
    web: z
      .object({
        url: z.string().url("expected the page's URL, such as https://deploy.example.com").optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/** What a `ringmaster.config.ts` exports. */
export type ProjectConfig = z.input<typeof projectConfigSchema>;

/**
 * Types a config file.
 *
 * @example
 * ```ts
 * // ringmaster.config.ts
 * import { defineConfig } from '@ringmaster/cli';
 * export default defineConfig({ pipelines: [foostat] });
 * ```
 */
export function defineConfig(config: ProjectConfig): ProjectConfig {
  return config;
}

export interface LoadedProject {
  file: string;
  config: z.output<typeof projectConfigSchema>;
  engine: Engine;
  /** Users and permissions, when the config has `access`. */
  access?: Access;
}

/** Finds the config file: the one given, or the first of CONFIG_NAMES in `cwd` or its parents. */
export function findConfig(cwd: string, explicit?: string): string {
  if (explicit) {
    const file = resolve(cwd, explicit);
    if (!existsSync(file)) throw new ConfigError('--config', `no such file ${file}`, { scope: 'cli' });
    return file;
  }
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    for (const name of CONFIG_NAMES) if (existsSync(join(dir, name))) return join(dir, name);
    if (dirname(dir) === dir) break;
  }
  throw new ConfigError(
    '--config',
    `no ${CONFIG_NAMES[0]} here or in a parent folder; run "ringmaster init" to write one, or pass --config FILE`,
    { scope: 'cli' },
  );
}

/** Loads and validates the config, and builds the engine it describes. */
export async function loadProject(
  cwd: string,
  explicit?: string,
  /** The page's address when this process serves it (`watch --serve`) and the config has no web.url. */
  servedAt?: string,
): Promise<LoadedProject> {
  const file = findConfig(cwd, explicit);
  // Resolved from the config file itself (import.meta is not there in the CommonJS build).
  const jiti = createJiti(file, { interopDefault: true, moduleCache: false });
  let exported: unknown;
  try {
    exported = await jiti.import(file, { default: true });
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(
      '',
      `cannot load ${file}: ${error instanceof Error ? error.message : String(error)}`,
      {
        scope: 'cli',
        cause: error,
      },
    );
  }
  const config = parseOptions(projectConfigSchema, exported, `cli] [${file}`, '');
  const base = dirname(file);
  const access = config.access
    ? createAccess(config.access, resolve(base, config.access.tokens ?? '.ringmaster/users.json'))
    : undefined;
  access?.check(config.pipelines);
  const engine = createEngine({
    pipelines: config.pipelines,
    store: config.store ?? fileStore({ dir: resolve(base, config.ledger) }),
    workDir: resolve(base, config.workDir),
    notifiers: config.notifiers,
    owner: `ringmaster ${process.argv[2] ?? ''}`.trim(),
    authenticatedApprovals: access !== undefined,
    ...(access?.options.breakGlass ? { breakGlass: { groups: [...access.options.breakGlass] } } : {}),
    ...((config.web?.url ?? servedAt) ? { pageUrl: config.web?.url ?? servedAt } : {}),
  });
  return { file, config, engine, ...(access ? { access } : {}) };
}
