/**
 * `@ringmaster/cli`: the `ringmaster` command, and `defineConfig` for typed config files.
 *
 * @module
 */
export { helpText, runCli } from './cli.js';
export {
  CONFIG_NAMES,
  defineConfig,
  findConfig,
  type LoadedProject,
  loadProject,
  type ProjectConfig,
  projectConfigSchema,
} from './config.js';
export { EXIT, type Io } from './output.js';
