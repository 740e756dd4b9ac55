/**
 * `@ringmaster/target-ssh/testing`: real OpenSSH test hosts on loopback, each in its own mount
 * namespace, for this package's tests, core's rollout tests and users' own pipelines.
 *
 * @module
 */
export {
  HOST_DIRS,
  type StartTestHostsOptions,
  startTestHosts,
  type TestHost,
  type TestHosts,
} from './hosts.js';
export {
  type FaultProxy,
  type MisbehavingServer,
  type Misbehaviour,
  startFaultProxy,
  startMisbehavingServer,
} from './misbehaving.js';
