/** The sshd_config of a test host: loopback only, root by key only, SFTP, TCP forwarding. */

export function sshdConfig(o: {
  port: number;
  hostKeys: string[];
  pidFile: string;
  authorizedKeys: string;
  extra: string[];
}): string {
  // sshd keeps the first value of an option: the caller's lines come first.
  return [
    ...o.extra,
    `Port ${o.port}`,
    'ListenAddress 127.0.0.1',
    ...o.hostKeys.map((k) => `HostKey ${k}`),
    `PidFile ${o.pidFile}`,
    `AuthorizedKeysFile ${o.authorizedKeys}`,
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    // The fixture lives in a world-readable temp directory.
    'StrictModes no',
    'AllowTcpForwarding yes',
    'MaxSessions 64',
    'MaxStartups 200',
    'UseDNS no',
    'PrintMotd no',
    'Subsystem sftp internal-sftp',
    'LogLevel VERBOSE',
    '',
  ].join('\n');
}
