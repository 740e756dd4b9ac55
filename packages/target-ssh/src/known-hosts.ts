/**
 * known_hosts, read the way OpenSSH reads it: plain and hashed (`|1|salt|hmac`) host patterns,
 * `[host]:port` for non-default ports, wildcards and negations, `@revoked` markers. Used by the
 * connection's host verifier, which runs before authentication.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname } from 'node:path';

/** One usable line of a known_hosts file. */
export interface KnownHostEntry {
  marker?: '@revoked' | '@cert-authority';
  patterns: string;
  keyType: string;
  /** The key blob, base64 as in the file. */
  key: string;
}

/** What known_hosts says about a key a host presented. */
export type HostKeyVerdict =
  | { status: 'known' }
  | { status: 'unknown' }
  | { status: 'changed'; expected: string[] }
  | { status: 'revoked' };

/** `~/x` → `$HOME/x`.
 *
 * @example
 * ```ts
 * expandHome('~/.ssh/known_hosts'); // '/root/.ssh/known_hosts'
 * ```
 */
export function expandHome(path: string): string {
  return path === '~' || path.startsWith('~/') ? homedir() + path.slice(1) : path;
}

/**
 * The name OpenSSH looks up: `host` on port 22, `[host]:port` otherwise.
 *
 * @example
 * ```ts
 * knownHostsName('10.0.0.5', 2222); // '[10.0.0.5]:2222'
 * ```
 */
export function knownHostsName(address: string, port: number): string {
  return port === 22 ? address : `[${address}]:${port}`;
}

/**
 * OpenSSH's fingerprint of a key blob: `SHA256:` + unpadded base64 of its SHA-256.
 *
 * @example
 * ```ts
 * fingerprint(Buffer.from(line.split(' ')[1], 'base64')); // 'SHA256:…' as ssh-keygen -l prints
 * ```
 */
export function fingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** The key type named inside an SSH public key blob (its first string). */
export function keyTypeOf(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return 'unknown';
  const length = keyBlob.readUInt32BE(0);
  return keyBlob.subarray(4, 4 + length).toString('latin1');
}

/**
 * Parses known_hosts text; comments, blank and malformed lines are ignored.
 *
 * @example
 * ```ts
 * parseKnownHosts('[10.0.0.5]:2222 ssh-ed25519 AAAA…'); // [{ patterns: '[10.0.0.5]:2222', keyType: 'ssh-ed25519', key: 'AAAA…' }]
 * ```
 */
export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    let marker: KnownHostEntry['marker'];
    if (fields[0] === '@revoked' || fields[0] === '@cert-authority') {
      marker = fields.shift() as KnownHostEntry['marker'];
    } else if (fields[0]?.startsWith('@')) {
      continue;
    }
    const [patterns, keyType, key] = fields;
    if (!patterns || !keyType || !key) continue;
    entries.push({ ...(marker ? { marker } : {}), patterns, keyType, key });
  }
  return entries;
}

function wildcard(pattern: string, name: string): boolean {
  const re = new RegExp(
    `^${pattern
      .split('')
      .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
      .join('')}$`,
    'i',
  );
  return re.test(name);
}

function hashedMatch(pattern: string, name: string): boolean {
  // |1|base64(salt)|base64(HMAC-SHA1(salt, name))
  const parts = pattern.split('|');
  if (parts.length !== 4 || parts[1] !== '1') return false;
  const salt = Buffer.from(parts[2]!, 'base64');
  const expected = Buffer.from(parts[3]!, 'base64');
  const actual = createHmac('sha1', salt).update(name).digest();
  return expected.length === actual.length && expected.equals(actual);
}

/** True when the entry's host patterns match `name` (e.g. `[10.0.0.1]:2222`). */
export function patternsMatch(patterns: string, name: string): boolean {
  if (patterns.startsWith('|')) return hashedMatch(patterns, name);
  let matched = false;
  for (const p of patterns.split(',')) {
    if (p.startsWith('!')) {
      if (wildcard(p.slice(1), name)) return false;
    } else if (wildcard(p, name)) {
      matched = true;
    }
  }
  return matched;
}

