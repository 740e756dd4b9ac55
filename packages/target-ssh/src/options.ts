/**
 * The options of `ssh()`: one zod schema, validated once at the factory. Everything that later
 * crosses into a remote shell (service names, hook argv, paths, URLs) is checked here first.
 */
import { SAFE_NAME } from '@ringmaster/core/adapter';
import { z } from 'zod';

/**
 * systemd unit names: letters, digits, `@ . _ : -`.
 *
 * @example
 * ```ts
 * SERVICE_NAME.test('foostat@1.service'); // true
 * ```
 */
export const SERVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9@._:-]{0,127}$/;
/**
 * An absolute remote path without spaces or shell metacharacters (`..` is refused separately).
 *
 * @example
 * ```ts
 * REMOTE_PATH.test('/var/tmp/deploy'); // true
 * ```
 */
export const REMOTE_PATH = /^\/(?:[A-Za-z0-9._+-]+\/?)*$/;

const argv = z
  .array(z.string().refine((s) => !s.includes('\0'), 'must not contain NUL bytes'))
  .min(1, 'must be a non-empty argv array, e.g. ["systemctl", "restart", "web"]');

const remotePath = z
  .string()
  .regex(
    REMOTE_PATH,
    'must be an absolute path of letters, digits and . _ + - (no spaces, no shell characters)',
  )
  .refine((p) => !p.split('/').includes('..'), 'must not contain ".."');

/** One host of an ssh target: its name in the ledger, address, port and user. */
export const hostSchema = z.object({
  /** Unique name in the ledger. */
  name: z.string().regex(SAFE_NAME, 'must be letters, digits, . _ - (at most 63 characters)'),
  /** IP address or DNS name. @default the name */
  address: z
    .string()
    .regex(/^[A-Za-z0-9:.%_-]+$/, 'must be a host name or an IP address')
    .optional(),
  port: z.number().int().min(1).max(65535).default(22),
  user: z
    .string()
    .regex(/^[a-z_][a-z0-9_.-]{0,31}$/, 'must be a POSIX user name')
    .default('root'),
});

const jumpHostSchema = hostSchema.extend({
  name: hostSchema.shape.name.default('bastion'),
  address: z.string().regex(/^[A-Za-z0-9:.%_-]+$/, 'must be a host name or an IP address'),
});

