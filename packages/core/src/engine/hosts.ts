/**
 * Which of a ring's hosts a piece of work touches: the ones in rotation (a host a person
 * disabled is skipped by every rollout and gate), narrowed to the ones a person named with
 * `--limit` (names or globs, Ansible's habit). A name or glob that matches no host of the ring is
 * an error naming it, never an empty rollout.
 */
import { RingmasterError } from '../errors.js';
import type { RingState } from '../ledger/state.js';
import type { Ring } from '../model/pipeline.js';

/**
 * `prod-*`, `prod-[12]`, `prod-[!1]`, `db?` as a regular expression over a whole host name; a
 * class that is no class (`[z-a]`, `[!]`) is a `CONFIG` error naming it.
 */
function globRegExp(glob: string, flag: string): RegExp {
  const bad = (why: string) =>
    new RingmasterError('CONFIG', `${flag}: "${glob}": ${why}`, { scope: 'engine' });
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      while (glob[i + 1] === '*') i++; // one star matches what many would, without backtracking
      out += '.*';
    } else if (c === '?') out += '.';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end === -1) out += '\\[';
      else {
        const negated = glob[i + 1] === '!';
        const body = glob.slice(i + (negated ? 2 : 1), end);
        if (!/^[A-Za-z0-9._-]+$/.test(body))
          throw bad('expected a class of letters, digits or ranges such as [1-3]');
        out += `[${negated ? '^' : ''}${body}]`;
        i = end;
      }
    } else out += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  try {
    return new RegExp(`^${out}$`);
  } catch {
    throw bad('not a host pattern (a range such as [3-1]?)');
  }
}

/**
 * The ring's hosts that `limit` names (comma-separated names or globs), in the ring's order.
 * Throws `CONFIG` naming a part that matches no host of the ring.
 */
export function matchHosts(ring: Ring, limit: string, flag = '--limit'): string[] {
  const names = ring.target.hosts.map((h) => h.name);
  const parts = limit
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (parts.length === 0)
    throw new RingmasterError('CONFIG', `${flag}: expected host names or globs such as "prod-1,prod-[23]"`, {
      scope: 'engine',
    });
  const chosen = new Set<string>();
  for (const part of parts) {
    const re = globRegExp(part, flag);
    const found = names.filter((n) => re.test(n));
    if (found.length === 0)
      throw new RingmasterError(
        'CONFIG',
        `${flag}: "${part}" matches no host of ${ring.name} (its hosts: ${names.join(', ')})`,
        { scope: 'engine' },
      );
    for (const n of found) chosen.add(n);
  }
  return names.filter((n) => chosen.has(n));
}

/** The ring's hosts in rotation (not disabled), in order. */
export function enabledHosts(ring: Ring, rs: RingState): string[] {
  return ring.target.hosts.map((h) => h.name).filter((h) => !rs.disabled.has(h));
}

/** `prod-2 (by alice: disk failure)`: a disabled host as a person reads it. */
export function describeDisabled(rs: RingState, host: string): string {
  const d = rs.disabled.get(host);
  return d ? `${host} (by ${d.by}: ${d.reason})` : host;
}

/**
 * The hosts a rollout touches: every host in rotation, or the ones `limit` names — refusing a
 * named host that is disabled (enable it first), and a ring whose every host is disabled.
 */
export function rolloutHosts(ring: Ring, rs: RingState, limit?: readonly string[]): string[] {
  if (limit) {
    const off = limit.filter((h) => rs.disabled.has(h));
    if (off.length)
      throw new RingmasterError(
        'STATE',
        `${off.map((h) => describeDisabled(rs, h)).join(', ')} ${off.length === 1 ? 'is' : 'are'} disabled in ${ring.name}; enable ${off.length === 1 ? 'it' : 'them'} first (ringmaster host enable)`,
        { scope: 'engine' },
      );
    return [...limit];
  }
  const hosts = enabledHosts(ring, rs);
  if (hosts.length === 0 && ring.target.hosts.length > 0)
    throw new RingmasterError('STATE', allDisabled(ring, rs), { scope: 'engine' });
  return hosts;
}

/** Why a ring with every host disabled takes no rollout. */
export function allDisabled(ring: Ring, rs: RingState): string {
  return `every host of ${ring.name} is disabled (${[...rs.disabled.keys()].map((h) => describeDisabled(rs, h)).join('; ')}): nothing can be rolled out there; enable one first (ringmaster host enable)`;
}
