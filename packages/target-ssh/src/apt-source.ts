/**
 * The host's apt source for `installMode: 'apt'` with `aptSource`: the repository's public key
 * as `/etc/apt/keyrings/<name>.asc` (`.gpg` when binary) and one line in
 * `/etc/apt/sources.list.d/<name>.list` that names it with `signed-by`. Written in one round
 * trip, the contents on the command's stdin (never in an argv), and only where they differ, so
 * an install that changes nothing rewrites nothing.
 */
import { readFile } from 'node:fs/promises';
import { ConfigError } from '@ringmaster/core/adapter';
import { SCOPE } from './errors.js';
import type { AptSource } from './options.js';
import type { Remote } from './remote.js';

/** What goes on a host for one `aptSource`. */
export interface AptSourceFiles {
  /** `/etc/apt/keyrings/<name>.asc` or `.gpg`. */
  keyPath: string;
  /** The key's bytes, as read from `keyFile`. */
  key: Buffer;
  /** `/etc/apt/sources.list.d/<name>.list`. */
  listPath: string;
  /** `deb [signed-by=<keyPath>] <url> <suite> <component>` and a newline. */
  list: string;
  /** The key's path under the other extension, removed if a previous key left it. */
  stalePath: string;
}

const ARMORED_PUBLIC = /^\s*-----BEGIN PGP PUBLIC KEY BLOCK-----/;

/** The OpenPGP packet tag of the first packet of a binary key (6: public key; 5: secret key). */
function firstPacketTag(bytes: Buffer): number | undefined {
  const b = bytes[0];
  if (b === undefined || (b & 0x80) === 0) return undefined;
  return b & 0x40 ? b & 0x3f : (b >> 2) & 0x0f;
}

/**
 * Reads `keyFile` and renders the files for the host. Throws a `ConfigError` naming
 * `aptSource.keyFile` when the file cannot be read or is not an OpenPGP public key (a secret
 * key is refused: it must never be copied to hosts).
 */
export async function aptSourceFiles(source: AptSource): Promise<AptSourceFiles> {
  const path = 'aptSource.keyFile';
  let key: Buffer;
  try {
    key = await readFile(source.keyFile);
  } catch (error) {
    throw new ConfigError(path, `cannot read ${source.keyFile}: ${(error as Error).message}`, {
      scope: SCOPE,
      cause: error,
    });
  }
  const head = key.subarray(0, 256).toString('latin1');
  const armored = ARMORED_PUBLIC.test(head);
  if (!armored && firstPacketTag(key) !== 6) {
    const secret = /PRIVATE KEY BLOCK/.test(head) || firstPacketTag(key) === 5;
    throw new ConfigError(
      path,
      secret
        ? `${source.keyFile} holds a secret key: give the repository's public key (gpg --export), which is what hosts verify with`
        : `${source.keyFile} is not an OpenPGP public key (armored or binary, as gpg --export writes it)`,
      { scope: SCOPE },
    );
  }
  const keyPath = `/etc/apt/keyrings/${source.name}.${armored ? 'asc' : 'gpg'}`;
  return {
    keyPath,
    key,
    listPath: `/etc/apt/sources.list.d/${source.name}.list`,
    list: `deb [signed-by=${keyPath}] ${source.url} ${source.suite} ${source.component}\n`,
    stalePath: `/etc/apt/keyrings/${source.name}.${armored ? 'gpg' : 'asc'}`,
  };
}

/**
 * Runs on the host: for each of key and list, write the new content (from the environment,
 * which arrives on stdin) to a hidden temporary file next to the target, and rename it into
 * place only when it differs. Paths are positional parameters: $1 key, $2 list, $3 stale key.
 * Prints `changed` when anything was written or removed.
 */
const WRITE_SCRIPT = [
  'set -e',
  'umask 022',
  'tk= tl=',
  `trap 'rm -f -- "$tk" "$tl"' EXIT`,
  'changed=',
  `mkdir -p -- "\${1%/*}" "\${2%/*}"`,
  `tk=$(mktemp -- "\${1%/*}/.ringmaster-key.XXXXXX")`,
  'printf %s "$RINGMASTER_APT_KEY" | base64 -d >"$tk"',
  'if ! cmp -s -- "$tk" "$1"; then chmod 0644 -- "$tk"; mv -f -- "$tk" "$1"; tk=; changed=1; fi',
  `tl=$(mktemp -- "\${2%/*}/.ringmaster-list.XXXXXX")`,
  'printf %s "$RINGMASTER_APT_LIST" >"$tl"',
  'if ! cmp -s -- "$tl" "$2"; then chmod 0644 -- "$tl"; mv -f -- "$tl" "$2"; tl=; changed=1; fi',
  'if [ -e "$3" ]; then rm -f -- "$3"; changed=1; fi',
  'if [ -n "$changed" ]; then echo changed; else echo unchanged; fi',
].join('\n');

/** Writes the source on the host where it differs; resolves true when it changed. */
export async function writeAptSource(remote: Remote, files: AptSourceFiles): Promise<boolean> {
  const result = await remote.mustRun(
    ['sh', '-c', WRITE_SCRIPT, 'ringmaster-apt-source', files.keyPath, files.listPath, files.stalePath],
    `writing the apt source ${files.listPath}`,
    {
      privileged: true,
      env: { RINGMASTER_APT_KEY: files.key.toString('base64'), RINGMASTER_APT_LIST: files.list },
    },
  );
  return result.stdout.trim().split('\n').pop() === 'changed';
}