const healthCheckSchema = z
  .union([
    z.object({ command: argv, url: z.undefined().optional() }),
    z.object({
      url: z
        .string()
        .url('must be an http(s) URL')
        .refine((u) => /^https?:\/\//.test(u), 'must be an http:// or https:// URL'),
      command: z.undefined().optional(),
    }),
  ])
  .and(
    z.object({
      /** How many attempts at most. @default 10 */
      retries: z.number().int().min(1).max(1000).default(10),
      /** Pause between attempts. @default 1000 */
      intervalMs: z.number().int().min(0).default(1000),
      /** Give up after this long, whatever `retries` says. @default 60000 */
      deadlineMs: z.number().int().min(1).default(60_000),
    }),
  );

/**
 * A URL for a line of sources.list: `http://`, `https://` or `file:/`, of characters that cannot
 * end the URL field or open an option (no whitespace, quotes, brackets, `#`).
 *
 * @example
 * ```ts
 * APT_URL.test('http://apt.example.com/ringmaster/'); // true
 * ```
 */
export const APT_URL = /^(?:https?:\/\/[A-Za-z0-9._~%-]|file:\/)[A-Za-z0-9._~%!$&()*+,;=:@/?-]*$/;

const safeName = (example: string) =>
  z.string().regex(SAFE_NAME, `must be a plain name such as ${example} (letters, digits, . _ -)`);

/** The repository `installMode: 'apt'` installs from, written on each host before `apt-get update`. */
export const aptSourceSchema = z.strictObject({
  /** The repository's URL, as the hosts reach it. */
  url: z
    .string()
    .refine(
      (u) => APT_URL.test(u) && URL.canParse(u),
      'must be an http://, https:// or file:/ URL without spaces, quotes, brackets or #',
    )
    .refine(
      (u) => !URL.canParse(u) || (new URL(u).username === '' && new URL(u).password === ''),
      'must not carry a user or password (the sources file is world-readable): use /etc/apt/auth.conf.d on the hosts',
    ),
  /** The suite hosts of this target install from: a ring's suite, e.g. `prod`. */
  suite: safeName('prod'),
  /** @default 'main' */
  component: safeName('main').default('main'),
  /** Local path of the repository's public key (armored or binary); read at install, not at `ssh()`. */
  keyFile: z.string().min(1, "must be the path of the repository's public key"),
  /** The files' base name: `/etc/apt/keyrings/<name>.asc`, `/etc/apt/sources.list.d/<name>.list`. @default 'ringmaster' */
  name: safeName('ringmaster').default('ringmaster'),
});

const timeoutsSchema = z
  .object({
    /** TCP connect plus SSH handshake and authentication. @default 10000 */
    connectMs: z.number().int().min(1).default(10_000),
    /** Default limit for one remote command. @default 120000 */
    commandMs: z.number().int().min(1).default(120_000),
    /** Limit for sending one package to a host (the upload, on the install command's stdin). @default 300000 */
    uploadMs: z.number().int().min(1).default(300_000),
    /**
     * How long to wait for one package-manager command (dpkg, apt-get install, dpkg -r). When it
     * passes we stop waiting (TIMEOUT) but dpkg is never signalled: it finishes on the host, and
     * the host reads as half-configured until it does. @default none (the rollout's hostTimeout bounds the host step)
     */
    installMs: z.number().int().min(1).optional(),
    /** Interval of SSH keepalive messages; 0 disables them. @default 15000 */
    keepaliveMs: z.number().int().min(0).default(15_000),
    /** Unanswered keepalives before the connection counts as dead. @default 3 */
    keepaliveCountMax: z.number().int().min(1).default(3),
  })
  .default({
    connectMs: 10_000,
    commandMs: 120_000,
    uploadMs: 300_000,
    keepaliveMs: 15_000,
    keepaliveCountMax: 3,
  });

/**
 * The options of {@link ssh}.
 *
 * @example
 * ```ts
 * const options = sshOptionsSchema.parse({ hosts: [{ name: 'web-1', address: '10.0.0.11' }], privateKey: '~/.ssh/id_ed25519' });
 * ```
 */
export const sshOptionsSchema = z
  .object({
    /** The hosts of this target. */
    hosts: z
      .array(hostSchema)
      .min(1, 'must list at least one host')
      .refine((hs) => new Set(hs.map((h) => h.name)).size === hs.length, 'host names must be unique'),
    /** Path of the private key file (OpenSSH or PEM format). */
    privateKey: z.string().min(1).optional(),
    /** Passphrase of the private key. Never logged, never in an error message. */
    passphrase: z.string().optional(),
    /** Use an ssh-agent: `true` for `$SSH_AUTH_SOCK`, or the agent's socket path. */
    agent: z.union([z.boolean(), z.string().min(1)]).optional(),
    /** known_hosts files (plain and hashed `|1|` entries). @default ['~/.ssh/known_hosts'] */
    knownHosts: z.array(z.string().min(1)).min(1).default(['~/.ssh/known_hosts']),
    /** Accept a host's key when known_hosts has none for it, and append it to the first file. @default false */
    trustOnFirstUse: z.boolean().default(false),
    /** A bastion to connect through (`direct-tcpip` forwarding); uses the same key and known_hosts. */
    jumpHost: jumpHostSchema.optional(),
    /** Prefix privileged commands (dpkg, apt-get, systemctl) with `sudo -n`. @default false */
    sudo: z.boolean().default(false),
    /** `upload`: send the .deb over the SSH connection and `dpkg -i` it; `apt`: `apt-get install name=version` from the host's sources. @default 'upload' */
    installMode: z.enum(['upload', 'apt']).default('upload'),
    /**
     * `apt-get update` before an apt install: `true` fetches every source's lists, `'source'`
     * only the `aptSource`'s (another repository that is slow or down then neither holds up nor
     * fails a deploy, but the other lists are as fresh as their last full update), `false` none.
     * A source that just changed is fetched whatever this says. @default true
     */
    aptUpdate: z.union([z.boolean(), z.literal('source')]).default(true),
    /**
     * With `installMode: 'apt'`: the repository to install from, written on each host (key in
     * `/etc/apt/keyrings`, a `signed-by` line in `/etc/apt/sources.list.d`) when it differs.
     */
    aptSource: aptSourceSchema.optional(),
    /** systemd services to `systemctl restart` after an install. @default [] */
    services: z
      .array(z.string().regex(SERVICE_NAME, 'must be a systemd unit name (letters, digits, @ . _ : -)'))
      .default([]),
    /** An argv to run after an install instead of `systemctl restart <services>`. */
    restart: argv.optional(),
    /** Checked after each install (and by `healthCheck()`): a command on the host, or a URL fetched from it with curl. */
    healthCheck: healthCheckSchema.optional(),
    /** Commands around each host's install; `{host}` in an argument becomes the host's name. */
    hooks: z
      .object({
        /** E.g. take the host out of the load balancer. */
        beforeInstall: argv.optional(),
        /** E.g. put it back. Runs after the health check passed. */
        afterInstall: argv.optional(),
      })
      .default({}),
    /**
     * Packages up to this many bytes are read once into memory (and their sha256 checked there)
     * and sent to every host from that one copy; larger ones are streamed from disk to each host.
     * 0 streams every package. @default 67108864 (64 MiB)
     */
    uploadCacheBytes: z
      .number()
      .int()
      .min(0)
      .default(64 * 1024 * 1024),
    /**
     * Upload bytes sent that the host's sshd has not yet taken (passed on to the install
     * command). A small number keeps sshd's channel buffer small, which saves the host CPU on a
     * fast network (see in-flight.ts); for a far host, make it at least bandwidth × round trip
     * (100 Mbit/s × 80 ms is 1 MB). Never below half the server's window plus 64 KiB (a server may
     * give window back only then): with OpenSSH's 2 MiB window, any value up to 1 MiB acts as
     * 1 MiB + 64 KiB. 0: as much as the server's window allows.
     * @default 1048576 (1 MiB)
     */
    uploadInFlightBytes: z
      .number()
      .int()
      .min(0)
      .refine((n) => n === 0 || n >= 128 * 1024, {
        message:
          'must be 0 (the server window) or at least 131072 (128 KiB): sshd gives window back about every 96 KiB',
      })
      .default(1024 * 1024),
    /** Remote directory for uploads (each gets a directory of its own, made by the host). @default '/tmp' */
    tmpDir: remotePath.default('/tmp'),
    /** Hosts worked on at once. @default 16 */
    concurrency: z.number().int().min(1).max(1024).default(16),
    /**
     * SSH handshakes in flight at once, over all hosts: a fan-out to hundreds of hosts opens its
     * connections a few at a time, not all at once (a bounded burst of CPU here, of half-open
     * connections through NAT, firewalls and load balancers on the way). @default 10
     */
    connectConcurrency: z.number().int().min(1).max(256).default(10),
    /** SSH channels (commands, uploads) open at once on one connection; keep under sshd's MaxSessions. @default 8 */
    channelsPerHost: z.number().int().min(1).max(64).default(8),
    timeouts: timeoutsSchema,
  })
  .refine((o) => o.privateKey !== undefined || o.agent !== undefined, {
    message: 'give a privateKey path or agent: true',
    path: ['privateKey'],
  })
  .refine((o) => o.aptUpdate !== 'source' || o.aptSource !== undefined, {
    message: "aptUpdate: 'source' needs an aptSource (the source whose lists it fetches)",
    path: ['aptUpdate'],
  })
  .refine((o) => o.aptSource === undefined || o.installMode === 'apt', {
    message: "is used by installMode: 'apt' only; set installMode: 'apt' or remove it",
    path: ['aptSource'],
  });

/**
 * What a user passes to {@link ssh}.
 *
 * @example
 * ```ts
 * const options: SshOptions = { hosts: [{ name: 'web-1', address: '10.0.0.11' }], agent: true };
 * ```
 */
export type SshOptions = z.input<typeof sshOptionsSchema>;
/**
 * The options after validation and defaults.
 *
 * @example
 * ```ts
 * const resolved: ResolvedSshOptions = sshOptionsSchema.parse(options);
 * ```
 */
export type ResolvedSshOptions = z.output<typeof sshOptionsSchema>;
/**
 * One host of the target, after defaults.
 *
 * @example
 * ```ts
 * const host: SshHost = { name: 'web-1', address: '10.0.0.11', port: 22, user: 'root' };
 * ```
 */
export type SshHost = z.output<typeof hostSchema>;
/**
 * The `aptSource` option, after defaults.
 *
 * @example
 * ```ts
 * const source: AptSource = { url: 'http://10.0.0.5/apt/', suite: 'prod', component: 'main', keyFile: 'repo.asc', name: 'ringmaster' };
 * ```
 */
export type AptSource = z.output<typeof aptSourceSchema>;
