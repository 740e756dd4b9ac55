/**
 * `@ringmaster/target-ssh`: the `ssh()` Target — installs .deb artifacts on real hosts over SSH
 * (ssh2, one pooled connection per host), checks host keys against known_hosts, reaches hosts
 * through a bastion, runs hooks, restarts services and health checks.
 *
 * @module
 */
export {
  appendKnownHost,
  fingerprint,
  type HostKeyVerdict,
  hashHostName,
  type KnownHostEntry,
  knownHostsName,
  parseKnownHosts,
  preferredHostKeyAlgorithms,
  verifyHostKey,
} from './known-hosts.js';
export {
  type AptSource,
  aptSourceSchema,
  hostSchema,
  REMOTE_PATH,
  type ResolvedSshOptions,
  SERVICE_NAME,
  type SshHost,
  type SshOptions,
  sshOptionsSchema,
} from './options.js';
export { type SshTarget, ssh } from './target.js';
