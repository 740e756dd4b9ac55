/**
 * Paces an upload on one SSH channel: at most about `cap` bytes sent that the server has not
 * yet given back as window.
 *
 * Why: the server's window is what it will take before it has passed anything on (OpenSSH: 2 MiB
 * per session channel). On a fast network the whole window's worth is sent at once and waits in
 * sshd's channel buffer until the command reads it from its pipe, and sshd pays for a large
 * buffer in growing and compacting it (realloc, memmove, page faults). Measured on this
 * project's benchmark machine (30 OpenSSH hosts on loopback, 5 MB each into `dd`): the hosts'
 * CPU for the uploads fell from 2.7 s to 1.15–1.27 s with a cap of 512 KiB–1 MiB, and the wall
 * time from 1.6 s to 0.93 s (measured before the limit's floor of half the window plus a slice,
 * 1 MiB + 64 KiB with OpenSSH). Where the window is all in flight on the wire (a far host), a cap below
 * bandwidth × round trip limits the upload's speed: `uploadInFlightBytes` is an option.
 *
 * How: ssh2 (1.x) keeps the server's window of a channel in `channel.outgoing.window`, lowers it
 * as it sends and raises it on each WINDOW_ADJUST. The gate only watches that number (an
 * accessor that stores and returns exactly what ssh2 sets, so ssh2 sees the real window) to know
 * when the window reopens; the caller writes the next slice only while {@link InFlightGate.open}.
 * Where ssh2 keeps it elsewhere, nothing is paced: the upload goes at the server's window, as
 * without the gate.
 *
 * Two things keep the window from reopening below the cap, and neither may stall an upload:
 * - A server that gives window back only once much of it is used (some do at half of it). The
 *   cap is never below half the server's window and a slice, so such a server reopens it too.
 * - A host slow to read (a loaded host still starting the command, a slow disk). When the
 *   window stays shut `stallMs`, the gate lets the server's window alone decide until it next
 *   grows, then paces again.
 * Pacing only ever holds bytes back; it never sends more than the server allows.
 */
import type { ClientChannel } from 'ssh2';

export interface InFlightGate {
  /** Whether the gate watches the channel's window (false: every call to `open` says yes). */
  readonly paced: boolean;
  /** Whether another slice may be written now. */
  open(): boolean;
  /** Calls `then` once, when the window has grown since (or pacing was given up). */
  wait(then: () => void): void;
  /** Stops watching: leaves the channel's window a plain number again. */
  stop(): void;
  /** How often the window stayed shut `stallMs` (each time, the server's window alone decided until it grew). */
  readonly stalls: number;
}

const UNPACED: InFlightGate = {
  paced: false,
  open: () => true,
  wait: (then) => queueMicrotask(then),
  stop: () => {},
  stalls: 0,
};

/** The slice the upload writes at a time: the most the gate's cap is overshot by. */
export const SLICE_BYTES = 64 * 1024;

/** A gate on `stream`'s window, to be made before the first byte of the upload is written. */
export function inFlightGate(stream: ClientChannel, cap: number, stallMs = 250): InFlightGate {
  const outgoing = (stream as unknown as { outgoing?: unknown }).outgoing;
  if (cap <= 0 || typeof outgoing !== 'object' || outgoing === null) return UNPACED;
  const own = Object.getOwnPropertyDescriptor(outgoing, 'window');
  if (!own || typeof own.value !== 'number' || !own.writable || !own.configurable) return UNPACED;
  // Nothing is sent yet: this is the whole window the server gave.
  const full = own.value;
  const limit = Math.max(cap, Math.floor(full / 2) + SLICE_BYTES);
  if (full <= limit) return UNPACED;
  let window = full;
  let waiter: (() => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  /** The window stayed shut: the server's window alone decides until it grows. */
  let stalled = false;
  let stalls = 0;
  let stopped = false;
  const wake = () => {
    clearTimeout(timer);
    timer = undefined;
    const then = waiter;
    waiter = undefined;
    then?.();
  };
  Object.defineProperty(outgoing, 'window', {
    configurable: true,
    enumerable: true,
    get: () => window,
    set: (value: number) => {
      const grew = value > window;
      window = value;
      if (grew) stalled = false;
      // Not inside ssh2's packet handler: it goes on with the channel after setting the window.
      if (grew && waiter) queueMicrotask(wake);
    },
  });
  return {
    paced: true,
    get stalls() {
      return stalls;
    },
    // What the server has not given back, and what sits in the channel's own buffer.
    open: () => stalled || full - window + stream.writableLength < limit,
    wait(then) {
      waiter = then;
      clearTimeout(timer);
      timer = setTimeout(() => {
        stalled = true;
        stalls++;
        wake();
      }, stallMs);
    },
    stop() {
      clearTimeout(timer);
      waiter = undefined;
      // Once only: afterwards ssh2 keeps the plain number up to date, and `window` is stale.
      if (stopped) return;
      stopped = true;
      Object.defineProperty(outgoing, 'window', {
        configurable: true,
        enumerable: true,
        writable: true,
        value: window,
      });
    },
  };
}
