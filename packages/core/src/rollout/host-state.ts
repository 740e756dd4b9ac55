/**
 * What the engine knows of one package on one host: what the target reported, or that it could
 * not say. `unknown` is a state of its own, with the reason: a host that did not answer is never
 * recorded as "not installed", and nothing destructive is ever done on that guess.
 */
import type { Target } from '../contracts/target.js';
import { isRingmasterError, plainMessage } from '../errors.js';

export type HostState =
  /** Fully installed at `version`. */
  | { status: 'installed'; version: string }
  /** Present at `version` but not configured (a failed postinst, an interrupted dpkg). */
  | { status: 'half-configured'; version: string; detail?: string }
  /** The host reported the package not installed. */
  | { status: 'absent' }
  /** The host could not be asked: `code` is the error's (`TARGET`, `HOST_KEY`, `TIMEOUT`, …). */
  | { status: 'unknown'; code: string; reason: string };

/** Asks the target what `host` has of `pkg`. Never throws: a failed read is `unknown`, with why. */
export async function observe(target: Target, host: string, pkg: string): Promise<HostState> {
  try {
    const found = await target.installed(host, pkg);
    if (!found) return { status: 'absent' };
    return found.status === 'installed'
      ? { status: 'installed', version: found.version }
      : {
          status: 'half-configured',
          version: found.version,
          ...(found.detail ? { detail: found.detail } : {}),
        };
  } catch (error) {
    return {
      status: 'unknown',
      code: isRingmasterError(error) ? error.code : 'TARGET',
      reason: error instanceof Error ? error.message : String(error),
    };
  }
}

/** True when the host runs exactly `version`, fully installed. */
export function runs(state: HostState | undefined, version: string | undefined): boolean {
  return version !== undefined && state?.status === 'installed' && state.version === version;
}

/** True when two readings say the same thing (an unknown never equals anything). */
export function sameState(a: HostState, b: HostState): boolean {
  if (a.status === 'unknown' || b.status === 'unknown') return false;
  if (a.status === 'absent' || b.status === 'absent') return a.status === b.status;
  return a.status === b.status && a.version === b.version;
}

/**
 * The reason of an error as a person reads it next to the host's name: without the
 * `[ringmaster] [scope]` prefix and the `host NAME:` the message repeats, first line only.
 */
export function shortReason(reason: string): string {
  return (
    plainMessage(reason)
      .replace(/^host [^\s:]+: /, '')
      .split('\n')[0] ?? ''
  );
}

/** `1.0.3`, `nothing`, `1.0.3 (half-configured: unpacked)`, `unknown (TIMEOUT: timed out …)`. */
export function describeState(state: HostState): string {
  switch (state.status) {
    case 'installed':
      return state.version;
    case 'absent':
      return 'nothing';
    case 'half-configured':
      return `${state.version} (half-configured${state.detail && state.detail !== 'half-configured' ? `: ${state.detail}` : ''})`;
    case 'unknown':
      return `unknown (${state.code}: ${shortReason(state.reason)})`;
  }
}
