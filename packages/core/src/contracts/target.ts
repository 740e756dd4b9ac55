/**
 * The Target contract: host primitives. A target knows how to reach its hosts and install a
 * package on one; it knows nothing of batches, rings or policies (core's rollout does that).
 */
import type { Artifact } from './artifact.js';

export interface HostInfo {
  /** Unique name of the host within the target, used in the ledger. */
  name: string;
  /** Address, where it differs from the name. */
  address?: string;
}

export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * Environment variables for a command: a ring's vars and secrets. A target that declares
 * `capabilities.env` gives them to the command without putting them in its argv (which a host
 * shows in `ps` and may log) and never writes them anywhere.
 */
export type CommandEnv = Readonly<Record<string, string>>;

export interface RunOptions {
  timeoutMs?: number;
  /** Variables for the command (only honoured by a target with `capabilities.env`). */
  env?: CommandEnv;
}

/** Options of `install` and `healthCheck`. */
export interface InstallOptions {
  /**
   * Variables for the commands the target runs for the user around the install — its health
   * check, hooks, a custom restart (never the package manager) — when it declares `capabilities.env`.
   */
  env?: CommandEnv;
}

/**
 * What a host reports of one package: fully installed, or half-configured (the package manager
 * unpacked it but configuring it failed or was interrupted: present, yet not in service).
 */
export interface InstalledPackage {
  version: string;
  status: 'installed' | 'half-configured';
  /** The package manager's own word for a half-configured package (`unpacked`, `half-configured`, …). */
  detail?: string;
}

export interface TargetCapabilities {
  /** `remove()` can uninstall a package (used to roll back a host that had nothing before). */
  remove?: boolean;
  /** `inventory()` lists every installed package and version. */
  inventory?: boolean;
  /** `healthCheck()` is configured. */
  healthCheck?: boolean;
  /**
   * `run`, `install` and `healthCheck` honour an `env` option, passing it to the command off its
   * argv. Without it, a ring's vars and secrets reach only the gates run on the runner.
   */
  env?: boolean;
}

/**
 * Host primitives for one set of hosts. Every method takes the host name from `hosts`.
 *
 * Errors: `TARGET` with the host and the command's stderr tail; `HOST_KEY` for an unknown or
 * changed host key; `TIMEOUT` when the host did not answer in time. The engine records a host
 * whose state a call could not read as `unknown` with that code and message, never as a guess.
 */
export interface Target {
  readonly name: string;
  readonly hosts: readonly HostInfo[];
  readonly capabilities?: TargetCapabilities;
  /**
   * What the host has of a package: its version and whether it is fully installed, or
   * undefined when the host reports it not installed. Throws (`TARGET`, `HOST_KEY`, `TIMEOUT`)
   * when the host cannot be asked: never answer "not installed" for a host that did not answer.
   */
  installed(host: string, pkg: string): Promise<InstalledPackage | undefined>;
  /**
   * Installs the artifact (upgrade or downgrade) and returns once the host runs it, its health
   * check (if the target has one) passed, and it is back in service.
   */
  install(host: string, artifact: Artifact, options?: InstallOptions): Promise<void>;
  /** Runs an argv command on the host (quoted only at the transport boundary). */
  run(host: string, argv: readonly string[], options?: RunOptions): Promise<CommandResult>;
  /** Removes a package. */
  remove?(host: string, pkg: string): Promise<void>;
  /** Every installed package with its version. */
  inventory?(host: string): Promise<Record<string, string>>;
  /** Throws `TARGET` unless the host is healthy. */
  healthCheck?(host: string, options?: InstallOptions): Promise<void>;
  close?(): Promise<void>;
}