/**
 * Judges the key `keyBlob` presented by `name` against the entries: known, unknown, changed
 * (with the expected fingerprints) or revoked.
 *
 * @example
 * ```ts
 * verifyHostKey(parseKnownHosts(text), '[10.0.0.5]:2222', keyBlob).status; // 'known'
 * ```
 */
export function verifyHostKey(
  entries: readonly KnownHostEntry[],
  name: string,
  keyBlob: Buffer,
): HostKeyVerdict {
  const key64 = keyBlob.toString('base64');
  const type = keyTypeOf(keyBlob);
  const forHost = entries.filter((e) => e.marker !== '@cert-authority' && patternsMatch(e.patterns, name));
  if (forHost.some((e) => e.marker === '@revoked' && e.key === key64)) return { status: 'revoked' };
  const plain = forHost.filter((e) => e.marker === undefined);
  if (plain.some((e) => e.keyType === type && e.key === key64)) return { status: 'known' };
  if (plain.length === 0) return { status: 'unknown' };
  return {
    status: 'changed',
    expected: plain.map((e) => `${e.keyType} ${fingerprint(Buffer.from(e.key, 'base64'))}`),
  };
}

/** Host key algorithms ssh2 knows, by the key type known_hosts records. */
const ALGORITHMS_BY_KEY_TYPE: Record<string, string[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
};

/**
 * The host key algorithms to ask `name` for first: those of the keys known_hosts already has
 * for it (as OpenSSH does). Without this, a host with several keys may offer one we have no
 * entry for, and a known host would look changed.
 *
 * @example
 * ```ts
 * preferredHostKeyAlgorithms(entries, '[10.0.0.5]:2222'); // ['ecdsa-sha2-nistp256']
 * ```
 */
export function preferredHostKeyAlgorithms(entries: readonly KnownHostEntry[], name: string): string[] {
  const out: string[] = [];
  for (const e of entries) {
    if (e.marker !== undefined || !patternsMatch(e.patterns, name)) continue;
    for (const algorithm of ALGORITHMS_BY_KEY_TYPE[e.keyType] ?? []) {
      if (!out.includes(algorithm)) out.push(algorithm);
    }
  }
  return out;
}

/** Reads and parses every file; a missing file counts as empty. */
export async function loadKnownHosts(files: readonly string[]): Promise<KnownHostEntry[]> {
  const all: KnownHostEntry[] = [];
  for (const file of files) {
    try {
      all.push(...parseKnownHosts(await readFile(expandHome(file), 'utf8')));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return all;
}

/**
 * Appends `name type key` to `file` (creating it), as trust-on-first-use does.
 *
 * @example
 * ```ts
 * await appendKnownHost('~/.ssh/known_hosts', '[10.0.0.5]:2222', keyBlob);
 * ```
 */
export async function appendKnownHost(file: string, name: string, keyBlob: Buffer): Promise<void> {
  const path = expandHome(file);
  await mkdir(dirname(path), { recursive: true });
  let prefix = '';
  try {
    const current = await readFile(path, 'utf8');
    if (current.length > 0 && !current.endsWith('\n')) prefix = '\n';
  } catch {
    // new file
  }
  await appendFile(path, `${prefix}${name} ${keyTypeOf(keyBlob)} ${keyBlob.toString('base64')}\n`, {
    mode: 0o600,
  });
}

/**
 * A hashed host pattern for `name`, as `ssh-keygen -H` writes it (for tests and tools).
 *
 * @example
 * ```ts
 * `${hashHostName('[10.0.0.5]:2222')} ssh-ed25519 AAAA…`; // '|1|salt|hmac ssh-ed25519 AAAA…'
 * ```
 */
export function hashHostName(name: string, salt: Buffer = randomBytes(20)): string {
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
}
