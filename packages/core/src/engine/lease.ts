/**
 * Keeping a lease: renewed in the background well before it runs out; a failed renewal (a full
 * disk, a database restarting) is retried until the lease would expire; it is lost for good
 * when the store says another holder took it (`LOCKED`) or when it expired unrenewed. The
 * holder is told once, through `signal`, and stops at its next host boundary — its appends are
 * fenced by the store anyway.
 */
import type { Lease, Store } from '../contracts/store.js';
import { isRingmasterError, RingmasterError } from '../errors.js';

export class LeaseKeeper {
  private lease: Lease;
  private timer: NodeJS.Timeout | undefined;
  private renewing: Promise<void> = Promise.resolve();
  private readonly lost = new AbortController();
  private stopped = false;

  constructor(
    private readonly store: Store,
    lease: Lease,
    private readonly ttlMs: number,
    private readonly onRenewError: (error: Error) => void = () => {},
  ) {
    this.lease = lease;
    // Renew at a third of the lease; retry after a failure at a tenth, so there are several
    // attempts before it runs out.
    this.schedule(ttlMs / 3);
  }

  /** The lease as last renewed. Its token is what fences the holder's appends. */
  get current(): Lease {
    return this.lease;
  }

  /** Aborted, with the `LOCKED` error saying why, once the lease is lost. */
  get signal(): AbortSignal {
    return this.lost.signal;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.renewing = this.renew();
    }, ms);
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    if (this.lost.signal.aborted) return;
    try {
      this.lease = await this.store.renew(this.lease, this.ttlMs);
      this.schedule(this.ttlMs / 3);
    } catch (error) {
      const reason = error instanceof Error ? error : new Error(String(error));
      if (isRingmasterError(error, 'LOCKED')) return this.lose(reason.message);
      this.onRenewError(reason);
      const left = this.lease.expiresAt - Date.now();
      if (left <= 0)
        return this.lose(
          `the lease ${this.lease.name} expired while it could not be renewed (last error: ${reason.message})`,
        );
      this.schedule(Math.min(this.ttlMs / 10, left));
    }
  }

  private lose(message: string): void {
    this.markLost(
      new RingmasterError('LOCKED', message, {
        scope: 'engine',
        details: { lock: this.lease.name, reason: 'lease lost' },
      }),
    );
  }

  /** The lease is known lost (the store refused an append fenced by it): stop now. */
  markLost(error: RingmasterError): void {
    if (!this.lost.signal.aborted) this.lost.abort(error);
  }

  /** Stops renewing (the holder is done, or is giving the lease back). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.renewing.catch(() => {});
  }
}
